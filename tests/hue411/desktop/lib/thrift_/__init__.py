"""Test-only stand-in for ``desktop.lib.thrift_``."""
