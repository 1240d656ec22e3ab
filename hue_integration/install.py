"""Put hive-ha in place of Hue's discovery, all at once or not at all; ``uninstall()`` restores exactly what was there.

``install_if_enabled()`` is what ``AppConfig.ready()`` runs. When a target is missing or not Hue's own function
nothing is replaced: the problems are logged as errors and reported by the system check ``hive_ha.E001``.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import List, Optional, Tuple

from hive_ha.core.config import HiveHAConfig
from hive_ha.core.discovery import Discovery
from hue_integration import metrics, notebook_api, targets
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
    replaces nothing, when Hue's functions are not what hive-ha expects (see ``problems()``)."""
    global _active, _problems
    with _lock:
        if _active is not None and _active.config == config:
            return _active
        if _active is not None:
            _uninstall_locked()
        from django.conf import settings

        plan = targets.Plan(list(settings.INSTALLED_APPS))
        integration = None
        replacements: List[targets.Patch] = []
        if not plan.problems:
            integration = Integration(config, HueOriginals(**plan.originals), discovery)
            replacements += plan.replacements(integration.get_query_server_config, integration.get,
                                              integration.reset_ha)
            api_class = plan.notebook_api()
            if api_class is not None:
                replacements += notebook_api.replacements(api_class, integration, plan.problem)
            plan.thrift_client()  # checked only: hive-ha's client calls its send_X/recv_X (thrift_client)
            for patch in (plan.url_mount(), plan.log_setup(enable_loggers)):
                if patch is not None:
                    replacements.append(patch)
        if plan.problems or integration is None:
            if integration is not None:
                integration.close()
            elif discovery is not None:
                discovery.close()
            _refuse(plan.problems)
            return None
        _patches.apply(replacements)
        metrics.register(integration)
        _active, _problems = integration, ()
        log.info("hive-ha installed: %s", ", ".join(str(s) for s in integration.services()) or "no service")
        return integration


def _refuse(found: List[str]) -> None:
    global _problems
    _problems = tuple(found)
    for problem in found:
        log.error("hive-ha NOT installed, Hue's own discovery stays in place: %s", problem)


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
    from hue_integration import hue_settings

    if not hue_settings.running_in_hue():
        return None
    config = hue_settings.load()
    if config is None:
        log.debug("hive-ha: discovery not switched on in hue.ini; Hue's own code stays in place")
        return None
    return install(config)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it; the integration itself is fork-aware


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
