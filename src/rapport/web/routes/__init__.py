"""Web UI routes, one module per area."""
