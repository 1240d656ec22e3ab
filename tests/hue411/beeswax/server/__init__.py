"""Test-only stand-in for ``beeswax.server``."""
