"""Everything hive-ha reads of Hue's configuration, read once when the app starts.

- ``hive_ha_config()``: hive-ha's own settings, one validated ``HiveHAConfig``. Inside Hue from Hue's ``Config``
  objects (so ``set_for_testing`` and Hue's conf-dir merging apply): ``[beeswax]`` and ``[libzookeeper]`` keys
  (``beeswax.conf``, ``libzookeeper.conf``), the ``[hive_ha]`` section (``hue_integration.conf``) and, in a Kerberized
  Hue, Hue's own login (``desktop.conf.KERBEROS``: whose ticket hive-ha uses). In a plain Django project:
  ``settings.HIVE_HA`` (sections as dicts) and/or ``settings.HIVE_HA_CONFIG_FILES``.
- ``query_server_settings()``: the Hue settings its query-server dicts are made of.

The other two settings modules are Hue's names: ``settings.py`` registers the app with Hue, ``conf.py`` declares the
``[hive_ha]`` section. A Hue setting object that is missing is read as unset here; ``touchpoints`` reports it.
"""
from __future__ import annotations

import importlib
from typing import Dict, Optional

from hive_ha.core.config import KEYS, HiveHAConfig, HueKerberos, from_sections, load_config
from hue_integration.query_server import QueryServerSettings


def running_in_hue() -> bool:
    try:
        importlib.import_module("desktop.lib.conf")
        importlib.import_module("beeswax.conf")
    except ImportError:
        return False
    return True


def hive_ha_config() -> Optional[HiveHAConfig]:
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
    from desktop import conf

    kerberos = getattr(conf, "KERBEROS", None)
    return HueKerberos.from_keys({key: _get(kerberos, key.upper())
                                  for key in ("hue_keytab", "hue_principal", "ccache_path")})


def query_server_settings() -> QueryServerSettings:
    """Hue's settings for its query-server dicts: fixed for the life of a process (hue.ini is read at start-up,
    hive-site.xml once), so they are read once and a lookup is a dictionary read."""
    from beeswax import conf, hive_site
    from beeswax.common import is_compute
    from desktop.conf import has_connectors

    return QueryServerSettings(
        auth_username=conf.AUTH_USERNAME.get(),
        auth_password=conf.AUTH_PASSWORD.get(),
        use_sasl=conf.USE_SASL.get(),
        close_sessions=conf.CLOSE_SESSIONS.get(),
        has_session_pool=conf.has_session_pool(),
        max_number_of_sessions=conf.MAX_NUMBER_OF_SESSIONS.get(),
        hive_site_principal=hive_site.get_conf().get(hive_site._CNF_HIVESERVER2_KERBEROS_PRINCIPAL) or None,
        transport_mode="http" if hive_site.hiveserver2_transport_mode() == "HTTP" else "socket",
        use_ssl=bool(hive_site.hiveserver2_use_ssl()),
        http_path=hive_site.hiveserver2_thrift_http_path() or "cliservice",
        has_connectors=bool(has_connectors()),
        is_compute=is_compute,
    )


def _hue_section(module_name: str, section: str) -> Dict[str, object]:
    """``{key: value}`` for our keys of ``section`` that are set in Hue."""
    module = importlib.import_module(module_name)
    values: Dict[str, object] = {}
    for sec, key in KEYS:
        value = _get(module, key.upper()) if sec == section else None
        if value is not None and value != "":
            values[key] = value
    return values


def _get(container: object, name: str) -> object:
    """The value of Hue's setting ``container.name``; None when Hue has no such setting (a touchpoint mismatch,
    reported at install) or it is unset."""
    try:
        config = getattr(container, name)
    except Exception:  # noqa: BLE001 - AttributeError, or a settings container's KeyError
        return None
    return config.get() if callable(getattr(config, "get", None)) else None


def _switched_on(config: HiveHAConfig) -> bool:
    return config.enabled and (config.discover_hive or config.discover_llap)
