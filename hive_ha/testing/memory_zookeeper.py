"""A tiny in-memory ZooKeeper for scripted tests of the watcher's state machine and of ``Discovery``.

The seam is the small client surface ``RegistryWatcher`` and ``Discovery`` use (``get``, ``get_children``,
``exists``, ``retry``, ``add_listener``, ``connected``, ``state``), as httpx tests swap in a tiny in-memory
transport. ZooKeeper's watch rules are kept: watches are one-shot; ``exists`` watches a path whether it exists
or not; a child watch fires ``CHILD`` when children come or go and ``DELETED`` when its node is deleted; a
connection loss fires ``NONE`` to every watch and clears them (as kazoo does). Events are delivered in the
thread that made the change, before it returns, so a test knows every watch has fired.

    zk = MemoryZooKeeper()
    client = zk.client()
    zk.create("/hiveserver2/serverUri=h:10000;version=1;sequence=", b"", sequence=True)
    client.after("get_children", client.suspend)    # script a fault right after the next listing
    discovery = Discovery(ZkSettings("memory:2181"), pool=MemoryPool(client))

Not a ZooKeeper: no sessions owning ephemerals, no ACLs, no versions checks.
"""
from __future__ import annotations

import collections
import itertools
import threading
from typing import Callable, Dict, List, Optional, Set, Tuple

from kazoo.exceptions import ConnectionLoss, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent, ZnodeStat
from kazoo.retry import KazooRetry

__all__ = ["MemoryZooKeeper", "MemoryClient", "MemoryPool"]

Watch = Callable[[WatchedEvent], None]


class _Node:
    __slots__ = ("data", "czxid", "mzxid", "children")

    def __init__(self, data: bytes, zxid: int) -> None:
        self.data, self.czxid, self.mzxid = data, zxid, zxid
        self.children: Set[str] = set()


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class MemoryZooKeeper:
    """The tree, shared by every ``MemoryClient`` made from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: Dict[str, _Node] = {"/": _Node(b"", 0)}
        self._zxid = itertools.count(1)
        self._sequence = itertools.count(0)
        self._clients: List["MemoryClient"] = []

    def client(self) -> "MemoryClient":
        client = MemoryClient(self)
        self._clients.append(client)
        return client

    # -- changes (the server side of a test) -------------------------------------------------------------
    def create(self, path: str, data: bytes = b"", *, sequence: bool = False, makepath: bool = True) -> str:
        events = []
        with self._lock:
            if sequence:
                path = f"{path}{next(self._sequence):010d}"
            if path in self._nodes:
                raise NodeExistsError(path)
            missing = []
            parent = _parent(path)
            while parent not in self._nodes:
                if not makepath:
                    raise NoNodeError(parent)
                missing.append(parent)
                parent = _parent(parent)
            for node in list(reversed(missing)) + [path]:
                self._nodes[node] = _Node(data if node == path else b"", next(self._zxid))
                self._nodes[_parent(node)].children.add(node.rsplit("/", 1)[1])
                events += [(node, EventType.CREATED, "data"), (_parent(node), EventType.CHILD, "child")]
        self._fire(events)
        return path

    def set(self, path: str, data: bytes) -> None:
        with self._lock:
            node = self._node(path)
            node.data, node.mzxid = data, next(self._zxid)
        self._fire([(path, EventType.CHANGED, "data")])

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete ``path`` (with ``recursive``, its subtree first, deepest first, as ``deleteall`` does)."""
        events = []
        with self._lock:
            self._node(path)
            doomed = sorted((p for p in self._nodes if p == path or p.startswith(path.rstrip("/") + "/")),
                            key=lambda p: -p.count("/"))
            if len(doomed) > 1 and not recursive:
                raise NotEmptyError(path)
            for node in doomed:
                del self._nodes[node]
                self._nodes[_parent(node)].children.discard(node.rsplit("/", 1)[1])
                events += [(node, EventType.DELETED, "data"), (node, EventType.DELETED, "child"),
                           (_parent(node), EventType.CHILD, "child")]
        self._fire(events)

    def exists(self, path: str) -> bool:
        with self._lock:
            return path in self._nodes

    def children(self, path: str) -> List[str]:
        with self._lock:
            return sorted(self._node(path).children)

    # -- reads (called by clients) --------------------------------------------------------------------------
    def _node(self, path: str) -> _Node:
        node = self._nodes.get(path)
        if node is None:
            raise NoNodeError(path)
        return node

    @staticmethod
    def _stat(node: _Node) -> ZnodeStat:
        return ZnodeStat(node.czxid, node.mzxid, 0, 0, 0, 0, 0, 0, len(node.data), len(node.children), node.mzxid)

    def _read(self, client: "MemoryClient", op: str, path: str, watch: Optional[Watch]):
        with self._lock:
            node = self._nodes.get(path)
            if op == "exists":
                if watch is not None:
                    client._watches["data"][path].add(watch)
                return None if node is None else self._stat(node)
            if node is None:
                raise NoNodeError(path)
            if watch is not None:
                client._watches["child" if op == "get_children" else "data"][path].add(watch)
            if op == "get_children":
                return sorted(node.children)
            return node.data, self._stat(node)

    def _fire(self, events: List[Tuple[str, str, str]]) -> None:
        for client in list(self._clients):
            client._deliver(events)


class MemoryClient:
    """One client of a ``MemoryZooKeeper``: connection state, listeners, one-shot watches and scripted faults."""

    def __init__(self, zk: MemoryZooKeeper) -> None:
        self.zk = zk
        self.state = KazooState.CONNECTED
        self.listeners: List[Callable[[str], object]] = []
        self.calls: collections.Counter = collections.Counter()
        self.sleeps: List[float] = []  # what the retry policy slept (injected sleep: tests never wait)
        self._watches: Dict[str, Dict[str, Set[Watch]]] = {"data": collections.defaultdict(set),
                                                           "child": collections.defaultdict(set)}
        self._before: Dict[str, List[Callable[[], None]]] = collections.defaultdict(list)
        self._after: Dict[str, List[Callable[[], None]]] = collections.defaultdict(list)
        self._retry = KazooRetry(max_tries=3, delay=0.1, backoff=2, max_jitter=0.0, sleep_func=self.sleeps.append)

    # -- the kazoo surface ------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state == KazooState.CONNECTED

    def add_listener(self, listener: Callable[[str], object]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[str], object]) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def get(self, path: str, watch: Optional[Watch] = None):
        return self._call("get", path, watch)

    def get_children(self, path: str, watch: Optional[Watch] = None):
        return self._call("get_children", path, watch)

    def exists(self, path: str, watch: Optional[Watch] = None):
        return self._call("exists", path, watch)

    def retry(self, func, *args, **kwargs):
        """kazoo's ``client.retry``: the command retry policy (a fresh copy per call), sleeping into ``sleeps``."""
        return self._retry.copy()(func, *args, **kwargs)

    # -- scripting ---------------------------------------------------------------------------------------------
    def before(self, op: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before the next ``op`` (get, get_children, exists) runs."""
        self._before[op].append(action)

    def after(self, op: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just after the next ``op`` has read its answer (before the caller gets it)."""
        self._after[op].append(action)

    def fail(self, op: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``op`` raise ``error`` (e.g. ``ConnectionLoss()``)."""
        for _ in range(times):
            self.before(op, lambda: _raise(error))

    def suspend(self) -> None:
        """Lose the connection: SUSPENDED to listeners, NONE to every watch (which is cleared), as kazoo does."""
        self._set_state(KazooState.SUSPENDED)
        watches = [w for kind in self._watches.values() for ws in kind.values() for w in ws]
        for kind in self._watches.values():
            kind.clear()
        for watch in watches:
            watch(WatchedEvent(EventType.NONE, KeeperState.CONNECTING, None))

    def reconnect(self) -> None:
        self._set_state(KazooState.CONNECTED)

    def expire(self) -> None:
        """Session expiry: the connection is lost (SUSPENDED), then the session (LOST), then a new one (CONNECTED)."""
        self.suspend()
        self._set_state(KazooState.LOST)
        self.reconnect()

    def stop(self) -> None:
        self.state = KazooState.LOST

    close = stop

    # -- internals ---------------------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.state = state
        for listener in list(self.listeners):
            listener(state)

    def _call(self, op: str, path: str, watch: Optional[Watch]):
        self.calls[op] += 1
        if self._before[op]:
            self._before[op].pop(0)()
        if not self.connected:
            raise ConnectionLoss(f"not connected ({op} {path})")
        result = self.zk._read(self, op, path, watch)
        if self._after[op]:
            self._after[op].pop(0)()
        return result

    def _deliver(self, events: List[Tuple[str, str, str]]) -> None:
        if not self.connected:
            return
        for path, event_type, kind in events:
            watches = self._watches[kind].pop(path, set())
            for watch in watches:
                watch(WatchedEvent(event_type, KeeperState.CONNECTED, path))


def _raise(error: BaseException) -> None:
    raise error


class MemoryPool:
    """Stands in for ``hive_ha.io.zookeeper.ClientPool``: hands out one ``MemoryClient`` whatever the settings."""

    def __init__(self, client: MemoryClient) -> None:
        self.client = client
        self.gets = 0
        self._handed_out = False

    def get(self, settings) -> MemoryClient:
        self.gets += 1
        self._handed_out = True
        return self.client

    def peek(self, settings) -> Optional[MemoryClient]:
        return self.client if self._handed_out else None

    def close_all(self) -> None:
        self._handed_out = False
