"""Test-only stand-in for Hue's ``libzookeeper`` lib (desktop/libs/libzookeeper)."""
