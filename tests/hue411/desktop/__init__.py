"""Test-only stand-in for Hue's ``desktop`` package (desktop/core/src/desktop)."""
