"""``Discovery``: the public entry point tying settings, watchers and the endpoint cache together.

::

    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2"), user="alice")   # no I/O once warm
    ...connection to endpoint fails...
    endpoint = discovery.report_failure(Service.of("hs2"), endpoint, user="alice")
"""
from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from typing import Dict, Optional, Union

from .cache import Backoff, EndpointCache
from .endpoint import Endpoint
from .errors import DiscoveryError, RegistryUnavailable
from .layouts import Service
from .selection import Policy, get_policy
from .snapshot import Snapshot
from .watcher import RegistryWatcher
from .zkclient import POOL, ClientPool, ZkSettings

_INSTANCES: "weakref.WeakSet[Discovery]" = weakref.WeakSet()


class Discovery:
    """Watches the services it is asked about and answers lookups from the cache.

    The first lookup of a service starts its watcher and waits up to ``settings.connect_timeout``
    for a first reading; later lookups never wait on ZooKeeper. While ZooKeeper is unreachable the
    last known endpoints are served (their snapshot is marked stale).
    """

    def __init__(
        self,
        settings: ZkSettings,
        *,
        policy: Union[str, Policy] = "oldest",
        cache_timeout: float = 60.0,
        backoff: Backoff = Backoff(),
        leader_wait: float = 5.0,
        debounce: float = 0.05,
        pool: ClientPool = POOL,
    ) -> None:
        self.settings = settings
        self.leader_wait = leader_wait
        self.debounce = debounce
        self._pool = pool
        self.cache = EndpointCache(
            get_policy(policy) if isinstance(policy, str) else policy,
            cache_timeout=cache_timeout, backoff=backoff,
        )
        self._lock = threading.Lock()
        self._watchers: Dict[Service, RegistryWatcher] = {}
        self._started: Dict[Service, float] = {}
        _INSTANCES.add(self)

    # -- lookups ---------------------------------------------------------------------------------
    def endpoint(self, service: Service, user: Optional[str] = None) -> Endpoint:
        """The endpoint to use for ``service`` (and ``user`` under the per_user policy)."""
        try:
            return self.cache.get(service, user)  # warm path: a dict lookup under one lock, no I/O
        except DiscoveryError:
            self.watch(service)
        try:
            return self.cache.get(service, user, wait=self._cold_wait(service), leader_wait=self.leader_wait)
        except RegistryUnavailable:
            raise RegistryUnavailable(self.settings.hosts, service.namespace, self._why_unreachable(service)) from None

    def endpoints(self, service: Service, timeout: Optional[float] = None) -> Snapshot:
        """The latest whole snapshot of ``service`` (waits for the first one up to ``timeout``)."""
        self.watch(service)
        snap = self.cache.wait_snapshot(service, self.settings.connect_timeout if timeout is None else timeout)
        if snap is None:
            raise RegistryUnavailable(self.settings.hosts, service.namespace, self._why_unreachable(service))
        return snap

    def report_failure(self, service: Service, endpoint: Endpoint, user: Optional[str] = None) -> Optional[Endpoint]:
        """Report that ``endpoint`` failed at connection level; returns the endpoint now current."""
        return self.cache.report_failure(service, endpoint, user)

    # -- watchers --------------------------------------------------------------------------------
    def watch(self, service: Service) -> None:
        """Start watching ``service`` (idempotent; restarts a watcher lost to a fork)."""
        with self._lock:
            watcher = self._watchers.get(service)
            if watcher is not None and watcher.alive:
                return
            if service not in self._started:
                self._started[service] = time.monotonic()
                self.cache.register(service, self.settings.hosts, functools.partial(self._refresh, service))
            watcher = RegistryWatcher(
                self._pool.get(self.settings), service, self.settings.hosts,
                publish=self.cache.update,
                on_stale=functools.partial(self.cache.mark_stale, service),
                debounce=self.debounce,
            )
            self._watchers[service] = watcher
            watcher.start()

    def _refresh(self, service: Service) -> None:
        # Called by the cache (its lock held) when a choice expired without a live watch.
        watcher = self._watchers.get(service)
        if watcher is not None and watcher.alive:
            watcher.request_refresh()
        else:
            self.watch(service)

    def _cold_wait(self, service: Service) -> float:
        """What is left of the connect budget since the service's watcher started (0 once spent)."""
        started = self._started.get(service, time.monotonic())
        return max(0.0, self.settings.connect_timeout - (time.monotonic() - started))

    def _why_unreachable(self, service: Service) -> str:
        watcher = self._watchers.get(service)
        if watcher is not None and watcher.last_error:
            return watcher.last_error
        if not self._pool.get(self.settings).connected:
            return f"ZooKeeper unreachable: not connected within {self.settings.connect_timeout:g} s"
        return "no reading of the registry yet"

    def status(self) -> dict:
        client = self._pool.get(self.settings)
        return {
            "zookeeper": {"hosts": self.settings.hosts, "state": str(client.state)},
            "services": self.cache.status(),
            "failovers": [f.__dict__ for f in self.cache.failovers()],
        }

    def close(self) -> None:
        with self._lock:
            watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher.stop()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._watchers = {}  # their threads did not survive the fork; restarted on next lookup
        self._started = {s: time.monotonic() for s in self._started}
        self.cache.reinit_after_fork()


def _after_fork() -> None:
    for instance in list(_INSTANCES):
        instance._after_fork_in_child()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
