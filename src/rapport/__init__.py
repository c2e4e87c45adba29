"""Rapport: a self-hostable, AI-native CRM with a real-time customer data hub."""

__version__ = "0.1.0"
