"""Django system checks (``hue check``, and before every ``hue`` command): installed as hue.ini asks, then per
discovered service ZooKeeper reachable, namespace present, at least one endpoint. All are Warnings: Django stops
``hue migrate`` and Hue's start-up on an Error, and none of these is a reason for Hue not to run (when hive-ha is not
installed Hue keeps its own discovery; the registry changes at run time, and hive-ha keeps watching and serves servers
as they register). Silent when hive-ha is not switched on.

    hive_ha.W006  switched on in hue.ini, but not installed: a Hue internal hive-ha relies on is not as it expects
                  (``touchpoints``), one warning per mismatch
    hive_ha.W001  ZooKeeper not reachable now: the last known registry is in use
    hive_ha.W002  a registration was skipped: malformed, or its ACL denies reads
    hive_ha.W003  nothing known of the registry yet: ZooKeeper not connected (said at once), or no reading yet
    hive_ha.W004  the namespace znode does not exist
    hive_ha.W005  no endpoint available (none registered, all excluded, or no HA leader)
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, List, Optional, Sequence

from django.core import checks

from hive_ha.errors import RegistryUnavailable
from hue_integration import install

if TYPE_CHECKING:  # pragma: no cover
    from django.apps import AppConfig

    from hive_ha.core.discovery import Discovery
    from hive_ha.model.layouts import Service
    from hive_ha.model.snapshot import Snapshot

TAG = "hive_ha"
# Every hue command runs the checks (hue migrate, hue shell, Hue's start): they must not wait on ZooKeeper.
CONNECT_WAIT = 0.5  # seconds, all services together, for a connection (a reachable ZooKeeper answers in milliseconds)
READING_WAIT = 5.0  # seconds for a first reading once connected (it is under way: a few reads over a live session)
#: The ZooKeeper client's state (``Discovery.status()``) in words.
STATES = {"CONNECTED": "connected", "SUSPENDED": "connection lost, reconnecting", "LOST": "not connected",
          "NOT_STARTED": "no client started"}


def registry(app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: object) -> List[checks.CheckMessage]:
    messages: List[checks.CheckMessage] = [
        checks.Warning(f"hive-ha is switched on in hue.ini but switched itself off: {problem}", id="hive_ha.W006",
                       hint="Hue runs with its own discovery. hive-ha checks every Hue internal it relies on when Hue "
                            "starts; another plugin changed this one, or this Hue differs from the versions hive-ha "
                            "supports (docs/hue.md, Troubleshooting).")
        for problem in install.problems()
    ]
    integration = install.active()
    if integration is None:
        return messages
    discovery = integration.discovery
    hosts = discovery.settings.hosts
    started = time.monotonic()
    for service in integration.services():
        try:
            snapshot = _first_reading(discovery, service, started + CONNECT_WAIT)
        except RegistryUnavailable as exc:
            messages.append(checks.Warning(_nothing_known(discovery, service, exc, time.monotonic() - started),
                                           id="hive_ha.W003",
                                           hint="Check [libzookeeper] ensemble, the network, and the [hive_ha] "
                                                "zookeeper_* auth/TLS keys."))
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
            messages.append(checks.Warning(f"{service}: skipped the registration {znode}: {why}",
                                           id="hive_ha.W002"))
    return messages


def _first_reading(discovery: Discovery, service: Service, connect_deadline: float) -> Snapshot:
    """The snapshot, waiting for a connection until ``connect_deadline`` and, once connected, for the reading."""
    try:
        return discovery.snapshot(service, timeout=max(0.0, connect_deadline - time.monotonic()))
    except RegistryUnavailable:
        if _state(discovery) != "CONNECTED":
            raise
    return discovery.snapshot(service, timeout=READING_WAIT)


def _nothing_known(discovery: Discovery, service: Service, exc: RegistryUnavailable, waited: float) -> str:
    """What W003 says: the watcher's state as it is now, and how long this check waited for it."""
    hosts, state = discovery.settings.hosts, _state(discovery)
    if state == "CONNECTED":  # connected, yet the reading failed (an ACL, a ZooKeeper error): the watcher says why
        return f"connected to ZooKeeper {hosts}, but no reading of {service} yet: {exc}"
    return (f"ZooKeeper {hosts}: {STATES.get(state, state)} after this check waited {waited:.1f} s; nothing is "
            f"known of {service} yet. hive-ha keeps connecting in the background; until then queries to it fail")


def _state(discovery: Discovery) -> str:
    return discovery.status()["zookeeper"]["state"]  # a read of memory only


def register() -> None:
    """Idempotent (Django keeps one registration per function)."""
    checks.register(TAG)(registry)
