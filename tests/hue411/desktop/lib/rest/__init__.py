"""Test-only stand-in for ``desktop.lib.rest``."""
