"""Fixtures shared by the suite, registered as plugins (no star imports)."""

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.api"]
