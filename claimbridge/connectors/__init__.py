"""Connectors: sources, agencies and payment feeds, registered through entry points."""
