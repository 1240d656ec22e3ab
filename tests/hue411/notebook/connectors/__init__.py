"""Test-only stand-in for ``notebook.connectors``."""
