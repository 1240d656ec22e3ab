"""hive-ha for Hue: replaces Hue's HiveServer2/LLAP discovery and resets clients on Thrift failure.

Registered with Hue through the ``desktop.sdk.application`` entry point (see ``settings``). Does
nothing until switched on in hue.ini (``[beeswax] hive_discovery_hs2`` / ``hive_discovery_llap``
and ``[hive_ha] enabled``). Also usable from a plain Django project: add ``hue_integration`` to
INSTALLED_APPS and give the settings as ``HIVE_HA = {"beeswax": {...}, "libzookeeper": {...},
"hive_ha": {...}}`` or ``HIVE_HA_CONFIG_FILES = [...]``.
"""
