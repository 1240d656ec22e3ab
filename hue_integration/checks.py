"""Django system checks (``manage.py check``, ``hue check``): ZooKeeper reachable, namespace present, at
least one endpoint, per discovered service. Silent when hive-ha is not switched on."""
from __future__ import annotations

from typing import Any, List

from django.core import checks

from hive_ha.errors import RegistryUnavailable

from . import install

TAG = "hive_ha"
CHECK_TIMEOUT = 5.0  # seconds to wait for a first reading of the registry


def registry(app_configs: Any = None, **kwargs: Any) -> List[checks.CheckMessage]:
    integration = install.active()
    if integration is None:
        return []
    messages: List[checks.CheckMessage] = []
    hosts = integration.discovery.settings.hosts
    for service in integration.services():
        try:
            snapshot = integration.discovery.endpoints(service, timeout=CHECK_TIMEOUT)
        except RegistryUnavailable as exc:
            messages.append(checks.Error(
                f"ZooKeeper {hosts} unreachable for {service}: {exc}", id="hive_ha.E001",
                hint="Check [libzookeeper] ensemble, the network, and the [hive_ha] zookeeper_* auth/TLS keys."))
            continue
        if snapshot.stale:
            messages.append(checks.Warning(
                f"ZooKeeper {hosts} is not reachable now; {service} uses the last known registry",
                id="hive_ha.W001", hint="Check the ZooKeeper ensemble; failover needs it to see changes."))
        if not snapshot.exists:
            messages.append(checks.Error(
                f"{service}: the znode {snapshot.path} does not exist in ZooKeeper {hosts}", id="hive_ha.E002",
                hint="Check hive_discovery_hiveserver2_znode / hive_discovery_llap_znode against "
                     "hive.server2.zookeeper.namespace, and that dynamic service discovery is on in Hive."))
        elif not snapshot.candidates:
            reason = snapshot.empty_reason() or "no server is registered"
            messages.append(checks.Error(
                f"{service}: no endpoint available under {snapshot.path}: {reason}", id="hive_ha.E003",
                hint="Start a HiveServer2 (or make an HSI instance active) and check its registration."))
        for znode, why in snapshot.malformed:
            messages.append(checks.Warning(f"{service}: skipped malformed registration {znode}: {why}",
                                           id="hive_ha.W002"))
    return messages


def register() -> None:
    """Idempotent (Django keeps one registration per function)."""
    checks.register(registry, TAG)
