"""The one read of a registry (hive_ha.io.registry), shared by the watcher and ``hive-ha check``, against the
in-memory ZooKeeper: locating the path among a layout's roots, reading and parsing children, skipping what is
malformed, vanished or not readable."""
from kazoo.exceptions import NoAuthError, NoNodeError

from hive_ha.errors import MalformedRegistration
from hive_ha.io.registry import candidate_paths, locate, read_all, read_child
from hive_ha.model.layouts import Service
from hive_ha.testing.memory_zookeeper import MemoryZooKeeper

HS2 = Service.of("hs2", "/hiveserver2")
HSI_HA = Service.of("hsi-ha", "/hs2ActivePassiveHA")


def register(zk, port, namespace="/hiveserver2"):
    data = f"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port={port}".encode()
    return zk.create(f"{namespace}/serverUri=127.0.0.1:{port};version=1;sequence=", data, sequence=True)


def test_locate_tries_every_root_in_order_and_watches_each():
    zk = MemoryZooKeeper()
    client = zk.client()
    assert candidate_paths(HSI_HA) == ("/hs2ActivePassiveHA/instances", "/hs2ActivePassiveHA-sasl/instances",
                                       "/hs2ActivePassiveHA-unsecure/instances")
    events = []
    assert locate(client, HSI_HA, watch=events.append) is None
    zk.create("/hs2ActivePassiveHA-unsecure/instances")
    assert [e.path for e in events] == ["/hs2ActivePassiveHA-unsecure/instances"]  # the existence watch fired
    found = locate(client, HSI_HA)
    assert (found.root, found.path, found.stat.numChildren) == ("/hs2ActivePassiveHA-unsecure",
                                                                "/hs2ActivePassiveHA-unsecure/instances", 0)


def test_read_all_parses_sorts_and_skips():
    zk = MemoryZooKeeper()
    client = zk.client()
    register(zk, 10002)
    register(zk, 10001)
    bad = zk.create("/hiveserver2/serverUri=nohost;sequence=", b"", sequence=True)
    reading = read_all(client, HS2, "/hiveserver2")
    assert [e.port for e in reading.endpoints] == [10002, 10001]  # oldest first (sequence), not by name
    assert [m.znode for m in reading.malformed] == [bad] and reading.unreadable == ()


def test_read_child_vanished_and_unreadable():
    zk = MemoryZooKeeper()
    client = zk.client()
    znode = register(zk, 10000)
    name = znode.rsplit("/", 1)[1]
    parsed, stat = read_child(client, HS2, "/hiveserver2", name)
    assert parsed.port == 10000 and stat.mzxid
    client.fail("get", NoNodeError())
    assert read_child(client, HS2, "/hiveserver2", name) is None
    client.fail("get", NoAuthError())
    reading = read_all(client, HS2, "/hiveserver2")
    assert reading.unreadable == (znode,) and reading.endpoints == ()


def test_a_malformed_child_is_returned_not_raised():
    zk = MemoryZooKeeper()
    client = zk.client()
    zk.create("/hiveserver2/garbage", b"")
    parsed, _ = read_child(client, HS2, "/hiveserver2", "garbage")
    assert isinstance(parsed, MalformedRegistration) and parsed.znode == "/hiveserver2/garbage"


def test_reads_go_through_the_given_retry():
    zk = MemoryZooKeeper()
    client = zk.client()
    register(zk, 10000)
    calls = []

    def retry(func, *args, **kwargs):
        calls.append(func.__name__)
        return func(*args, **kwargs)

    assert locate(client, HS2, retry=retry) is not None
    assert len(read_all(client, HS2, "/hiveserver2", retry=retry).endpoints) == 1
    assert calls == ["exists", "get_children", "get"]
