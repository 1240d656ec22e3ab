"""Test-only stand-in for Hue's ``impala`` app (only the module the plugin patches)."""
