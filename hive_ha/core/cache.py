"""The one endpoint cache, shared by the watchers (writers) and every lookup (readers).

One lock (a Condition over it, so cold lookups and HA leader changes can wait). Per service an
entry holding the latest snapshot, the chosen endpoint(s), a generation that counts reselections,
an expiry, and the registrations excluded after failures. Reads do no I/O.

The lock is a leaf: nothing is called while it is held, neither another lock nor a callback nor I/O.
The one callback (``refresh``, asking a watcher for a re-read) runs after it is released.
A registration is identified by ``(address, znode)`` (``Endpoint.key``): a server that restarted at
the same address registers a new znode, and reports about its old registration leave it alone.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import AbstractSet, Callable, Dict, List, Optional, Tuple

from hive_ha.core.backoff import Backoff
from hive_ha.core.selection import Oldest, Policy
from hive_ha.errors import NoEndpointAvailable, RegistryUnavailable
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

log = logging.getLogger(__name__)


Key = Tuple[str, str]  # (address, znode): one registration


@dataclasses.dataclass
class _Exclusion:
    until: float
    failures: int
    last_failure: float


@dataclasses.dataclass(frozen=True)
class Failover:
    """A reselection caused by a failure report (what the status view and the log line show)."""

    service: str
    failed: str
    chosen: Optional[str]
    generation: int
    at: float


class _Entry:
    __slots__ = ("snapshot", "chosen", "by_user", "generation", "expires_at", "exclusions", "refresh", "zk_hosts")

    def __init__(self) -> None:
        self.zk_hosts = "?"
        self.snapshot: Optional[Snapshot] = None
        self.chosen: Optional[Endpoint] = None
        self.by_user: Dict[str, Endpoint] = {}
        self.generation = 0
        self.expires_at = 0.0
        self.exclusions: Dict[Key, _Exclusion] = {}
        self.refresh: Optional[Callable[[], None]] = None


class EndpointCache:
    """Chosen endpoints per service, updated by watchers and by failure reports (compare-and-swap)."""

    def __init__(
        self,
        policy: Optional[Policy] = None,
        *,
        cache_timeout: float = 60.0,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
        history: int = 50,
    ) -> None:
        self.policy = policy or Oldest()
        self.cache_timeout = cache_timeout
        self.backoff = backoff
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._entries: Dict[Service, _Entry] = {}
        self._history: List[Failover] = []
        self._history_size = history
        self._failover_counts: Dict[str, int] = {}

    def reinit_after_fork(self) -> None:
        """A forked child may have inherited the lock held by a thread that no longer exists."""
        self._cond = threading.Condition(threading.Lock())
        for entry in self._entries.values():
            if entry.snapshot is not None:
                entry.snapshot = entry.snapshot.with_stale(True)
            entry.expires_at = 0.0  # the next lookup asks for a refresh, which restarts the watcher

    # -- fed by watchers ------------------------------------------------------------------------
    def register(self, service: Service, zk_hosts: str, refresh: Optional[Callable[[], None]] = None) -> None:
        """Make ``service`` known (idempotent); ``refresh`` asks its watcher for a re-read.

        ``refresh`` is called on a lookup's thread, without the cache's lock: it must not block.
        """
        with self._cond:
            entry = self._entries.setdefault(service, _Entry())
            entry.zk_hosts = zk_hosts
            entry.refresh = refresh

    def update(self, snapshot: Snapshot) -> None:
        """Install a new snapshot; keep choices that are still eligible, drop the rest."""
        with self._cond:
            entry = self._entries.setdefault(snapshot.service, _Entry())
            entry.snapshot = snapshot
            self._prune_exclusions(entry, snapshot)
            eligible = self._eligible(entry, self._clock())
            # Keep each choice while its server is registered (the same registration, or a new one at the same
            # address after a restart); refresh its fields from the new data.
            if entry.chosen is not None:
                entry.chosen = _same_server(entry.chosen, eligible)
                if entry.chosen is None:
                    entry.generation += 1  # the chosen server left the registry
            by_user = {u: _same_server(e, eligible) for u, e in entry.by_user.items()}
            entry.by_user = {u: e for u, e in by_user.items() if e is not None}
            entry.expires_at = self._clock() + self.cache_timeout
            self._cond.notify_all()

    def mark_stale(self, service: Service, stale: bool = True) -> None:
        with self._cond:
            entry = self._entries.get(service)
            if entry is not None and entry.snapshot is not None:
                entry.snapshot = entry.snapshot.with_stale(stale)

    # -- the hot path ---------------------------------------------------------------------------
    def get(self, service: Service, user: Optional[str] = None, wait: float = 0.0, leader_wait: float = 0.0, *,
            skip: AbstractSet[Key] = frozenset()) -> Endpoint:
        """The endpoint to use now.

        ``wait``: seconds to wait for a first snapshot. ``leader_wait``: seconds to wait, under HA,
        while instances are registered but none is active (a leader change). ``skip``: registrations
        (``Endpoint.key``) this caller cannot use; when the current choice is one of them another eligible
        endpoint is picked for this call only (the choice other callers share stays as it is).
        """
        with self._cond:
            entry = self._entries.get(service)
            if entry is not None:
                chosen = self._current(entry, user)
                if chosen is not None and self._clock() < entry.expires_at and chosen.key not in skip:
                    return chosen
            chosen, refresh = self._get_slow(service, user, wait, leader_wait, skip)
        if refresh is not None:
            refresh()  # outside the lock: it may start a watcher (see register)
        return chosen

    def _get_slow(self, service: Service, user: Optional[str], wait: float, leader_wait: float,
                  skip: AbstractSet[Key]) -> Tuple[Endpoint, Optional[Callable[[], None]]]:
        deadline = self._clock() + wait
        leader_deadline: Optional[float] = None
        while True:
            entry = self._entries.setdefault(service, _Entry())
            now = self._clock()
            snap = entry.snapshot
            if snap is None:
                remaining = deadline - now
            else:
                chosen = self._current(entry, user) or self._select(entry, user, now)
                if chosen is not None and chosen.key in skip:
                    chosen = self._pick(self._eligible(entry, now, skip), user)
                if chosen is not None:
                    return chosen, self._on_expired(entry, now) if now >= entry.expires_at else None
                if not snap.leader_pending:
                    raise self._unavailable(service, entry, now)
                if leader_deadline is None:
                    leader_deadline = now + leader_wait
                remaining = leader_deadline - now
            if remaining <= 0:
                raise self._unavailable(service, entry, now)
            self._cond.wait(remaining)

    def _on_expired(self, entry: _Entry, now: float) -> Optional[Callable[[], None]]:
        # A live watch keeps the snapshot current, so an expired choice is simply confirmed. Without a
        # live watch the choice is served as last known and the watcher is asked to re-read (by the
        # caller, once the lock is released).
        entry.expires_at = now + self.cache_timeout
        if entry.snapshot is not None and entry.snapshot.stale:
            return entry.refresh
        return None

    # -- failure reports ------------------------------------------------------------------------
    def report_failure(self, service: Service, endpoint: Endpoint, user: Optional[str] = None) -> Optional[Endpoint]:
        """Compare-and-swap on a connection-level failure of ``endpoint`` (one registration: address and znode).

        The first report excludes the registration (with backoff); only if it was the current choice is a
        new one made and the generation bumped. Reports of a registration already excluded are old news
        and change nothing, so concurrent reporters of one failure all get the same answer. A report about
        a registration that was replaced (the server restarted and registered anew) changes nothing either.
        Returns the endpoint now current for ``user``, or None when nothing is left.
        """
        with self._cond:
            entry = self._entries.setdefault(service, _Entry())
            now = self._clock()
            key = endpoint.key
            excl = entry.exclusions.get(key)
            if (excl is not None and excl.until > now) or self._replaced(entry, endpoint):
                return self._current(entry, user) or self._select(entry, user, now)
            self._exclude(entry, key, now)
            was_current = (entry.chosen is not None and entry.chosen.key == key) or any(
                e.key == key for e in entry.by_user.values())
            if not was_current:
                return self._current(entry, user) or self._select(entry, user, now)
            entry.generation += 1
            if entry.chosen is not None and entry.chosen.key == key:
                entry.chosen = None
            entry.by_user = {u: e for u, e in entry.by_user.items() if e.key != key}
            chosen = self._select(entry, user, now)
            address = endpoint.address
            record = Failover(str(service), address, chosen.address if chosen else None, entry.generation, time.time())
            self._history.append(record)
            del self._history[: -self._history_size]
            self._failover_counts[record.service] = self._failover_counts.get(record.service, 0) + 1
            log.warning(
                "hive-ha failover service=%s failed=%s chosen=%s generation=%d excluded_for=%.0fs",
                service, address, record.chosen or "none", entry.generation, entry.exclusions[key].until - now,
            )
            self._cond.notify_all()
            return chosen

    def _exclude(self, entry: _Entry, key: Key, now: float) -> None:
        old = entry.exclusions.get(key)
        failures = 1
        if old is not None and now - old.last_failure < self.backoff.maximum:
            failures = old.failures + 1
        entry.exclusions[key] = _Exclusion(now + self.backoff.duration(failures), failures, now)

    @staticmethod
    def _replaced(entry: _Entry, endpoint: Endpoint) -> bool:
        """The registry no longer holds ``endpoint``'s registration but holds another one at its address."""
        if entry.snapshot is None:
            return False
        here = [e for e in entry.snapshot.endpoints if e.address == endpoint.address]
        return bool(here) and all(e.znode != endpoint.znode for e in here)

    # -- helpers (lock held) ----------------------------------------------------------------------
    def _current(self, entry: _Entry, user: Optional[str]) -> Optional[Endpoint]:
        return entry.by_user.get(user or "") if self.policy.per_user else entry.chosen

    @staticmethod
    def _eligible(entry: _Entry, now: float, skip: AbstractSet[Key] = frozenset()) -> List[Endpoint]:
        return [
            e for e in entry.snapshot.candidates  # type: ignore[union-attr]
            if ((x := entry.exclusions.get(e.key)) is None or x.until <= now) and e.key not in skip
        ]

    def _pick(self, eligible: List[Endpoint], user: Optional[str]) -> Optional[Endpoint]:
        return self.policy.pick(eligible, user) if eligible else None

    def _select(self, entry: _Entry, user: Optional[str], now: float) -> Optional[Endpoint]:
        if entry.snapshot is None:
            return None
        chosen = self._pick(self._eligible(entry, now), user)
        if chosen is None:
            return None
        if self.policy.per_user:
            entry.by_user[user or ""] = chosen
        else:
            entry.chosen = chosen
        entry.expires_at = now + self.cache_timeout
        return chosen

    @staticmethod
    def _prune_exclusions(entry: _Entry, snapshot: Snapshot) -> None:
        # A registration that left the registry needs no exclusion (a server that registered anew at the
        # same address, after a restart, has proved it is back).
        registered = {e.key for e in snapshot.endpoints}
        for key in list(entry.exclusions):
            if key not in registered:
                del entry.exclusions[key]

    def _unavailable(self, service: Service, entry: _Entry, now: float) -> Exception:
        snap = entry.snapshot
        if snap is None:
            return RegistryUnavailable(entry.zk_hosts, service.namespace, "no reading of the registry yet")
        excluded: Dict[str, float] = {}
        for (address, _), x in entry.exclusions.items():
            if x.until > now:
                excluded[address] = max(x.until, excluded.get(address, 0.0))
        reason = snap.empty_reason()
        return NoEndpointAvailable(snap.zk_hosts, snap.path, snap.endpoints, excluded, reason, now=now)

    # -- read-only views ---------------------------------------------------------------------------
    def snapshot(self, service: Service) -> Optional[Snapshot]:
        with self._cond:
            entry = self._entries.get(service)
            return entry.snapshot if entry else None

    def wait_snapshot(self, service: Service, timeout: float) -> Optional[Snapshot]:
        """The service's snapshot, waiting up to ``timeout`` s for a first one (None if none came)."""
        with self._cond:
            self._cond.wait_for(lambda: (e := self._entries.get(service)) is not None and e.snapshot is not None,
                                timeout)
            entry = self._entries.get(service)
            return entry.snapshot if entry else None

    def available(self, service: Service, address: str) -> Optional[Endpoint]:
        """The endpoint at ``address`` if it is a candidate now and not excluded (where an operation
        that lives on one server must go back to), else None."""
        with self._cond:
            entry = self._entries.get(service)
            if entry is None or entry.snapshot is None:
                return None
            return next((e for e in self._eligible(entry, self._clock()) if e.address == address), None)

    def generation(self, service: Service) -> int:
        with self._cond:
            entry = self._entries.get(service)
            return entry.generation if entry else 0

    def failovers(self) -> List[Failover]:
        """The most recent reselections after failure reports (bounded)."""
        with self._cond:
            return list(self._history)

    def failover_counts(self) -> Dict[str, int]:
        """Reselections after failure reports since start, per service (a monotonic counter)."""
        with self._cond:
            return dict(self._failover_counts)

    def status(self) -> List[dict]:
        """A JSON-ready description of every entry (for the CLI and the Hue status view)."""
        out = []
        with self._cond:
            now = self._clock()
            for service, entry in self._entries.items():
                snap = entry.snapshot
                excluded: Dict[str, float] = {}
                for (address, _), x in entry.exclusions.items():
                    if x.until > now:
                        excluded[address] = max(round(x.until - now, 1), excluded.get(address, 0.0))
                out.append({
                    "service": str(service),
                    "path": snap.path if snap else service.namespace,
                    "stale": snap.stale if snap else True,
                    "generation": entry.generation,
                    "chosen": entry.chosen.address if entry.chosen else None,
                    "users": len(entry.by_user),
                    "endpoints": [e.as_dict() for e in snap.endpoints] if snap else [],
                    "malformed": [{"znode": z, "reason": r} for z, r in snap.malformed] if snap else [],
                    "excluded": excluded,
                })
        return out



def _same_server(endpoint: Endpoint, eligible: List[Endpoint]) -> Optional[Endpoint]:
    """``endpoint``'s registration among ``eligible``, else a registration at its address (it restarted), else None."""
    same = [e for e in eligible if e.address == endpoint.address]
    return next((e for e in same if e.znode == endpoint.znode), same[0] if same else None)
