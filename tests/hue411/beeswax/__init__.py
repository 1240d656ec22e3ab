"""Test-only stand-in for Hue's ``beeswax`` app (apps/beeswax): a Django app (models ``Session``, ``QueryHistory``)."""
