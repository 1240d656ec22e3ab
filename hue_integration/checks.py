"""Django system checks (``hue check``, and before every ``hue`` command): installed as hue.ini asks (an Error: hive-ha
is not doing its job), then per discovered service ZooKeeper reachable, namespace present, at least one endpoint
(Warnings: the state of the registry changes at run time and must never stop ``hue migrate`` or Hue's start-up; hive-ha
keeps watching and serves servers as they register). Silent when hive-ha is not switched on.

    hive_ha.E001  switched on in hue.ini, but not installed (a Hue function is not what hive-ha checked for)
    hive_ha.W001  ZooKeeper not reachable now: the last known registry is in use
    hive_ha.W002  a malformed registration was skipped
    hive_ha.W003  ZooKeeper unreachable and nothing known of the registry yet
    hive_ha.W004  the namespace znode does not exist
    hive_ha.W005  no endpoint available (none registered, all excluded, or no HA leader)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence

from django.core import checks

from hive_ha.errors import RegistryUnavailable
from hue_integration import install

if TYPE_CHECKING:  # pragma: no cover
    from django.apps import AppConfig

TAG = "hive_ha"
CHECK_TIMEOUT = 5.0  # seconds to wait for a first reading of the registry


def registry(app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: object) -> List[checks.CheckMessage]:
    messages: List[checks.CheckMessage] = [
        checks.Error(f"hive-ha is switched on in hue.ini but was not installed: {problem}", id="hive_ha.E001",
                     hint="Hue's own discovery is in use. hive-ha replaces Hue functions it checked first; another "
                          "plugin replaced them, or this Hue version differs from the ones hive-ha supports "
                          "(docs/hue.md).")
        for problem in install.problems()
    ]
    integration = install.active()
    if integration is None:
        return messages
    hosts = integration.discovery.settings.hosts
    for service in integration.services():
        try:
            snapshot = integration.discovery.snapshot(service, timeout=CHECK_TIMEOUT)
        except RegistryUnavailable as exc:
            messages.append(checks.Warning(
                f"ZooKeeper {hosts} unreachable for {service}: {exc}", id="hive_ha.W003",
                hint="Check [libzookeeper] ensemble, the network, and the [hive_ha] zookeeper_* auth/TLS keys."))
            continue
        if snapshot.stale:
            messages.append(checks.Warning(
                f"ZooKeeper {hosts} is not reachable now; {service} uses the last known registry",
                id="hive_ha.W001", hint="Check the ZooKeeper ensemble; failover needs it to see changes."))
        if not snapshot.exists:
            messages.append(checks.Warning(
                f"{service}: the znode {snapshot.path} does not exist in ZooKeeper {hosts}", id="hive_ha.W004",
                hint="Check hive_discovery_hiveserver2_znode / hive_discovery_llap_znode against "
                     "hive.server2.zookeeper.namespace, and that dynamic service discovery is on in Hive."))
        elif not snapshot.candidates:
            reason = snapshot.empty_reason() or "no server is registered"
            messages.append(checks.Warning(
                f"{service}: no endpoint available under {snapshot.path}: {reason}", id="hive_ha.W005",
                hint="Start a HiveServer2 (or make an HSI instance active) and check its registration."))
        for znode, why in snapshot.malformed:
            messages.append(checks.Warning(f"{service}: skipped malformed registration {znode}: {why}",
                                           id="hive_ha.W002"))
    return messages


def register() -> None:
    """Idempotent (Django keeps one registration per function)."""
    checks.register(TAG)(registry)
