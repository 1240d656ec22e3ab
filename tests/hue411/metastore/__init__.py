"""Test-only stand-in for Hue's ``metastore`` app (only the module the plugin patches)."""
