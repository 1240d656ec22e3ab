"""Active health checks, off the request path: one scheduler thread per ``Discovery`` and a few probe threads.

Every registration that is not up is probed (``probe(endpoint, timeout)``: it returns when the server answered and
raises otherwise) and what was found is reported as evidence (``hive_ha.core.health``): an answer brings the server
back at once; a refused connection makes it dead; silence keeps it suspect until ``dead_after``. A suspect server is
probed every ``interval`` seconds, a dead one after ``backoff`` (doubling while it stays dead: its znode may linger
for the whole session timeout of a killed server). ``check`` probes one server once, now (Hue's ``reset_ha`` names
no server: the current choices are checked).

Threads start on first need and again after a fork (threads do not survive one). Nothing here holds a lock while
probing or reporting; ``close`` is bounded.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from typing import Callable, Dict, List, Optional, Set, Tuple

from hive_ha.core.backoff import Backoff
from hive_ha.core.failover import evidence_of
from hive_ha.core.health import Evidence, Health, State
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.redact import scrub

log = logging.getLogger(__name__)

ProbeFn = Callable[[Endpoint, float], None]
Targets = Callable[[], List[Tuple[Service, Endpoint, Health]]]
Report = Callable[[Service, Endpoint, Evidence, str], None]
Key = Tuple[str, Tuple[str, str]]  # (service, Endpoint.key)

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 5.0
WORKERS = 4


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """The last probe of one registration (for the status view and the metrics)."""

    service: str
    address: str
    znode: str
    evidence: Optional[str]  # None: the probe failed on this side (no evidence about the server)
    seconds: float
    detail: str
    at: float  # wall clock


class Prober:
    def __init__(self, probe: ProbeFn, targets: Targets, report: Report, *, interval: float = PROBE_INTERVAL,
                 timeout: float = PROBE_TIMEOUT, backoff: Backoff = Backoff(), workers: int = WORKERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._probe, self._targets, self._report = probe, targets, report
        self.interval, self.timeout, self.backoff = interval, timeout, backoff
        self._workers = workers
        self._clock = clock
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()  # guards the tables below; a leaf, held for dictionary work only
        self._settled = threading.Condition(self._lock)  # notified when no probe is asked for or under way
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._jobs: "queue.Queue[Optional[Tuple[Service, Endpoint]]]" = queue.Queue()
        self._next: Dict[Key, float] = {}
        self._inflight: Set[Key] = set()
        self._checks: List[Tuple[Service, Endpoint]] = []
        self._results: Dict[Key, ProbeResult] = {}
        self._totals: Dict[str, Tuple[int, float]] = {}  # service -> (probes, seconds)
        self._threads: List[threading.Thread] = []
        self._pid = os.getpid()

    # -- what the rest of the process calls ------------------------------------------------------
    def wake(self) -> None:
        """Something may need probing now (a registration left ``up``)."""
        self._ensure_started()
        self._wake.set()

    def check(self, service: Service, endpoint: Endpoint) -> None:
        """Probe ``endpoint`` once, soon, whatever its state (a probe already queued for it is enough)."""
        with self._lock:
            self._checks.append((service, endpoint))
        self.wake()

    def idle(self, timeout: float) -> bool:
        """Wait until no probe is asked for or under way (for tests and shutdown); True if so within ``timeout``."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._inflight and not self._checks, timeout)

    def results(self) -> List[ProbeResult]:
        with self._lock:
            return list(self._results.values())

    def totals(self) -> Dict[str, Tuple[int, float]]:
        """service -> (probes made, seconds spent probing) since start."""
        with self._lock:
            return dict(self._totals)

    def close(self, timeout: float = PROBE_TIMEOUT + 1.0) -> None:
        """Stop; waits up to ``timeout`` for a probe under way (each is bounded by the probe timeout)."""
        self._closed.set()
        self._wake.set()
        threads = self._threads if self._pid == os.getpid() else []
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def after_fork_in_child(self) -> None:
        """The parent's threads and locks are not ours: start afresh (on the next ``wake``)."""
        if not self._closed.is_set():
            self._init_runtime()

    # -- scheduling -------------------------------------------------------------------------------
    def tick(self) -> float:
        """One round: hand every due probe to the workers; returns the seconds until the next is due."""
        now = self._clock()
        targets = {(str(s), e.key): (s, e, h) for s, e, h in self._targets()}
        due: List[Tuple[Service, Endpoint]] = []
        with self._lock:
            checks, self._checks = self._checks, []
            for key in [k for k in self._next if k not in targets]:
                del self._next[key]  # up again, or forgotten
            for key, (service, endpoint, health) in targets.items():
                if key not in self._inflight and self._next.setdefault(key, now) <= now:
                    due.append((service, endpoint))
            for service, endpoint in checks:
                key = (str(service), endpoint.key)
                if key not in self._inflight and (service, endpoint) not in due:
                    due.append((service, endpoint))
            for service, endpoint in due:
                self._inflight.add((str(service), endpoint.key))
            pending = [t for k, t in self._next.items() if k not in self._inflight]
        for job in due:
            self._submit(job)
        return max(0.0, min(pending) - now) if pending else self.interval

    def _submit(self, job: Tuple[Service, Endpoint]) -> None:
        if self._workers <= 0:
            self._run_probe(*job)  # inline (tests drive tick() with a fake clock)
        else:
            self._jobs.put(job)

    def _run_probe(self, service: Service, endpoint: Endpoint) -> None:
        key = (str(service), endpoint.key)
        started = time.monotonic()
        evidence: Optional[Evidence]
        try:
            self._probe(endpoint, self.timeout)
            evidence, detail = Evidence.ANSWERED, ""
        except Exception as exc:  # noqa: BLE001 - every failure of a probe is a finding, never the thread's end
            evidence = evidence_of(exc)
            detail = scrub(f"probe: {type(exc).__name__}: {exc}")[:300]
            if evidence is None:
                log.warning("hive-ha: the probe of %s failed on this side (no evidence about the server): %s",
                            endpoint.address, detail)
        seconds = time.monotonic() - started
        if evidence is not None:
            try:
                self._report(service, endpoint, evidence, detail)
            except Exception:  # noqa: BLE001
                log.exception("hive-ha: reporting the probe of %s failed", endpoint.address)
        health = next((h for s, e, h in self._targets() if str(s) == key[0] and e.key == key[1]), None)
        with self._lock:
            self._inflight.discard(key)
            self._results[key] = ProbeResult(str(service), endpoint.address, endpoint.znode,
                                             evidence.value if evidence else None, seconds, detail, time.time())
            probes, spent = self._totals.get(str(service), (0, 0.0))
            self._totals[str(service)] = (probes + 1, spent + seconds)
            if health is not None:
                self._next[key] = self._clock() + self._delay(health)
            if not self._inflight and not self._checks:
                self._settled.notify_all()
        self._wake.set()

    def _delay(self, health: Health) -> float:
        if health.state is State.DEAD:
            return self.backoff.duration(health.strikes)
        return self.interval

    # -- threads ---------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._closed.is_set() or self._workers <= 0:
            return  # no workers: the owner drives tick() (tests, on a fake clock)
        with self._lock:
            if self._pid != os.getpid():
                return  # a fork happened and after_fork_in_child has not run: never start threads with this state
            if self._threads:
                return
            threads = [threading.Thread(target=self._schedule, name="hive-ha prober", daemon=True)]
            threads += [threading.Thread(target=self._work, name=f"hive-ha probe {n}", daemon=True)
                        for n in range(self._workers)]
            self._threads = threads
        for thread in threads:
            thread.start()

    def _schedule(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()  # before the round: a wake-up during it is not lost
            try:
                delay = self.tick()
            except Exception:  # noqa: BLE001 - the scheduler must outlive any bug of a round
                log.exception("hive-ha: a prober round failed")
                delay = self.interval
            self._wake.wait(max(0.01, min(delay, self.interval)))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed.is_set():
                return
            try:
                self._run_probe(*job)
            except Exception:  # noqa: BLE001
                log.exception("hive-ha: a probe failed")
