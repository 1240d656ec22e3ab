"""The registry watcher: one thread per watched service reconciles the registry into whole snapshots.

ZooKeeper watch callbacks and connection-state changes only set flags and wake that thread, so nothing
blocks kazoo's own threads. A burst of changes is coalesced (debounced) into one re-read; watches are
re-armed by every read, so they survive reconnects and session expiry. Every read goes through the
client's command retry policy (kazoo's ``client.retry``: a connection loss mid-pass is retried with
backoff); a pass that still fails is re-run whole after ``retry_delay``.

Whatever happens to the namespace znode itself, a watch stays armed: a missing namespace gets an
existence watch, and a deleted one (``deleteall``, then re-created) is resolved again from scratch.
A snapshot read while the connection dropped is published as stale, never as live.

A child this session may not read (its ACL denies it: ``NoAuthError``) is skipped like a malformed registration, with
one warning per state of that znode (its data and ACL versions), and the rest is published. ZooKeeper fires no watch
when an ACL changes, so such a child is tried again every ``unreadable_recheck`` seconds.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Optional, Set, Tuple

from kazoo.exceptions import KazooException, NoAuthError, NoNodeError
from kazoo.protocol.states import EventType, KazooState

from hive_ha.errors import MalformedRegistration
from hive_ha.io.registry import Parsed, candidate_paths, locate, read_child
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot

log = logging.getLogger(__name__)


class RegistryWatcher:
    """Keeps ``publish`` fed with snapshots of ``service``; ``on_stale(True/False)`` tracks liveness."""

    def __init__(
        self,
        client,
        service: Service,
        zk_hosts: str,
        publish: Callable[[Snapshot], None],
        on_stale: Callable[[bool], None],
        *,
        debounce: float = 0.05,
        max_delay: float = 1.0,
        retry_delay: float = 1.0,
        retry: Optional[Callable] = None,
        unreadable_recheck: float = 30.0,
    ) -> None:
        self.client = client
        self._retry = retry or client.retry  # kazoo: the client's command_retry policy, a fresh copy per call
        self.service = service
        self.zk_hosts = zk_hosts
        self._publish = publish
        self._on_stale = on_stale
        self._debounce = debounce
        self._max_delay = max_delay
        self._retry_delay = retry_delay
        self._unreadable_recheck = unreadable_recheck
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._flag_lock = threading.Lock()
        self._full = True
        self._children_dirty = True
        self._dirty: Set[str] = set()
        self._known: Dict[str, Tuple[int, Parsed]] = {}  # child name -> (mzxid, parsed)
        self._warned: Set[Tuple] = set()
        self._unreadable: Set[str] = set()  # known children this session may not read (retried every recheck)
        self._root: Optional[str] = None
        self._path: Optional[str] = None  # the children path of _root (what child events refer to)
        self._epoch = 0  # counts connection losses, so a pass can tell it lost its connection
        self._thread: Optional[threading.Thread] = None
        self.published = 0
        self.last_error: Optional[str] = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "RegistryWatcher":
        self.client.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name=f"hive-ha-watch {self.service}", daemon=True)
        self._thread.start()
        self._wake.set()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        try:
            self.client.remove_listener(self._on_state)
        except Exception:  # noqa: BLE001
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped.is_set()

    def request_refresh(self) -> None:
        """Ask for a full re-read (used when a cached choice expired without a live watch)."""
        with self._flag_lock:
            self._full = True
        self._wake.set()

    # -- callbacks from kazoo's threads: set flags, never block ----------------------------------
    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self.request_refresh()
        else:  # SUSPENDED or LOST: what we know may be out of date until we read again
            with self._flag_lock:
                self._epoch += 1  # before marking stale: see _emit
                if state == KazooState.LOST:
                    self._full = True
            self._on_stale(True)

    def _on_watch(self, event) -> None:
        path = self._path
        parent, _, name = (event.path or "").rpartition("/")
        with self._flag_lock:
            if event.type == EventType.CHILD and event.path == path:
                self._children_dirty = True
            elif event.type in (EventType.CHANGED, EventType.DELETED) and path is not None and parent == path:
                self._dirty.add(name)  # one child changed or left
            else:  # a connection loss (NONE), a root appearing (CREATED), the children path itself changed or
                self._full = True  # deleted (deleteall of the namespace), or an event of a root we moved away from
        self._wake.set()

    # -- the reconcile thread ------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopped.is_set():
            woken = self._wake.wait(self._unreadable_recheck if self._unreadable else None)
            if self._stopped.is_set():
                return
            if not woken:  # an ACL change fires no watch: try the unreadable children again
                with self._flag_lock:
                    self._dirty |= self._unreadable
            self._settle()
            self._wake.clear()
            if not self.client.connected:
                continue  # the CONNECTED state callback wakes us again
            try:
                self._reconcile()
                if self.last_error is not None:
                    log.info("hive-ha watcher %s: reading the registry again", self.service)
                self.last_error = None
            except NoAuthError as exc:
                self._failed(f"not authorised to read {self.service.namespace}: {exc!r}")
            except KazooException as exc:
                self._failed(f"ZooKeeper error: {exc!r}")
            except Exception as exc:  # noqa: BLE001 - a watcher must never die on bad luck
                log.exception("hive-ha watcher for %s failed; retrying", self.service)
                self._failed(repr(exc))

    def _settle(self) -> None:
        """Coalesce a burst: wait until events stop for ``debounce`` s (at most ``max_delay`` s)."""
        if self._debounce <= 0:
            return
        deadline = time.monotonic() + self._max_delay
        while not self._stopped.is_set():
            self._wake.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._wake.wait(min(self._debounce, remaining)):
                return

    def _failed(self, message: str) -> None:
        # A failure that lasts (a namespace whose ACL denies reads) is retried every retry_delay: one warning when it
        # starts or changes, not one per retry.
        repeated = message == self.last_error
        self.last_error = message
        log.log(logging.DEBUG if repeated else logging.WARNING, "hive-ha watcher %s: %s", self.service, message)
        self.request_refresh()
        self._stopped.wait(self._retry_delay)

    def _reconcile(self) -> None:
        with self._flag_lock:
            full, self._full = self._full, False
            children_dirty, self._children_dirty = self._children_dirty, False
            dirty, self._dirty = self._dirty, set()
            epoch = self._epoch
        if full:
            self._root = None
        children: Optional[Set[str]] = None
        for _ in range(2):  # a namespace deleted between resolving it and listing it is resolved once more
            if self._root is None:
                self._path = None
                # Every root tried before the one found (all of them when none exists) keeps an existence watch,
                # so a namespace created at any moment from now on wakes us.
                found = locate(self.client, self.service, watch=self._on_watch, retry=self._retry)
                if found is None:
                    self._publish_missing(epoch)
                    return
                self._root, self._path = found.root, found.path
                children_dirty, dirty = True, set(self._known)
            if not children_dirty:
                break
            try:
                children = set(self._retry(self.client.get_children, self._path, watch=self._on_watch))
                break
            except NoNodeError:
                self._root = None
        else:
            self._publish_missing(epoch)
            return
        path = self._path
        new: Set[str] = set()
        if children is not None:
            for gone in set(self._known) - children:
                del self._known[gone]
                self._unreadable.discard(gone)
            new = children - set(self._known)
        for name in sorted((dirty & set(self._known)) | new):
            self._read_child(path, name)
        self._publish_snapshot(path, epoch)

    def _read_child(self, path: str, name: str) -> None:
        self._unreadable.discard(name)
        try:
            read = read_child(self.client, self.service, path, name, watch=self._on_watch, retry=self._retry)
        except NoAuthError:
            read = self._unreadable_child(path, name)
        if read is None:
            # Gone between list and read: the normal race with a server that just stopped.
            self._known.pop(name, None)
            log.debug("znode %s/%s vanished before it could be read", path, name)
            return
        parsed, stat = read
        warned = (parsed.znode, stat.mzxid, stat.aversion) if isinstance(parsed, MalformedRegistration) else None
        if warned is not None and warned not in self._warned:
            self._warned.add(warned)
            if name in self._unreadable:
                log.warning("skipping the registration %r: %s", parsed.znode, parsed.reason)
            else:
                log.warning("skipping %s", parsed)
        self._known[name] = (stat.mzxid, parsed)

    def _unreadable_child(self, path: str, name: str) -> Optional[Tuple[Parsed, object]]:
        """A child whose ACL denies this session reads, as a skipped registration with its stat (``exists`` needs no
        permission; its watch fires when the data changes or the znode goes), or None when it is gone."""
        znode = f"{path}/{name}"
        stat = self._retry(self.client.exists, znode, watch=self._on_watch)
        if stat is None:
            return None
        self._unreadable.add(name)
        return MalformedRegistration(znode, "not authorised to read it (NoAuthError): its ACL does not let this "
                                            "client's ZooKeeper identity read it"), stat

    def _publish_snapshot(self, path: str, epoch: int) -> None:
        endpoints = sorted(
            (p for _, p in self._known.values() if isinstance(p, Endpoint)),
            key=lambda e: e.age_key,
        )
        malformed = tuple(sorted((p.znode, p.reason) for _, p in self._known.values() if isinstance(p, MalformedRegistration)))
        self._emit(Snapshot(self.service, self.zk_hosts, path, tuple(endpoints), malformed), epoch)

    def _publish_missing(self, epoch: int) -> None:
        self._known.clear()
        self._unreadable.clear()
        path = candidate_paths(self.service)[0]
        self._emit(Snapshot(self.service, self.zk_hosts, path, exists=False), epoch)

    def _emit(self, snapshot: Snapshot, epoch: int) -> None:
        """Publish a reading made since connection epoch ``epoch``: live only if the connection held throughout.

        ``_on_state`` counts a loss before it reports stale, so either we see the new count in the last check
        and report stale ourselves, or its report comes after all of ours: a lost connection always ends stale.
        """
        self.published += 1
        stale = self._epoch != epoch or not self.client.connected
        self._publish(snapshot.with_stale(stale))
        if not stale:
            self._on_stale(False)
        if self._epoch != epoch:
            self._on_stale(True)
