"""Read hive-ha's settings where Hue keeps them, into one validated ``HiveHAConfig``.

Inside Hue: ``beeswax.conf`` / ``libzookeeper.conf`` Config objects (so ``set_for_testing`` and Hue's
conf dir merging apply), our ``[hive_ha]`` section (``hue_integration.conf``) and, in a Kerberized Hue, Hue's own
login (``desktop.conf.KERBEROS``: whose ticket hive-ha uses). In a plain Django project: ``settings.HIVE_HA``
(sections as dicts) and/or ``settings.HIVE_HA_CONFIG_FILES``.
"""
from __future__ import annotations

import importlib
from typing import Dict, Optional

from hive_ha.core.config import KEYS, HiveHAConfig, HueKerberos, from_sections, load_config


def _hue_section(module_name: str, section: str) -> Dict[str, object]:
    """``{key: value}`` for our keys of ``section`` that the Hue module defines and that are set."""
    module = importlib.import_module(module_name)
    values: Dict[str, object] = {}
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


def load() -> Optional[HiveHAConfig]:
    """The validated settings, or None when discovery is not switched on (then ``[libzookeeper]`` is not read at
    all: its ``ensemble`` default guesses from other apps and logs warnings)."""
    if running_in_hue():
        sections = {
            "beeswax": _hue_section("beeswax.conf", "beeswax"),
            "hive_ha": _hue_section("hue_integration.conf", "hive_ha"),
        }
        if not _switched_on(from_sections(sections)):
            return None
        sections["libzookeeper"] = _hue_section("libzookeeper.conf", "libzookeeper")
        return from_sections(sections, hue_kerberos())
    from django.conf import settings

    sources = list(getattr(settings, "HIVE_HA_CONFIG_FILES", []))
    configured = getattr(settings, "HIVE_HA", None)
    if configured:
        sources.append(configured)
    config = load_config(sources)
    return config if _switched_on(config) else None


def hue_kerberos() -> Optional[HueKerberos]:
    """Hue's own Kerberos login (``[desktop] [[kerberos]]``), or None when Hue is not Kerberized (no ``hue_keytab``).
    Hue's ``desktop/settings.py`` exports its ``ccache_path`` as ``KRB5CCNAME`` at start-up, and ``hue kt_renewer``
    (its own process) keeps that cache fresh."""
    from desktop.conf import KERBEROS

    return HueKerberos.from_keys({"hue_keytab": KERBEROS.HUE_KEYTAB.get(),
                                  "hue_principal": KERBEROS.HUE_PRINCIPAL.get(),
                                  "ccache_path": KERBEROS.CCACHE_PATH.get()})


def _switched_on(config: HiveHAConfig) -> bool:
    return config.enabled and (config.discover_hive or config.discover_llap)
