"""Put hive-ha in place of Hue's discovery, all at once or not at all; ``uninstall()`` restores exactly what was there.

``install_if_enabled()`` is what ``AppConfig.ready()`` runs. Every Hue internal hive-ha relies on is checked first
(``touchpoints``). On any mismatch hive-ha switches itself off: nothing is replaced, Hue keeps its own discovery and
keeps starting, one ERROR line is logged and the system check ``hive_ha.W006`` names each mismatch.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import List, Optional, Sequence, Tuple

from hive_ha.core.config import HiveHAConfig
from hive_ha.core.discovery import Discovery
from hive_ha.errors import ConfigError
from hue_integration import metrics, notebook_api, targets, touchpoints
from hue_integration.integration import HueOriginals, Integration
from hue_integration.logs import enable_loggers

log = logging.getLogger(__name__)

_lock = threading.Lock()
_active: Optional[Integration] = None
_patches = targets.Patches()
_problems: Tuple[str, ...] = ()


def active() -> Optional[Integration]:
    return _active


def problems() -> Tuple[str, ...]:
    """Why the last install did not happen (empty when it did, or when none was asked for)."""
    return _problems


def install(config: HiveHAConfig, discovery: Optional[Discovery] = None) -> Optional[Integration]:
    """Install (idempotent for the same config; a different config replaces the installed one). Returns None, and
    replaces nothing, when Hue is not what hive-ha expects (see ``problems()``)."""
    global _active, _problems
    with _lock:
        if _active is not None and _active.config == config:
            return _active
        if _active is not None:
            _uninstall_locked()
        from django.conf import settings

        apps = list(settings.INSTALLED_APPS)
        found = touchpoints.check(apps)
        if found:
            if discovery is not None:
                discovery.close()
            _refuse(found)
            return None
        integration: Optional[Integration] = None
        try:
            integration = Integration(config, HueOriginals.of(targets.DBMS), discovery)
            patches: List[targets.Patch] = targets.replacements(integration, enable_loggers)
            if "notebook" in apps:
                patches += notebook_api.replacements(targets.editor_api(), integration)
            _patches.apply(patches)  # all or none
        except Exception as exc:
            if integration is not None:
                integration.close()
            elif discovery is not None:
                discovery.close()
            if isinstance(exc, ConfigError):
                raise  # a bad hue.ini value stops Hue's start-up, naming the key (apps.py)
            _refuse([f"installing failed ({type(exc).__name__}: {exc}) [Hue {touchpoints.hue_version()}]"],
                    exc_info=True)  # whatever went wrong, Hue keeps its own code and keeps starting
            return None
        metrics.register(integration)
        _active, _problems = integration, ()
        log.info("hive-ha installed: %s", ", ".join(str(s) for s in integration.services()) or "no service")
        return integration


def _refuse(found: Sequence[str], exc_info: bool = False) -> None:
    global _problems
    _problems = tuple(found)
    log.error("hive-ha NOT installed, Hue's own discovery stays in place: %s", "; ".join(found), exc_info=exc_info)


def uninstall() -> None:
    """Restore Hue's functions everywhere they were replaced and stop watching."""
    global _problems
    with _lock:
        _uninstall_locked()
        _problems = ()


def _uninstall_locked() -> None:
    global _active
    _patches.undo()
    metrics.unregister()
    if _active is not None:
        _active.close()
    _active = None


def install_if_enabled() -> Optional[Integration]:
    """What ``AppConfig.ready()`` runs: install only when hue.ini switches discovery on."""
    from hue_integration import hue_config

    if not hue_config.running_in_hue():
        return None
    config = hue_config.hive_ha_config()
    if config is None:
        log.debug("hive-ha: discovery not switched on in hue.ini; Hue's own code stays in place")
        return None
    return install(config)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it; the integration itself is fork-aware


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
