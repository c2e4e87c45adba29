"""Data-health and process-health figures."""
