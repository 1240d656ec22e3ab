"""Read hive-ha's settings where Hue keeps them, into one validated ``HiveHAConfig``.

Inside Hue: ``beeswax.conf`` / ``libzookeeper.conf`` Config objects (so ``set_for_testing`` and Hue's
conf dir merging apply) plus our ``[hive_ha]`` section (``hue_integration.conf``). In a plain Django
project: ``settings.HIVE_HA`` (sections as dicts) and/or ``settings.HIVE_HA_CONFIG_FILES``.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict

from hive_ha.config import KEYS, HiveHAConfig, from_sections, load_config


def _hue_section(module_name: str, section: str) -> Dict[str, Any]:
    """``{key: value}`` for our keys of ``section`` that the Hue module defines and that are set."""
    module = importlib.import_module(module_name)
    values = {}
    for sec, key in KEYS:
        config = getattr(module, key.upper(), None) if sec == section else None
        if config is not None:
            value = config.get()
            if value is not None and value != "":
                values[key] = value
    return values


def running_in_hue() -> bool:
    try:
        importlib.import_module("desktop.lib.conf")
        importlib.import_module("beeswax.conf")
    except ImportError:
        return False
    return True


def load() -> HiveHAConfig:
    if running_in_hue():
        return from_sections({
            "beeswax": _hue_section("beeswax.conf", "beeswax"),
            "libzookeeper": _hue_section("libzookeeper.conf", "libzookeeper"),
            "hive_ha": _hue_section("hue_integration.conf", "hive_ha"),
        })
    from django.conf import settings

    sources = list(getattr(settings, "HIVE_HA_CONFIG_FILES", []))
    if getattr(settings, "HIVE_HA", None):
        sources.append(settings.HIVE_HA)
    return load_config(sources)
