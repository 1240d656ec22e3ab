"""``Discovery``: the public entry point tying settings, watchers and the endpoint cache together.

::

    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2"), user="alice")   # no I/O once warm
    ...connection to endpoint fails...
    endpoint = discovery.report_failure(Service.of("hs2"), endpoint, user="alice", evidence=Evidence.SLOW)

A failure report is evidence about one registration (``hive_ha.core.health``): a suspect server is avoided by new
lookups and probed by the prober until it answers (up again) or ``dead_after`` passes (dead); a refused connection
makes it dead at once. ``subscribe`` tells a consumer about every transition, once, outside every lock.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from typing import AbstractSet, Callable, Dict, List, Optional, Set, Union

from hive_ha.core.backoff import Backoff
from hive_ha.core.cache import DEAD_AFTER, EndpointCache, Key, Transition
from hive_ha.core.health import Evidence, Health, State
from hive_ha.core.prober import PROBE_INTERVAL, PROBE_TIMEOUT, Prober, ProbeFn
from hive_ha.core.selection import Policy, get_policy
from hive_ha.errors import DiscoveryClosed, DiscoveryError, RegistryUnavailable
from hive_ha.io.probe import tcp_probe
from hive_ha.io.watcher import RegistryWatcher
from hive_ha.io.zookeeper import POOL, ClientPool, ZkSettings
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

log = logging.getLogger(__name__)
_INSTANCES: "weakref.WeakSet[Discovery]" = weakref.WeakSet()


class Discovery:
    """Watches the services it is asked about and answers lookups from the cache.

    The first lookup of a service starts its watcher and waits up to ``settings.connect_timeout``
    for a first reading; later lookups (``endpoint`` and ``snapshot``) never wait on ZooKeeper. While ZooKeeper is
    unreachable the last known endpoints are served (their snapshot is marked stale). After ``close()`` lookups raise
    ``DiscoveryClosed``.

    ``probe`` is how the prober asks a server that is not up whether it answers (default: a TCP connect, which
    cannot see a paused server; ``hive_ha.connect`` and the Hue app pass a real Thrift round trip).

    Locks (docs/discovery.md, "Locks"): ``_lock`` guards the watcher table only. It is never held while
    another lock is taken or while anything blocks: the ZooKeeper client is created (SASL proof, ``kinit``)
    and the cache is called with it released. Subscribers are called with no lock held.
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
        clock: Callable[[], float] = time.monotonic,
        probe: Optional[ProbeFn] = None,
        dead_after: float = DEAD_AFTER,
        probe_interval: float = PROBE_INTERVAL,
        probe_timeout: float = PROBE_TIMEOUT,
        probe_workers: int = 4,
    ) -> None:
        self.settings = settings
        self._clock = clock  # the cache's and the prober's too: cache_timeout, dead_after, probe times, the budget
        self.leader_wait = leader_wait
        self.debounce = debounce
        self._pool = pool
        self.cache = EndpointCache(
            get_policy(policy) if isinstance(policy, str) else policy,
            cache_timeout=cache_timeout, dead_after=dead_after, clock=clock,
        )
        self.prober = Prober(probe or tcp_probe, self.cache.unhealthy, self._probed, interval=probe_interval,
                             timeout=probe_timeout, backoff=backoff, workers=probe_workers, clock=clock)
        self._subscribers: List[Callable[[Transition], None]] = []
        self._lock = threading.Lock()
        self._watchers: Dict[Service, RegistryWatcher] = {}
        self._starting: Set[Service] = set()  # a thread is creating the watcher (outside the lock)
        self._started: Dict[Service, float] = {}
        self._closed = False
        _INSTANCES.add(self)

    # -- lookups ---------------------------------------------------------------------------------
    def endpoint(self, service: Service, user: Optional[str] = None, *, skip: AbstractSet[Key] = frozenset()
                 ) -> Endpoint:
        """The endpoint to use for ``service`` (and ``user`` under the per_user policy).

        ``skip``: registrations (``Endpoint.key``) this caller cannot use; another endpoint is picked for
        this call when the current choice is one of them.
        """
        self._check_open()
        try:
            return self.cache.get(service, user, skip=skip)  # warm path: a dict lookup under one lock, no I/O
        except DiscoveryError:
            self.watch(service)
        try:
            return self.cache.get(service, user, wait=self._cold_wait(service), leader_wait=self.leader_wait,
                                  skip=skip)
        except RegistryUnavailable:
            raise RegistryUnavailable(self.settings.hosts, service.namespace, self._why_unreachable(service)) from None

    def snapshot(self, service: Service, timeout: Optional[float] = None) -> Snapshot:
        """The latest whole snapshot of ``service``. With nothing known yet it waits, like ``endpoint``, for what is
        left of the connect budget (spent once per watcher start: a later call fails at once), or ``timeout`` s."""
        self.watch(service)
        snap = self.cache.wait_snapshot(service, self._cold_wait(service) if timeout is None else timeout)
        if snap is None:
            raise RegistryUnavailable(self.settings.hosts, service.namespace, self._why_unreachable(service))
        return snap

    def report_failure(self, service: Service, endpoint: Endpoint, user: Optional[str] = None, *,
                       evidence: Evidence = Evidence.BROKEN, detail: str = "") -> Optional[Endpoint]:
        """Report what was seen of ``endpoint`` (that registration: address and znode) on a connection-level failure
        (by default an open connection that broke: suspect until a probe answers or finds it refused); returns the
        endpoint now current for ``user``."""
        return self.report(service, endpoint, evidence, user, detail)

    def report(self, service: Service, endpoint: Endpoint, evidence: Evidence, user: Optional[str] = None,
               detail: str = "", *, probed: bool = False) -> Optional[Endpoint]:
        """Evidence about ``endpoint`` (``hive_ha.core.health``), from a call or (``probed``) from a probe; returns the
        endpoint now current for ``user``. Subscribers hear of a transition before this returns, on this thread.

        A call that got no answer in time says more about the call than about the server while the server is up (a
        long-polled status, a slow compile): the prober asks the server at once, and its answer, or silence, decides.
        """
        if evidence is Evidence.SLOW and not probed and self.cache.health(service, endpoint).state is State.UP:
            self.check(service, endpoint)
            return self.cache.current(service, user)
        chosen, transitions = self.cache.report(service, endpoint, evidence, user, detail)
        self._announce(transitions)
        return chosen

    def health(self, service: Service, endpoint: Endpoint) -> Health:
        return self.cache.health(service, endpoint)

    def check(self, service: Service, endpoint: Endpoint) -> None:
        """Have the prober probe ``endpoint`` once, soon, off this thread (for callers that saw a failure they cannot
        attribute: the result is evidence like any other)."""
        self.prober.check(service, endpoint)

    def subscribe(self, subscriber: Callable[[Transition], None]) -> None:
        """``subscriber(transition)`` is called once per state transition of any registration, with no lock held, on
        the thread that saw the evidence (a request's, the prober's or a watcher's): it must be quick and must not
        raise (what it raises is logged)."""
        self._subscribers.append(subscriber)

    def _probed(self, service: Service, endpoint: Endpoint, evidence: Evidence, detail: str) -> None:
        self.report(service, endpoint, evidence, None, detail, probed=True)

    def _publish(self, snapshot: Snapshot) -> None:
        self._announce(self.cache.update(snapshot))

    def _announce(self, transitions: List[Transition]) -> None:
        for transition in transitions:
            level = logging.INFO if transition.after is State.UP else logging.WARNING
            log.log(level, "%s", transition.describe())
            if transition.moved:
                chosen = transition.chosen.address if transition.chosen else "(per user)" \
                    if self.cache.policy.per_user else "none"
                log.warning("hive-ha failover service=%s failed=%s state=%s evidence=%s chosen=%s generation=%d",
                            transition.service, transition.endpoint.address, transition.after,
                            transition.health.evidence, chosen, transition.generation)
            for subscriber in list(self._subscribers):
                try:
                    subscriber(transition)
                except Exception:  # noqa: BLE001 - a consumer's bug must not stop the evidence from flowing
                    log.exception("hive-ha: a subscriber failed on %s", transition.describe())
        if any(t.after is not State.UP for t in transitions):
            self.prober.wake()

    # -- watchers --------------------------------------------------------------------------------
    def watch(self, service: Service) -> None:
        """Start watching ``service`` (idempotent; restarts a watcher lost to a fork).

        May block while the shared ZooKeeper client is created (up to ``connect_timeout`` with SASL GSSAPI),
        holding no lock; concurrent callers return at once and wait on the cache instead.
        """
        with self._lock:
            self._check_open()
            watcher = self._watchers.get(service)
            if (watcher is not None and watcher.alive) or service in self._starting:
                return
            self._starting.add(service)
            first = service not in self._started
            if first:
                self._started[service] = self._clock()
        watcher = None
        try:
            if first:
                self.cache.register(service, self.settings.hosts, functools.partial(self._refresh, service))
            watcher = RegistryWatcher(
                self._pool.get(self.settings), service, self.settings.hosts,
                publish=self._publish,
                on_stale=functools.partial(self.cache.mark_stale, service),
                debounce=self.debounce,
            ).start()
        finally:
            with self._lock:
                self._starting.discard(service)
                keep = watcher is not None and not self._closed
                if keep:
                    self._watchers[service] = watcher  # type: ignore[assignment]
        if watcher is not None and not keep:
            watcher.stop()  # closed meanwhile

    def _refresh(self, service: Service) -> None:
        # Called by the cache, on a lookup's thread and without its lock, when a choice expired without a live
        # watch. The lookup is answered from the last known snapshot: never make it wait for ZooKeeper.
        with self._lock:
            watcher = self._watchers.get(service)
            if self._closed or service in self._starting:
                return
        if watcher is not None and watcher.alive:
            watcher.request_refresh()
            return
        threading.Thread(target=self._restart, args=(service,), name=f"hive-ha-restart {service}",
                         daemon=True).start()

    def _restart(self, service: Service) -> None:
        try:
            self.watch(service)
        except DiscoveryClosed:
            pass
        except Exception:  # noqa: BLE001 - the next expired lookup asks again; lookups go on meanwhile
            log.warning("hive-ha: restarting the watcher of %s failed", service, exc_info=True)

    def _cold_wait(self, service: Service) -> float:
        """What is left of the connect budget since the service's watcher started (0 once spent)."""
        started = self._started.get(service, self._clock())
        return max(0.0, self.settings.connect_timeout - (self._clock() - started))

    def _why_unreachable(self, service: Service) -> str:
        watcher = self._watchers.get(service)
        if watcher is not None and watcher.last_error:
            return watcher.last_error
        client = self._pool.peek(self.settings)
        if client is None:
            return "no ZooKeeper client (it could not be created)"
        client = self._pool.get(self.settings)  # an existing client: raises ZooKeeperAuthFailed if its login failed
        if not client.connected:
            return f"ZooKeeper unreachable: not connected within {self.settings.connect_timeout:g} s"
        return "no reading of the registry yet"

    def status(self) -> dict:
        """The cache, the reselection history and the ZooKeeper client's state (``NOT_STARTED`` before the first
        lookup): a read of memory only, it never creates a client (a metrics scrape calls it)."""
        client = self._pool.peek(self.settings)
        return {
            "zookeeper": {"hosts": self.settings.hosts, "state": str(client.state) if client else "NOT_STARTED"},
            "services": self.cache.status(),
            "failovers": [f.__dict__ for f in self.cache.failovers()],
            "probes": [r.__dict__ for r in self.prober.results()],
        }

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the watchers for good; lookups then raise ``DiscoveryClosed`` (the shared ZooKeeper client stays
        with the pool). Idempotent."""
        with self._lock:
            self._closed = True
            watchers, self._watchers = list(self._watchers.values()), {}
        for watcher in watchers:
            watcher.stop()
        self.prober.close()
        _INSTANCES.discard(self)

    def _check_open(self) -> None:
        if self._closed:
            raise DiscoveryClosed(self.settings.hosts)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._watchers = {}  # their threads did not survive the fork; restarted at once, below
        self._starting = set()
        self._started = {s: self._clock() for s in self._started}
        self.cache.reinit_after_fork()
        self.prober.after_fork_in_child()
        if self._started and not self._closed:
            # Not on the next lookup: a forked worker (gunicorn's) may serve its first call long after the fork, and
            # until its own watcher has read the registry it knows only what the parent had read when it forked: a
            # server that left since is still chosen, and a running query's server that registered since is "not
            # registered" to it. The lookups keep serving the inherited, stale reading until the fresh one is in.
            threading.Thread(target=self._resume, args=(list(self._started),), name="hive-ha-resume",
                             daemon=True).start()

    def _resume(self, services: List[Service]) -> None:
        for service in services:
            self._restart(service)


def _after_fork() -> None:
    for instance in list(_INSTANCES):
        instance._after_fork_in_child()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
