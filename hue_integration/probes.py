"""Background TCP probes for ``reset_ha()`` calls that do not say which server failed: the request thread never
waits for one, and one probe per server runs at a time."""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from typing import Callable, Optional, Set, Tuple

from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds for one TCP connect
_STOP = None


class Prober:
    """One daemon thread probing queued (service, endpoint) pairs; ``on_refused`` is called for a server that does
    not accept connections. Started on first use, again after a fork (threads do not survive one)."""

    def __init__(self, on_refused: Callable[[Service, Endpoint], None], timeout: float = PROBE_TIMEOUT) -> None:
        self._on_refused = on_refused
        self._timeout = timeout
        self._lock = threading.Lock()
        self._queue: "queue.Queue[Optional[Tuple[Service, Endpoint]]]" = queue.Queue()
        self._pending: Set[Tuple[Service, str]] = set()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._closed = False

    def submit(self, service: Service, endpoint: Endpoint) -> bool:
        """Queue a probe unless one of that server is already queued; False when it was."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the inherited thread and queue belong to the parent
                self._queue, self._pending, self._thread, self._pid = queue.Queue(), set(), None, os.getpid()
            if self._closed or (service, endpoint.address) in self._pending:
                return False
            self._pending.add((service, endpoint.address))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hive-ha reset_ha probe", daemon=True)
                self._thread.start()
        self._queue.put((service, endpoint))
        return True

    def idle(self, timeout: float) -> bool:
        """Wait until every queued probe is done (for tests and shutdown); True if it is."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            running = self._thread is not None and self._pid == os.getpid()
        if running:
            self._queue.put(_STOP)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                service, endpoint = item
                try:
                    if not accepts_connections(endpoint, self._timeout):
                        self._on_refused(service, endpoint)
                except Exception:  # noqa: BLE001 - a probe must never end the thread
                    log.exception("hive-ha: probe of %s failed", endpoint.address)
                finally:
                    with self._lock:
                        self._pending.discard((service, endpoint.address))
            finally:
                self._queue.task_done()


def accepts_connections(endpoint: Endpoint, timeout: float) -> bool:
    """True when a TCP connection to ``endpoint`` opens within ``timeout`` (refused, unreachable or silent: False)."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return True
    except OSError:
        return False
