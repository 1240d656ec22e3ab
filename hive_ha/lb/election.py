"""One active monitor among several: a kazoo ``Lock`` under a znode, held for as long as the ZooKeeper session lives.

The holder is active; the others wait in the lock's queue (standby). When the active monitor stops its lock node goes
at once; when it dies, at its session's expiry, and the next in line takes over. A monitor whose connection is
suspended or lost stops acting at once (it cannot know whether another took over) and competes again on reconnect.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

from kazoo.exceptions import KazooException, LockTimeout
from kazoo.protocol.states import KazooState

from hive_ha.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_ROOT = "/hive-ha/monitor"


def election_path(kind: str, name: str, root: str = DEFAULT_ROOT) -> str:
    """The default lock znode: ``/hive-ha/monitor/<lb>-<name>``."""
    from hive_ha.lb import validate

    validate.name("--name", name)
    return f"{root}/{kind}-{name}"


class LeaderElection:
    """Competes for ``path`` with ``client`` (a started kazoo client); ``is_leader`` says whether to act now."""

    def __init__(self, client, path: str, identifier: str, retry_interval: float = 1.0) -> None:
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ConfigError("--election-path", path, "an absolute znode path such as /hive-ha/monitor/haproxy-impala")
        self.client = client
        self.path = path
        self.identifier = identifier
        self.retry_interval = retry_interval
        self._held = threading.Event()      # our lock node exists
        self._connected = threading.Event()  # and the session is usable right now
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._lock = None
        self._thread: Optional[threading.Thread] = None

    @property
    def is_leader(self) -> bool:
        return self._held.is_set() and self._connected.is_set()

    def wait_change(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a possible change of ``is_leader``."""
        if self._changed.wait(timeout):
            self._changed.clear()

    def start(self) -> "LeaderElection":
        self.client.add_listener(self._on_state)
        if self.client.connected:
            self._connected.set()
        self._thread = threading.Thread(target=self._run, name=f"hive-ha-election {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.client.remove_listener(self._on_state)
        lock = self._lock
        if lock is not None:
            try:
                lock.cancel()
                lock.release()
            except KazooException:
                pass
        if self._thread is not None:
            self._thread.join(10)
        self._held.clear()

    # kazoo calls this from its event thread: set flags only.
    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
            if state == KazooState.LOST:
                self._lost.set()  # the lock node went with the session
                self._held.clear()
        self._changed.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._connected.wait(self.retry_interval):
                continue
            self._lost.clear()
            self._lock = self.client.Lock(self.path, self.identifier)
            try:
                self._lock.acquire(timeout=self.retry_interval)
            except LockTimeout:
                continue  # still queued behind the active monitor (the node is kept until the next try)
            except KazooException as exc:
                log.warning("monitor election at %s: %s; retrying", self.path, exc.__class__.__name__)
                self._stop.wait(self.retry_interval)
                continue
            if self._stop.is_set():
                break
            self._held.set()
            self._changed.set()
            # Hold until the session is lost or we are stopped.
            while not self._stop.is_set() and not self._lost.wait(self.retry_interval):
                pass
            self._held.clear()
            self._changed.set()
