"""Hue's own server (``hue rungunicornserver``: forked gunicorn workers), configured by a hue.ini alone, driven over
HTTP with the JWT REST API and the form fields Hue's editor sends; the HiveServer2 serving every user is killed with
``kill -9``."""
import pytest

from hive_ha.testing.waiting import wait_until
from tests.hue.editor import Editor, HttpTransport
from tests.hue.hue_process import HueHome

pytestmark = pytest.mark.slow

PASSWORD = "hive-ha-test-password"


@pytest.fixture
def hue_server(zk_server, zk_namespace):
    home = HueHome(f"""
        [beeswax]
        hive_discovery_hs2=true
        hive_discovery_hiveserver2_znode={zk_namespace}
        [libzookeeper]
        ensemble={zk_server.hosts}
        """, workers=2)
    try:
        home.hue("migrate", "--noinput")
        home.add_users("alice", "bob", password=PASSWORD)
        yield home
    finally:
        home.stop()


def editors(home):
    out = []
    for name in ("alice", "bob"):
        editor = Editor(HttpTransport(home.base_url, name, PASSWORD))
        editor.create_session()
        out.append(editor)
    return out


def test_two_users_over_http_kill_9_of_the_serving_python_server(hue_server, zk_namespace, registrar,
                                                                hs2_process_factory):
    a = hs2_process_factory("hs2-a", host="127.0.0.1")
    b = hs2_process_factory("hs2-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    hue_server.start_server()
    assert len(hue_server.worker_pids()) >= 2  # gunicorn's forked workers, each with hive-ha in it
    alice, bob = editors(hue_server)
    assert alice.run("select current_server()") == [["hs2-a"]]
    assert bob.run("select current_server()") == [["hs2-a"]]
    a.kill()  # SIGKILL of the server process
    reg_a.crash()  # and its ZooKeeper session is left to expire, as a killed HiveServer2's is
    for _ in range(3):  # whichever worker takes each request
        assert alice.run("select current_server()") == [["hs2-b"]]
        assert bob.run("select current_server()") == [["hs2-b"]]
    wait_until(lambda: "hive-ha failover" in hue_server.log(), 10, message="the failover line in Hue's log")
    assert a.address in hue_server.log()


@pytest.mark.spark  # marked by hand: the tests in tests/hue get no markers from their fixtures
def test_two_users_over_http_kill_9_of_the_serving_spark_thrift_server(hue_server, zk_namespace, spark_factory):
    servers = spark_factory("spark-a", "spark-b", namespace=zk_namespace)
    hue_server.start_server()
    alice, bob = editors(hue_server)
    first = alice.execute("SELECT 1")
    alice.wait(first)
    assert alice.fetch_result_data(first)["data"] == [[1]]
    serving = first["result"]["handle"]["hive_ha_server"]
    assert bob.run("SELECT 2") == [[2]]
    victim = next(s for s in servers if s.address == serving)
    survivor = next(s for s in servers if s is not victim)
    victim.kill()  # SIGKILL; its znode lingers until its ZooKeeper session expires
    for editor, n in ((alice, 3), (bob, 4), (alice, 5), (bob, 6)):
        snippet = editor.execute(f"SELECT {n}")
        assert snippet["result"]["handle"]["hive_ha_server"] == survivor.address
        editor.wait(snippet)
        assert editor.fetch_result_data(snippet)["data"] == [[n]]
