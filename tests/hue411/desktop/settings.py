"""Stand-in for the one name of ``desktop/core/src/desktop/settings.py`` that dbms imports.

In Hue this module IS the Django settings module; here the settings live in ``hue_test_settings``, which uses
this key for its ``CACHES`` entry like Hue's settings do.
"""
CACHES_HIVE_DISCOVERY_KEY = 'hive_discovery'
