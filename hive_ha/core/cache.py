"""The one endpoint cache, shared by the watchers (writers), the prober and every lookup (readers).

One lock (a Condition over it, so cold lookups and HA leader changes can wait). Per service an entry holding the latest
snapshot, the chosen endpoint(s), a generation that counts reselections, an expiry, the health of every registration
that is not up (``hive_ha.core.health``) and the detours taken while a choice is suspect. Reads do no I/O.

Only death (or leaving the registry) reselects: a suspect choice stays the choice, and new work takes a *detour* to an
up server until it answers again, so a server that was slow for a moment gets its users back instead of pushing its
load onto the next one for good.

The lock is a leaf: nothing is called while it is held, neither another lock nor a callback nor I/O, and nothing is
logged under it. Whatever must happen after a change (the log lines, the consumers' reset on a death) is returned to
the caller as ``Transition`` values and done once the lock is released. A registration is identified by
``(address, znode)`` (``Endpoint.key``): a server that restarted at the same address registers a new znode, and
evidence about its old registration leaves it alone.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import AbstractSet, Callable, Dict, List, Optional, Tuple

from hive_ha.core.health import UP, Evidence, Health, State, advance
from hive_ha.core.selection import Oldest, Policy
from hive_ha.errors import NoEndpointAvailable, RegistryUnavailable
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

Key = Tuple[str, str]  # (address, znode): one registration
#: Dead registrations that left the registry are remembered (so a query pinned to one is told it is lost, not sent
#: to whatever serves that address now) up to this many per service, oldest forgotten first.
GONE_REMEMBERED = 256
#: How long the default ``dead_after`` is: seconds of suspicion without one answer before a registration is dead.
DEAD_AFTER = 30.0


@dataclasses.dataclass(frozen=True)
class Transition:
    """A registration changed state. ``chosen`` is what the service's shared choice is afterwards (the per-user
    choices of the users placed on it are made again on their next lookup); ``moved`` is True when that choice left
    this registration (a failover)."""

    service: Service
    endpoint: Endpoint
    before: State
    health: Health
    chosen: Optional[Endpoint] = None
    moved: bool = False
    generation: int = 0

    @property
    def after(self) -> State:
        return self.health.state

    def describe(self) -> str:
        """The operator's log line."""
        line = (f"hive-ha server service={self.service} server={self.endpoint.address} {self.before}->{self.after} "
                f"evidence={self.health.evidence}")
        if self.health.detail:
            line += f" ({self.health.detail})"
        return line


@dataclasses.dataclass(frozen=True)
class Failover:
    """A reselection caused by a registration leaving ``up`` (what the status view and the log line show)."""

    service: str
    failed: str
    chosen: Optional[str]
    generation: int
    at: float
    state: str = "dead"
    evidence: str = ""


@dataclasses.dataclass
class _Record:
    endpoint: Endpoint
    health: Health
    registered: bool = True
    #: A newer registration took its address: its process is gone for good (only one can listen there), and
    #: whatever answers at that address now is the new one, which says nothing of this registration.
    superseded: bool = False


class _Entry:
    __slots__ = ("snapshot", "chosen", "by_user", "detours", "generation", "expires_at", "records", "refresh",
                 "zk_hosts")

    def __init__(self) -> None:
        self.zk_hosts = "?"
        self.snapshot: Optional[Snapshot] = None
        self.chosen: Optional[Endpoint] = None
        self.by_user: Dict[str, Endpoint] = {}
        self.detours: Dict[str, Endpoint] = {}  # user ("" for the shared choice) -> where work goes while it is late
        self.generation = 0
        self.expires_at = 0.0
        self.records: Dict[Key, _Record] = {}  # registrations that are not up (absent: up)
        self.refresh: Optional[Callable[[], None]] = None

    def health(self, key: Key) -> Health:
        record = self.records.get(key)
        return record.health if record is not None else UP


class EndpointCache:
    """Chosen endpoints per service, updated by watchers and by evidence about servers (compare-and-swap)."""

    def __init__(
        self,
        policy: Optional[Policy] = None,
        *,
        cache_timeout: float = 60.0,
        dead_after: float = DEAD_AFTER,
        clock: Callable[[], float] = time.monotonic,
        history: int = 50,
    ) -> None:
        self.policy = policy or Oldest()
        self.cache_timeout = cache_timeout
        self.dead_after = dead_after
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._entries: Dict[Service, _Entry] = {}
        self._history: List[Failover] = []
        self._history_size = history
        self._failover_counts: Dict[str, int] = {}
        self._transition_counts: Dict[Tuple[str, str, str], int] = {}

    def reinit_after_fork(self) -> None:
        """A forked child may have inherited the lock held by a thread that no longer exists. The choices are made
        again (a random policy must not hand every forked worker its parent's pick)."""
        self._cond = threading.Condition(threading.Lock())
        for entry in self._entries.values():
            if entry.snapshot is not None:
                entry.snapshot = entry.snapshot.with_stale(True)
            entry.chosen, entry.by_user, entry.detours = None, {}, {}
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

    def update(self, snapshot: Snapshot) -> List[Transition]:
        """Install a new snapshot; keep choices that are still eligible, drop the rest. Returns the transitions it
        caused: a suspect registration that left the registry is dead."""
        transitions: List[Transition] = []
        with self._cond:
            entry = self._entries.setdefault(snapshot.service, _Entry())
            entry.snapshot = snapshot
            now = self._clock()
            registered = {e.key for e in snapshot.endpoints}
            for key, record in list(entry.records.items()):
                if key in registered:
                    record.registered = True
                    continue
                if record.registered:
                    record.registered = False
                    transitions += self._apply(snapshot.service, entry, record.endpoint, Evidence.GONE, now,
                                               "its registration left ZooKeeper")
                if entry.records[key].health.state is State.UP:
                    del entry.records[key]
            transitions += self._supersede(snapshot.service, entry, snapshot, now)
            self._forget_gone(entry)
            # Keep each choice while its server is registered and not dead (the same registration, or a new one at
            # the same address after a restart); refresh its fields from the new data.
            eligible = self._usable(entry)
            if entry.chosen is not None:
                entry.chosen = _same_server(entry.chosen, eligible)
                if entry.chosen is None:
                    entry.generation += 1  # the chosen server left the registry
            by_user = {u: _same_server(e, eligible) for u, e in entry.by_user.items()}
            entry.by_user = {u: e for u, e in by_user.items() if e is not None}
            entry.detours = {u: e for u, e in entry.detours.items() if e in eligible}
            entry.expires_at = now + self.cache_timeout
            self._cond.notify_all()
        return transitions

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
                if (chosen is not None and self._clock() < entry.expires_at and chosen.key not in skip
                        and chosen.key not in entry.records):
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
                expired = now >= entry.expires_at  # before a selection renews it
                chosen = self._resolve(entry, user, now, skip)
                if chosen is not None:
                    return chosen, self._on_expired(entry, now) if expired else None
                if not snap.leader_pending:
                    raise self._unavailable(service, entry)
                if leader_deadline is None:
                    leader_deadline = now + leader_wait
                remaining = leader_deadline - now
            if remaining <= 0:
                raise self._unavailable(service, entry)
            self._cond.wait(remaining)

    def _on_expired(self, entry: _Entry, now: float) -> Optional[Callable[[], None]]:
        # A live watch keeps the snapshot current, so an expired choice is simply confirmed. Without a
        # live watch the choice is served as last known and the watcher is asked to re-read (by the
        # caller, once the lock is released).
        entry.expires_at = now + self.cache_timeout
        if entry.snapshot is not None and entry.snapshot.stale:
            return entry.refresh
        return None

    # -- evidence -------------------------------------------------------------------------------
    def report(self, service: Service, endpoint: Endpoint, evidence: Evidence, user: Optional[str] = None,
               detail: str = "") -> Tuple[Optional[Endpoint], List[Transition]]:
        """What was seen of ``endpoint`` (one registration: address and znode); compare-and-swap.

        The state changes only as ``hive_ha.core.health.advance`` says, so of many concurrent reports of one
        failure exactly one makes the transition; only if the registration was the current choice is a new one made
        and the generation bumped, and every reporter gets the same new choice. Evidence about a registration that
        was replaced (the server restarted and registered anew) changes nothing. Returns the endpoint now current for
        ``user`` (None when nothing is left) and the transition made, if any.
        """
        with self._cond:
            entry = self._entries.setdefault(service, _Entry())
            now = self._clock()
            transitions: List[Transition] = []
            if not self._replaced(entry, endpoint):
                transitions = self._apply(service, entry, endpoint, evidence, now, detail)
            chosen = self._resolve(entry, user, now) if entry.snapshot is not None else None
        return chosen, transitions

    def _apply(self, service: Service, entry: _Entry, endpoint: Endpoint, evidence: Evidence, now: float,
               detail: str, forced: Optional[Health] = None) -> List[Transition]:
        """Advance one registration's health (lock held), or set it to ``forced``; the transition made, if any."""
        key = endpoint.key
        record = entry.records.get(key)
        before = record.health if record is not None else UP
        after = forced or advance(before, evidence, now, self.dead_after, detail)
        if after is before:
            return []
        if after.state is State.UP:
            entry.records.pop(key, None)
        elif record is None:
            registered = entry.snapshot is None or any(e.key == key for e in entry.snapshot.endpoints)
            entry.records[key] = _Record(endpoint, after, registered)
        else:
            record.health = after
        if after.state is before.state:
            return []  # more of the same evidence (strikes counted)
        counted = (str(service), before.state.value, after.state.value)
        self._transition_counts[counted] = self._transition_counts.get(counted, 0) + 1
        moved = False
        chosen = entry.chosen
        if after.state is State.UP:
            primary = {u: e for u, e in entry.by_user.items()}
            primary[""] = entry.chosen  # type: ignore[assignment]
            entry.detours = {u: d for u, d in entry.detours.items() if (p := primary.get(u)) is None or p.key != key}
        elif after.state is State.DEAD:
            entry.detours = {u: d for u, d in entry.detours.items() if d.key != key}
            was_chosen = entry.chosen is not None and entry.chosen.key == key
            was_placed = any(e.key == key for e in entry.by_user.values())
            if was_chosen or was_placed:
                if was_chosen:
                    entry.chosen = None
                entry.by_user = {u: e for u, e in entry.by_user.items() if e.key != key}
                chosen = None if self.policy.per_user else self._select(entry, None, now)
                moved = True
            if moved:
                entry.generation += 1
                self._history.append(Failover(str(service), endpoint.address, chosen.address if chosen else None,
                                              entry.generation, time.time(), after.state.value,
                                              str(after.evidence or "")))
                del self._history[: -self._history_size]
                self._failover_counts[str(service)] = self._failover_counts.get(str(service), 0) + 1
                self._cond.notify_all()
        return [Transition(service, endpoint, before.state, after, chosen, moved, entry.generation)]

    def _supersede(self, service: Service, entry: _Entry, snapshot: Snapshot, now: float) -> List[Transition]:
        """Registrations with a newer one at the same address (a restart whose old znode lingers) are dead."""
        newest: Dict[str, Endpoint] = {}
        for endpoint in snapshot.endpoints:
            if endpoint.address not in newest or endpoint.age_key > newest[endpoint.address].age_key:
                newest[endpoint.address] = endpoint
        transitions: List[Transition] = []
        for endpoint in snapshot.endpoints:
            if newest[endpoint.address] is endpoint:
                continue
            record = entry.records.get(endpoint.key)
            if record is not None and record.superseded:
                continue
            detail = "a newer registration took its address"
            transitions += self._apply(service, entry, endpoint, Evidence.GONE, now, detail,
                                       forced=Health(State.DEAD, now, Evidence.GONE, detail, 1))
            entry.records[endpoint.key].superseded = True
        return transitions

    @staticmethod
    def _replaced(entry: _Entry, endpoint: Endpoint) -> bool:
        """``endpoint``'s registration was superseded, or the registry no longer holds it but holds another one at
        its address: what is seen at that address is of the new one."""
        record = entry.records.get(endpoint.key)
        if record is not None and record.superseded:
            return True
        if entry.snapshot is None:
            return False
        here = [e for e in entry.snapshot.endpoints if e.address == endpoint.address]
        return bool(here) and all(e.znode != endpoint.znode for e in here)

    @staticmethod
    def _forget_gone(entry: _Entry) -> None:
        gone = [k for k, r in entry.records.items() if not r.registered]
        for key in sorted(gone, key=lambda k: entry.records[k].health.since)[: max(0, len(gone) - GONE_REMEMBERED)]:
            del entry.records[key]

    # -- helpers (lock held) ----------------------------------------------------------------------
    def _current(self, entry: _Entry, user: Optional[str]) -> Optional[Endpoint]:
        return entry.by_user.get(user or "") if self.policy.per_user else entry.chosen

    def _resolve(self, entry: _Entry, user: Optional[str], now: float,
                 skip: AbstractSet[Key] = frozenset()) -> Optional[Endpoint]:
        """Where ``user``'s work goes now (lock held): the choice (made if there is none) while it is up; a detour to
        an up server while it is suspect (kept until it answers again); itself when nothing else is up."""
        chosen = self._current(entry, user) or self._select(entry, user, now)
        if chosen is None or (chosen.key not in entry.records and chosen.key not in skip):
            return chosen
        detour = entry.detours.get(user or "")
        up = self._eligible(entry, skip, up_only=True)
        if detour is None or detour not in up:
            detour = self._pick(up, user)
            if detour is not None and not skip:
                entry.detours[user or ""] = detour
        if detour is not None:
            return detour
        return chosen if chosen.key not in skip else self._pick(self._eligible(entry, skip), user)

    @staticmethod
    def _usable(entry: _Entry) -> List[Endpoint]:
        """The candidates that are not dead."""
        return [e for e in entry.snapshot.candidates  # type: ignore[union-attr]
                if entry.health(e.key).state is not State.DEAD]

    @staticmethod
    def _eligible(entry: _Entry, skip: AbstractSet[Key] = frozenset(), up_only: bool = False) -> List[Endpoint]:
        """The candidates that are up; when none is (and not ``up_only``), the suspect ones (late is better than
        nothing); never dead ones."""
        candidates = [e for e in entry.snapshot.candidates if e.key not in skip]  # type: ignore[union-attr]
        up = [e for e in candidates if e.key not in entry.records]
        if up or up_only:
            return up
        return [e for e in candidates if entry.health(e.key).state is State.SUSPECT]

    def _pick(self, eligible: List[Endpoint], user: Optional[str]) -> Optional[Endpoint]:
        return self.policy.pick(eligible, user) if eligible else None

    def _select(self, entry: _Entry, user: Optional[str], now: float) -> Optional[Endpoint]:
        if entry.snapshot is None:
            return None
        chosen = self._pick(self._eligible(entry), user)
        if chosen is None:
            return None
        if self.policy.per_user:
            entry.by_user[user or ""] = chosen
        else:
            entry.chosen = chosen
        entry.expires_at = now + self.cache_timeout
        return chosen

    def _unavailable(self, service: Service, entry: _Entry) -> Exception:
        snap = entry.snapshot
        if snap is None:
            return RegistryUnavailable(entry.zk_hosts, service.namespace, "no reading of the registry yet")
        unusable: Dict[str, str] = {}
        for record in entry.records.values():
            if record.registered and record.health.state is State.DEAD:
                unusable[record.endpoint.address] = _why(record.health)
        return NoEndpointAvailable(snap.zk_hosts, snap.path, snap.endpoints, unusable, snap.empty_reason())

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

    def current(self, service: Service, user: Optional[str] = None) -> Optional[Endpoint]:
        """Where ``user``'s work goes now, without waiting (None when nothing is known or usable)."""
        with self._cond:
            entry = self._entries.get(service)
            if entry is None or entry.snapshot is None:
                return None
            return self._resolve(entry, user, self._clock())

    def health(self, service: Service, endpoint: Endpoint) -> Health:
        with self._cond:
            entry = self._entries.get(service)
            return entry.health(endpoint.key) if entry is not None else UP

    def serving(self, service: Service, address: str, znode: Optional[str] = None
                ) -> Optional[Tuple[Endpoint, Health, bool]]:
        """Where an operation that lives on ``address`` (registration ``znode`` when known) must go back to:
        ``(endpoint, health, registered)``, or None when nothing is known of it. A registration that left the
        registry without dying is still returned (``registered`` False): a rolling restart drains its queries."""
        with self._cond:
            entry = self._entries.get(service)
            if entry is None or entry.snapshot is None:
                return None
            for endpoint in entry.snapshot.endpoints:
                if endpoint.address == address and znode in (None, endpoint.znode):
                    return endpoint, entry.health(endpoint.key), True
            gone = [r for r in entry.records.values() if r.endpoint.address == address
                    and znode in (None, r.endpoint.znode)]
            if gone:
                record = max(gone, key=lambda r: r.health.since)
                return record.endpoint, record.health, False
            return None

    def unhealthy(self) -> List[Tuple[Service, Endpoint, Health]]:
        """Every registration that is not up (what the prober probes)."""
        with self._cond:
            return [(service, r.endpoint, r.health) for service, entry in self._entries.items()
                    for r in entry.records.values() if not r.superseded]

    def generation(self, service: Service) -> int:
        with self._cond:
            entry = self._entries.get(service)
            return entry.generation if entry else 0

    def failovers(self) -> List[Failover]:
        """The most recent reselections after a registration left ``up`` (bounded)."""
        with self._cond:
            return list(self._history)

    def failover_counts(self) -> Dict[str, int]:
        """Reselections after a registration left ``up`` since start, per service (a monotonic counter)."""
        with self._cond:
            return dict(self._failover_counts)

    def transition_counts(self) -> Dict[Tuple[str, str, str], int]:
        """``(service, from, to)`` -> how many state transitions since start (a monotonic counter)."""
        with self._cond:
            return dict(self._transition_counts)

    def status(self) -> List[dict]:
        """A JSON-ready description of every entry (for the CLI and the Hue status view)."""
        out = []
        with self._cond:
            now = self._clock()
            for service, entry in self._entries.items():
                snap = entry.snapshot
                servers = []
                for endpoint in (snap.endpoints if snap else ()):
                    health = entry.health(endpoint.key)
                    servers.append(_server(endpoint, health, now, registered=True))
                servers += [_server(r.endpoint, r.health, now, registered=False)
                            for r in entry.records.values() if not r.registered]
                out.append({
                    "service": str(service),
                    "path": snap.path if snap else service.namespace,
                    "stale": snap.stale if snap else True,
                    "generation": entry.generation,
                    "chosen": entry.chosen.address if entry.chosen else None,
                    "detour": entry.detours[""].address if "" in entry.detours else None,
                    "users": len(entry.by_user),
                    "endpoints": [e.as_dict() for e in snap.endpoints] if snap else [],
                    "servers": servers,
                    "malformed": [{"znode": z, "reason": r} for z, r in snap.malformed] if snap else [],
                })
        return out


def _server(endpoint: Endpoint, health: Health, now: float, registered: bool) -> dict:
    return {"address": endpoint.address, "znode": endpoint.znode, "state": health.state.value,
            "for_seconds": round(now - health.since, 1) if health.state is not State.UP else None,
            "evidence": health.evidence.value if health.evidence else None, "detail": health.detail,
            "registered": registered}


def _why(health: Health) -> str:
    return f"{health.state}: {health.detail or health.evidence}"


def _same_server(endpoint: Endpoint, eligible: List[Endpoint]) -> Optional[Endpoint]:
    """``endpoint``'s registration among ``eligible``, else a registration at its address (it restarted), else None."""
    same = [e for e in eligible if e.address == endpoint.address]
    return next((e for e in same if e.znode == endpoint.znode), same[0] if same else None)
