"""Hue's own server (``hue rungunicornserver``: forked gunicorn workers), configured by a hue.ini alone, driven over
HTTP with the JWT REST API and the form fields Hue's editor sends; the HiveServer2 serving every user is killed with
``kill -9``."""
import pytest

from hive_ha.testing.waiting import wait_until
from tests.hue.conf_files import discovery_ini
from tests.hue.editor import Editor, HttpTransport
from tests.hue.hue_process import HueHome

pytestmark = pytest.mark.slow

PASSWORD = "hive-ha-test-password"


@pytest.fixture
def hue_server(zk_server, zk_namespace):
    home = HueHome(discovery_ini(zk_server.hosts, zk_namespace), workers=2)
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
    hue_server.start_server()  # returns once one worker answers; the other may still be booting
    wait_until(lambda: len(hue_server.worker_pids()) >= 2, 60,  # gunicorn's forked workers, each with hive-ha in it
               message=lambda: f"gunicorn did not fork 2 workers: {hue_server.worker_pids()}: "
                               f"{hue_server.server_output()}")
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


@pytest.mark.server_database  # several users' requests at once, in several processes
def test_the_random_policy_spreads_hues_forked_workers(zk_server, zk_namespace, registrar, hs2_server_factory):
    """Hue's gunicorn workers are forked from a master in which hive-ha was installed: with ``selection_policy=random``
    each must make its own draw (before, every worker drew its parent's: all on one server). 16 servers, 4
    workers: each worker's choice is read from its own status page."""
    import json
    import threading

    servers = [hs2_server_factory(f"hs2-{i}", databases=("default", f"on_{i}")) for i in range(16)]
    for server in servers:
        registrar.register(server.host, server.port, namespace=zk_namespace)
    home = HueHome(discovery_ini(zk_server.hosts, zk_namespace, "selection_policy=random"), workers=4)
    try:
        home.hue("migrate", "--noinput")
        home.add_users("admin", *[f"user{i}" for i in range(4)], password=PASSWORD)
        home.python("""
            from useradmin.models import User
            User.objects.filter(username="admin").update(is_superuser=True)
            """)
        home.start_server()
        wait_until(lambda: len(home.worker_pids()) == 4, 60,
                   message=lambda: f"gunicorn did not fork 4 workers: {home.worker_pids()}: {home.server_output()}")
        users = [Editor(HttpTransport(home.base_url, f"user{i}", PASSWORD)) for i in range(4)]
        for editor in users:
            editor.create_session()
        browsers = [home.browser("admin", PASSWORD) for _ in range(4)]
        choices = {}  # worker pid -> the server its lookups go to

        def work():
            for editor in users:  # every worker gets lookups to make, whichever takes the requests
                databases = editor.autocomplete()["databases"]
                assert len(databases) == 2, databases

        def read_status(browser):
            code, body = browser.get("/hive_ha/status")
            assert code == 200, body[:300]
            report = json.loads(body)
            (service,) = report["services"]
            if service["in_use"]:
                choices[report["process"]] = service["in_use"]

        def round_():
            threads = [threading.Thread(target=work) for _ in range(4)]
            threads += [threading.Thread(target=read_status, args=(b,)) for b in browsers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            return len(choices) == 4

        wait_until(round_, 180, interval=0.1, message=lambda: f"not every worker chose yet: {choices}")
        # 4 independent draws among 16 servers are all the same once in 4096 runs; drawn from one inherited
        # generator state, they always were.
        assert len(set(choices.values())) > 1, choices
    finally:
        home.stop()
