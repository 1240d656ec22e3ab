"""The registry watcher's state machine and Discovery's locking, driven by a scripted in-memory ZooKeeper
(hive_ha/testing/memory_zookeeper.py): faults land exactly between two reads, and nothing here needs a server."""
import threading
import time

import pytest
from kazoo.exceptions import ConnectionLoss

from hive_ha.core.cache import EndpointCache
from hive_ha.core.discovery import Discovery
from hive_ha.model.layouts import Service
from hive_ha.testing.memory_zookeeper import MemoryPool, MemoryZooKeeper
from hive_ha.testing.waiting import wait_until
from hive_ha.io.watcher import RegistryWatcher
from hive_ha.io.zookeeper import ZkSettings

HS2 = Service.of("hs2", "/hiveserver2")
HSI = Service.of("hsi", "/hiveserver2-hive2")


def register(zk, port, namespace="/hiveserver2"):
    data = (f"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port={port};"
            "hive.server2.authentication=NOSASL").encode()
    return zk.create(f"{namespace}/serverUri=127.0.0.1:{port};version=1;sequence=", data, sequence=True)


def ports(cache, service=HS2):
    snap = cache.snapshot(service)
    return None if snap is None else sorted(e.port for e in snap.endpoints)


@pytest.fixture
def zk():
    return MemoryZooKeeper()


@pytest.fixture
def watch(zk):
    """``watch(service=HS2, client=None, **kw) -> (watcher, cache, client)``: a started watcher feeding a cache."""
    made = []

    def start(service=HS2, client=None, **kw):
        client = client or zk.client()
        cache = EndpointCache()
        cache.register(service, "memory:2181")
        watcher = RegistryWatcher(client, service, "memory:2181", cache.update,
                                  lambda stale: cache.mark_stale(service, stale), debounce=0, **kw)
        made.append(watcher.start())
        return watcher, cache, client

    yield start
    for watcher in made:
        watcher.stop()


# -- the blind watcher (issue 11 #3) -------------------------------------------------------------------------------
def test_namespace_deleted_and_recreated_is_followed(zk, watch):
    register(zk, 10000)
    _, cache, _ = watch()
    wait_until(lambda: ports(cache) == [10000])
    zk.delete("/hiveserver2", recursive=True)  # deleteall /hiveserver2: children first, then the namespace
    wait_until(lambda: cache.snapshot(HS2).exists is False, message="the deletion was not seen")
    register(zk, 10001)  # re-created with a new server
    wait_until(lambda: ports(cache) == [10001], timeout=5, message=lambda: f"blind watcher: {cache.snapshot(HS2)}")


def test_deleted_event_on_the_children_path_is_not_taken_for_a_child(zk, watch):
    child = register(zk, 10000)
    watcher, cache, _ = watch()
    wait_until(lambda: ports(cache) == [10000])
    zk.delete(child)
    wait_until(lambda: ports(cache) == [])  # the watcher listed the (now empty) namespace again
    zk.delete("/hiveserver2")  # DELETED on the children path itself
    wait_until(lambda: cache.snapshot(HS2).exists is False, timeout=5, message="namespace deletion not seen")
    register(zk, 10001)
    wait_until(lambda: ports(cache) == [10001], timeout=5, message="namespace re-creation not seen")
    assert watcher.last_error is None


def test_namespace_created_while_resolving_is_not_missed(zk, watch):
    client = zk.client()
    # The namespace appears right after the watcher found it missing, before any watch could fire.
    client.after("exists", lambda: register(zk, 10000))
    _, cache, _ = watch(client=client)
    wait_until(lambda: ports(cache) == [10000], timeout=5, message=lambda: f"missed: {cache.snapshot(HS2)}")


def test_namespace_missing_then_created(zk, watch):
    _, cache, _ = watch()
    wait_until(lambda: cache.snapshot(HS2) is not None and not cache.snapshot(HS2).exists)
    register(zk, 10000)
    wait_until(lambda: ports(cache) == [10000])


# -- connection states (issue 11 #4) --------------------------------------------------------------------------------
def test_suspended_between_last_read_and_publish_stays_stale(zk, watch):
    register(zk, 10000)
    client = zk.client()
    client.after("get", client.suspend)  # the connection drops right after the last read of a pass
    watcher, cache, _ = watch(client=client)
    wait_until(lambda: watcher.published >= 1)
    assert ports(cache) == [10000]
    assert cache.snapshot(HS2).stale, "a pass that lost its connection published its reading as live"
    client.reconnect()
    wait_until(lambda: not cache.snapshot(HS2).stale, message="not live again after the reconnect")


def test_liveness_reports_follow_the_connection(zk):
    register(zk, 10000)
    client = zk.client()
    reports = []  # what on_stale was told (hive-ha watch prints them as stale/live lines)
    watcher = RegistryWatcher(client, HS2, "memory:2181", lambda snap: None, reports.append, debounce=0).start()
    try:
        wait_until(lambda: reports[-1:] == [False])
        client.suspend()
        assert reports[-1] is True
        client.reconnect()
        wait_until(lambda: reports[-1] is False, message=lambda: f"reports {reports}")
    finally:
        watcher.stop()


def test_session_expiry_rereads_everything(zk, watch):
    register(zk, 10000)
    watcher, cache, client = watch()
    wait_until(lambda: ports(cache) == [10000])
    client.suspend()
    register(zk, 10001)  # a change while disconnected: no watch can report it
    assert cache.snapshot(HS2).stale
    client.expire()
    wait_until(lambda: ports(cache) == [10000, 10001] and not cache.snapshot(HS2).stale)


def test_connection_loss_is_retried_with_the_command_retry_policy(zk, watch):
    register(zk, 10000)
    client = zk.client()
    client.fail("get_children", ConnectionLoss(), times=2)
    # retry_delay of an hour: only the command retry (kazoo's, sleeping into client.sleeps) can make this publish.
    watcher, cache, _ = watch(client=client, retry_delay=3600)
    wait_until(lambda: ports(cache) == [10000], timeout=5, message="the watcher did not retry the read")
    assert client.sleeps == [0.1, 0.2] and watcher.last_error is None


def test_child_changes_reread_only_that_child(zk, watch):
    child = register(zk, 10000)
    register(zk, 10001)
    watcher, cache, client = watch()
    wait_until(lambda: ports(cache) == [10000, 10001])
    reads = client.calls["get"]
    zk.set(child, b"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port=10002")
    wait_until(lambda: ports(cache) == [10001, 10002])
    assert client.calls["get"] == reads + 1


# -- Discovery: lock order, closed state, status (issue 11 #1, #9) ---------------------------------------------------
@pytest.fixture
def discovery(zk):
    made = []

    def make(**kw):
        pool = MemoryPool(zk.client())
        made.append(Discovery(ZkSettings("memory:2181", connect_timeout=5), pool=pool, debounce=0, **kw))
        return made[-1], pool

    yield make
    for d in made:
        d.close()


class _PausingDict(dict):
    """Discovery's watcher table, pausing thread B on its first read (made under Discovery's lock) until ``go``."""

    def __init__(self, entered, go):
        super().__init__()
        self.entered, self.go = entered, go

    def get(self, key, default=None):
        if threading.current_thread().name == "B" and not self.entered.is_set():
            self.entered.set()
            self.go.wait(2)
        return super().get(key, default)


def test_stale_lookup_meeting_a_first_lookup_does_not_deadlock(zk):
    """Thread A: a lookup of S1 whose choice expired without a live watch (the cache asks for a refresh, which
    restarts the watcher). Thread B: the first lookup of S2 (starts its watcher). Before the fix A held the cache's
    lock and wanted Discovery's, B held Discovery's and wanted the cache's: every lookup hung for good."""
    register(zk, 10000)
    register(zk, 10500, "/hiveserver2-hive2")
    b_inside, a_inside = threading.Event(), threading.Event()

    def a_clock():  # the cache reads its clock with its lock held: A is inside the cache now
        if threading.current_thread().name == "A":
            a_inside.set()
        return time.monotonic()

    d = Discovery(ZkSettings("memory:2181", connect_timeout=5), pool=MemoryPool(zk.client()), debounce=0,
                  clock=a_clock)
    assert d.endpoint(HS2).port == 10000
    # What a forked worker runs: S1 stale, its choice expired, no watcher thread. Its resume thread (which restarts
    # the watcher at once, and raced this test's swap of the watcher table) is held back: here the stale lookup
    # restarts the watcher, the fallback when a resume failed.
    d._resume = lambda services: None
    d._after_fork_in_child()
    d._watchers = _PausingDict(b_inside, a_inside)
    results = {}
    b = threading.Thread(target=lambda: results.setdefault("B", d.endpoint(HSI)), name="B", daemon=True)
    a = threading.Thread(target=lambda: results.setdefault("A", d.endpoint(HS2)), name="A", daemon=True)
    b.start()
    assert b_inside.wait(5)
    a.start()
    a.join(10)
    b.join(10)
    if a.is_alive() or b.is_alive():  # the threads (daemons) stay stuck: closing would hang as well
        pytest.fail("deadlock: the lookups of two services hang")
    try:
        assert (results["A"].port, results["B"].port) == (10000, 10500)
        wait_until(lambda: d._watchers.get(HS2) is not None and d._watchers[HS2].alive,
                   message="the stale service's watcher was not restarted")
    finally:
        d.close()


def test_stale_lookup_does_not_wait_for_the_watcher_restart(zk, discovery):
    register(zk, 10000)
    d, pool = discovery()
    assert d.endpoint(HS2).port == 10000
    d._after_fork_in_child()
    gate = threading.Event()
    original = pool.get
    pool.get = lambda settings: (gate.wait(10), original(settings))[1]  # a slow client creation (SASL, kinit)
    found = []
    lookup = threading.Thread(target=lambda: found.append(d.endpoint(HS2)), daemon=True)
    lookup.start()
    lookup.join(5)
    returned = not lookup.is_alive()
    gate.set()
    assert returned, "a lookup with a known endpoint waited for the ZooKeeper client"
    assert found[0].port == 10000  # served from the last known snapshot
    wait_until(lambda: d._watchers.get(HS2) is not None and d._watchers[HS2].alive)


def test_closed_discovery_refuses_lookups_and_starts_nothing(zk, discovery):
    from hive_ha.errors import DiscoveryClosed

    register(zk, 10000)
    d, pool = discovery()
    assert d.endpoint(HS2).port == 10000
    d.close()
    gets = pool.gets
    with pytest.raises(DiscoveryClosed):
        d.endpoint(HS2)
    with pytest.raises(DiscoveryClosed):
        d.snapshot(HSI)
    assert pool.gets == gets and not d._watchers


def test_status_creates_no_zookeeper_client(zk, discovery):
    d, pool = discovery()
    status = d.status()
    assert pool.gets == 0 and status["zookeeper"]["state"] == "NOT_STARTED" and status["services"] == []
    register(zk, 10000)
    d.endpoint(HS2)
    assert d.status()["zookeeper"]["state"] == "CONNECTED"
