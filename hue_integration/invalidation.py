"""Marking a dead registration's ``Session`` rows invalid, outside the request that saw it die.

The request hands the endpoint over and goes on with its retry at once. One thread per Hue process does the database
work on its own connection (Django gives each thread its own; it is closed after every attempt), in autocommit, in
short transactions that never wait on a row lock (``sessions.invalidate``). So the request's own transaction
(``ATOMIC_REQUESTS``) holds no lock of ours across its Thrift calls, and concurrent failing requests never queue
behind each other's row locks. Each registration (``Endpoint.key``) is done once, however many requests report it.
Rows a request holds are skipped and done later; when the database is unavailable the work is retried later too,
with backoff, a bounded number of times; the request is never failed for it.

sqlite has no row locks: one writer locks the whole database, and a second connection writing while the request's
transaction (which has read) wants to write fails that request at once with "database is locked". There the rows are
marked in a request's own transaction, in a savepoint whose failure is logged and leaves the request alone: in the
request that saw the death, or, when it was seen off any request (by the prober, a watcher), in the next editor
request of the process (``run_deferred``).

The thread is started on first use and again in a forked child (Hue's gunicorn forks its workers; a thread does not
survive a fork, and the parent finishes what it had queued). ``close(timeout)`` stops it, waiting at most that long.
"""
from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from typing import Callable, Dict, List, Optional, Tuple

from hive_ha.core.backoff import Backoff
from hive_ha.model.endpoint import Endpoint
from hue_integration import sessions

log = logging.getLogger(__name__)

#: Waits between attempts when the database fails or rows are held: 0.5 s doubling to 30 s, 12 attempts in all
#: (about 3 minutes), then the registration is given up (logged; a later report of it starts again).
RETRY = Backoff(base=0.5, maximum=30.0)
ATTEMPTS = 12
#: Registrations remembered as done (the oldest are forgotten first).
REMEMBERED = 1024

Key = Tuple[str, str]


@dataclasses.dataclass
class _Job:
    endpoint: Endpoint
    attempts: int = 0


@dataclasses.dataclass(frozen=True)
class Pending:
    """A registration whose rows are still to be marked, and the attempts that failed so far."""

    address: str
    registration: str
    attempts: int


class Invalidator:
    """Hand-over point for dead registrations: ``submit(endpoint)`` never waits for the database (except on sqlite,
    see the module)."""

    def __init__(self, invalidate: Optional[Callable[[Endpoint], sessions.Invalidated]] = None,
                 retry: Backoff = RETRY, attempts: int = ATTEMPTS, remembered: int = REMEMBERED,
                 inline: Optional[bool] = None) -> None:
        self._invalidate = invalidate or (lambda endpoint: sessions.invalidate(endpoint))
        self._retry, self._attempts, self._remembered = retry, attempts, remembered
        self._inline = inline
        self._done: "collections.OrderedDict[Key, None]" = collections.OrderedDict()
        self._fresh_state()
        _instances.add(self)

    def _fresh_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._jobs: Dict[Key, _Job] = {}  # queued or running
        self._due: List[Tuple[float, int, Key]] = []  # heap: when each queued job may run
        self._order = itertools.count()
        self._thread: Optional[threading.Thread] = None
        self._running: Optional[Key] = None
        self._closed = False
        self._deferred: Dict[Key, Endpoint] = {}  # sqlite: seen off any request, marked in the next one

    # -- the hand-over -------------------------------------------------------------------------------------------------
    def submit(self, endpoint: Endpoint, in_request: bool = True) -> bool:
        """Have ``endpoint``'s open rows marked invalid; False when its registration is already done or queued.
        ``in_request``: the caller serves a request (on sqlite the rows are marked in its transaction, else in the
        next request's)."""
        if self._is_inline():
            if not in_request:
                with self._cond:
                    self._deferred[endpoint.key] = endpoint
                return True
            return self._run_inline(endpoint)
        key = endpoint.key
        with self._cond:
            if self._closed or key in self._jobs or key in self._done:
                return False
            self._jobs[key] = _Job(endpoint)
            heapq.heappush(self._due, (time.monotonic(), next(self._order), key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hive-ha session invalidation", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def run_deferred(self) -> None:
        """sqlite: mark, in the calling request's transaction, what was handed over off any request."""
        if not self._deferred:  # a dictionary read: the common case costs nothing
            return
        with self._cond:
            deferred, self._deferred = list(self._deferred.values()), {}
        for endpoint in deferred:
            self._run_inline(endpoint)

    def pending(self) -> List[Pending]:
        """The registrations queued or being done."""
        with self._cond:
            return [Pending(job.endpoint.address, job.endpoint.znode, job.attempts) for job in self._jobs.values()]

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running (tests, shutdown); True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking work and stop the thread, waiting at most ``timeout`` s for the registration being done;
        queued ones are dropped (logged). True when the thread has ended."""
        with self._cond:
            self._closed = True
            thread, dropped = self._thread, [key for key in self._jobs if key != self._running]
            self._cond.notify_all()
        if dropped:
            log.warning("hive-ha: shutting down with %d registration(s) whose sessions were not invalidated: %s",
                        len(dropped), ", ".join(address for address, _ in dropped))
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- the thread ----------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        from django.db import connection

        while True:
            job = self._next()
            if job is None:
                return
            delay: Optional[float] = None  # None: finished, done or given up
            done = False
            try:
                result = self._invalidate(job.endpoint)
                log.info("hive-ha sessions invalidated server=%s registration=%s count=%d", job.endpoint.address,
                         job.endpoint.znode, result.marked)
                if result.busy:
                    delay = self._again(job, f"{result.busy} row(s) held by other transactions")
                else:
                    done = True
            except _retryable() as exc:  # unavailable, connection lost, lock timeout: later
                delay = self._again(job, f"database error: {str(exc).strip()}")
            except Exception:  # noqa: BLE001 - a bug must not end the thread; the next report tries again
                log.exception("hive-ha: invalidating the sessions of %s failed", job.endpoint.address)
            finally:
                try:
                    connection.close()  # this thread's: none is left open while idle, a broken one is dropped
                except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                    pass
            self._finish(job, delay, done)

    def _next(self) -> Optional[_Job]:
        """The next job once it is due; None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    self._running = None
                    return None
                if self._due:
                    due, _, key = self._due[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._due)
                        self._running = key
                        return self._jobs[key]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _again(self, job: _Job, why: str) -> Optional[float]:
        """The wait before the next attempt, or None when the attempts are used up (given up, not remembered)."""
        job.attempts += 1
        if job.attempts >= self._attempts:
            log.error("hive-ha: gave up invalidating the sessions of %s after %d attempts (%s); the next report of "
                      "it tries again", job.endpoint.address, job.attempts, why)
            return None
        delay = self._retry.duration(job.attempts)
        log.warning("hive-ha: invalidating the sessions of %s again in %.1f s (%s)", job.endpoint.address, delay, why)
        return delay

    def _finish(self, job: _Job, delay: Optional[float], done: bool) -> None:
        key = job.endpoint.key
        with self._cond:
            self._running = None
            if delay is not None and not self._closed:
                heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), key))
                self._cond.notify_all()
                return
            del self._jobs[key]
            if done:
                self._remember(key)
            self._cond.notify_all()

    def _remember(self, key: Key) -> None:
        self._done[key] = None
        while len(self._done) > self._remembered:
            self._done.popitem(last=False)

    # -- sqlite --------------------------------------------------------------------------------------------------------
    def _is_inline(self) -> bool:
        if self._inline is None:
            from django.db import connection

            self._inline = connection.vendor == "sqlite"
        return self._inline

    def _run_inline(self, endpoint: Endpoint) -> bool:
        from django.db import Error, transaction

        key = endpoint.key
        with self._cond:
            if self._closed or key in self._done:
                return False
        try:
            with transaction.atomic():  # a savepoint inside the request's transaction
                result = self._invalidate(endpoint)
        except Error as exc:
            log.warning("hive-ha: invalidating the sessions of %s failed (%s); the next report of it tries again",
                        endpoint.address, exc)
            return False

        def committed() -> None:  # remembered only once the rows are marked for good
            with self._cond:
                self._remember(key)

        transaction.on_commit(committed)
        log.info("hive-ha sessions invalidated server=%s registration=%s count=%d", endpoint.address, endpoint.znode,
                 result.marked)
        return True


def _retryable() -> tuple:
    """Errors a later attempt may not see again: the server unavailable or restarting, the connection lost, a lock
    wait timed out. (Any other is a bug: retrying it changes nothing.)"""
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


# -- fork --------------------------------------------------------------------------------------------------------------
_instances: "weakref.WeakSet[Invalidator]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """The child has no thread of ours and must not touch a lock a parent thread held at the fork: fresh state. What
    was queued stays the parent's; what was done stays known (the database is shared)."""
    for invalidator in list(_instances):
        closed = invalidator._closed
        invalidator._fresh_state()
        invalidator._closed = closed


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
