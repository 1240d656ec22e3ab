"""The ``[hive_ha]`` section of hue.ini as Hue ``Config`` objects, so ``dump_config`` and ``set_for_testing`` work
(Hue's name: it binds an app's ``conf`` module to the section named by ``settings.CONFIG_KEY``).

One Config per key of ``hive_ha.core.config.KEYS``; values are read by ``hue_config`` and validated by hive_ha's own
parsers. Outside Hue (no ``desktop.lib.conf``) this module defines nothing.
"""
try:
    from desktop.lib.conf import Config
except ImportError:  # a plain Django project
    Config = None  # type: ignore[assignment,misc]

from hive_ha.core.config import KEYS

HIVE_HA_KEYS = tuple(key for section, key in KEYS if section == "hive_ha")

if Config is not None:
    for _key in HIVE_HA_KEYS:
        globals()[_key.upper()] = Config(
            key=_key, type=str, default=None,
            private=_key.endswith("password"),
            help=f"hive-ha: {_key} (see conf/hive_ha.ini.example)",
        )
    del _key
