"""The whole topology, end to end (tests/hue/topology.py): two Hue instances (``hue rungunicornserver``, two forked
workers each) sharing one PostgreSQL, behind HAProxy configured by ``hive-ha emit haproxy --profile hue`` and kept in
step by ``hive-ha monitor``; two HiveServer2s registered in ZooKeeper. Users go through the load balancer only, over
HTTP with Hue's JWT REST API. Each fault is injected while users hold editor sessions; what every user sees is
asserted."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hive_ha.testing.waiting import wait_until
from tests.hue.conf_files import discovery_ini
from tests.hue.editor import EXPIRED, Editor, EditorError, HttpError, HttpTransport
from tests.hue.topology import Topology, server_name
from tests.rig.databases import PostgresServer

# Marked by hand: the tests in tests/hue get no markers from their fixtures.
pytestmark = [pytest.mark.slow, pytest.mark.lb, pytest.mark.process]

PASSWORD = "hive-ha-test-password"
USERS = ("ann", "ben", "cat", "dan", "eve", "fay")
WHO = "select current_server()"


@pytest.fixture(scope="module")
def postgres():
    """This module's own PostgreSQL (a test restarts it; the run's database server stays untouched)."""
    server = PostgresServer(name="hue-topology")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def start_topology(postgres, zk_server, zk_namespace):
    """``start() -> Topology``: two Hue instances on one PostgreSQL database behind HAProxy and the monitor,
    discovery switched on; started once the test's servers are registered (Hive runs before Hue starts)."""
    topology = Topology(postgres, discovery_ini(zk_server.hosts, zk_namespace), instances=2, workers=2)
    try:
        yield lambda: topology.start(USERS, PASSWORD)
    finally:
        topology.close()


@pytest.fixture
def hiveservers(hs2_process_factory, zk_server, zk_namespace):
    """``make(*names) -> [HS2ServerProcess]``: servers in child processes, each registered from its own ZooKeeper
    session as HiveServer2 registers itself (in the order given: the first is the oldest, Hue's choice), so a
    ``kill -9`` leaves its znode until that session expires."""
    def make(*names, **opts):
        return [hs2_process_factory(name, host=f"127.0.0.{i + 1}", **opts, registration={
            "zk_hosts": zk_server.hosts, "session_timeout": 3.0, "register": {"namespace": zk_namespace}})
            for i, name in enumerate(names)]
    return make


def sign_in(topology, names=USERS, cookies=False):
    """Each user's editor through the load balancer, with a JWT and a first HiveServer2 session."""
    editors = [Editor(HttpTransport(topology.url, name, PASSWORD, cookies=cookies)) for name in names]
    for editor in editors:
        editor.create_session()
    return editors


def everyone(editors, statement=WHO):
    """Every user runs ``statement`` at the same time; their answers (rows, or the error they got), in order."""
    def one(editor):
        try:
            return editor.run(statement, timeout=60)
        except (EditorError, HttpError) as exc:
            return exc
    with ThreadPoolExecutor(len(editors)) as pool:
        return list(pool.map(one, editors))


def test_kill_9_of_the_serving_hiveserver2(start_topology, hiveservers):
    a, b = hiveservers("hs2-a", "hs2-b")
    topology = start_topology()
    users = sign_in(topology)  # no cookies: each request goes to whichever Hue instance HAProxy picks
    assert everyone(users) == [[["hs2-a"]]] * len(users)
    a.kill()  # SIGKILL; its znode lingers until its ZooKeeper session expires
    for _ in range(3):
        assert everyone(users) == [[["hs2-b"]]] * len(users)
    served = topology.lb.served()
    assert all(served[server_name(home)] > 0 for home in topology.hues), served  # both instances served users
    for home in topology.hues:  # each instance found the death itself, and only once per worker at most
        failovers = home.log().count("hive-ha failover service=hs2:")
        assert 1 <= failovers <= home.workers, home.log()[-3000:]


def test_a_rolling_restart_after_hue_started_is_followed_by_every_worker(start_topology, hs2_process_factory,
                                                                          registrar, zk_namespace):
    """Hue's gunicorn workers are forked at start-up: a registry change after that must reach every worker, also one
    that has served no Hive call yet (before, such a worker answered from what the master had read before forking it:
    it sent statements to the server that had left, and called a query running on the new one lost)."""
    a = hs2_process_factory("hs2-a", host="127.0.0.1", running_polls=2)
    gone = registrar.register(a.host, a.port, namespace=zk_namespace)
    topology = start_topology()
    # The one user before the change, sticky: the other Hue instance's workers serve no Hive call before it.
    (first,) = sign_in(topology, names=USERS[:1], cookies=True)
    assert first.run(WHO) == [["hs2-a"]]
    # The others are signed in (a JWT each) and open their editor sessions only after the change; no cookies: their
    # calls go to both instances.
    users = [Editor(HttpTransport(topology.url, name, PASSWORD)) for name in USERS[1:]]
    b = hs2_process_factory("hs2-b", host="127.0.0.2", running_polls=2)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    gone.deregister()  # a rolling restart: hs2-a leaves ZooKeeper and keeps running
    wait_until(lambda: first.run(WHO) == [["hs2-b"]], 30, message="no worker saw the change")
    for _ in range(2):  # statements, status polls and fetches, over every worker of both instances
        assert everyone(users) == [[["hs2-b"]]] * len(users)


def test_kill_9_of_one_hue_instance_moves_its_users_with_their_sessions(start_topology, hiveservers):
    hiveservers("hs2-a", "hs2-b", running_polls=2)  # each query answers "running" to two polls first
    topology = start_topology()
    users = sign_in(topology, cookies=True)  # sticky: HAProxy's SERVERID cookie, as a browser keeps it
    assert everyone(users) == [[["hs2-a"]]] * len(users)
    placed = [user.transport.cookie("SERVERID") for user in users]
    victim = topology.instance_of(max(set(placed), key=placed.count))
    survivor = next(home for home in topology.hues if home is not victim)
    moved = [user.transport.cookie("SERVERID") == server_name(victim) for user in users]
    tokens = [user.transport.token for user in users]
    running = [user.execute(WHO) for user in users]
    victim.kill()  # kill -9 of its gunicorn master and workers

    # A query running in a HiveServer2 session the dead instance opened ended with it: HiveServer2 closes the
    # sessions of a connection that closes, and the instance's connections closed with it. Hue answers its next poll
    # "expired" (-3), as it does without hive-ha; the survivor's users' queries run on.
    for user, snippet, was_moved in zip(users, running, moved):
        if was_moved:
            with pytest.raises(EditorError) as lost:
                user.check_status(snippet)
            assert lost.value.status == EXPIRED
        else:
            user.wait(snippet)
            assert user.fetch_result_data(snippet)["data"] == [["hs2-a"]]
    for _ in range(3):  # no new sign-in: the same JWTs, checked by the survivor against the same key and database
        assert everyone(users) == [[["hs2-a"]]] * len(users)
    assert [user.transport.token for user in users] == tokens
    assert {user.transport.cookie("SERVERID") for user in users} == {server_name(survivor)}
    for user in users:  # what the dead instance recorded is still there, served by the survivor
        assert user.history().count(WHO) == 5, user.history()

    # The admin takes the dead instance out of the file of Hue servers: the monitor puts it in maintenance.
    topology.lb.set_servers([("127.0.0.1", survivor.port)])
    wait_until(lambda: topology.lb.states().get(server_name(victim)) == "MAINT", 30,
               message=lambda: f"the monitor did not apply the removal: {topology.lb.log('monitor')}")
    assert f"removed hue/{server_name(victim)}, applied by runtime API" in topology.lb.log("monitor")
    # Back after a restart: the admin lists it again, the monitor sets it ready, HAProxy's check finds it up.
    victim.start_server()
    topology.lb.set_servers([("127.0.0.1", home.port) for home in topology.hues])
    topology.wait_all_up()
    assert f"added hue/{server_name(victim)}, applied by runtime API" in topology.lb.log("monitor")
    assert everyone(users) == [[["hs2-a"]]] * len(users)


def test_kill_9_of_the_serving_hiveserver2_and_of_one_hue_instance_at_once(start_topology, hiveservers):
    a, b = hiveservers("hs2-a", "hs2-b")
    topology = start_topology()
    users = sign_in(topology, cookies=True)
    assert everyone(users) == [[["hs2-a"]]] * len(users)
    placed = [user.transport.cookie("SERVERID") for user in users]
    victim = topology.instance_of(max(set(placed), key=placed.count))
    a.kill()
    victim.kill()
    for _ in range(3):
        assert everyone(users) == [[["hs2-b"]]] * len(users)
    survivor = next(home for home in topology.hues if home is not victim)
    assert {user.transport.cookie("SERVERID") for user in users} == {server_name(survivor)}
    assert "hive-ha failover service=hs2:" in survivor.log()


def test_a_restart_of_the_database_while_users_work(start_topology, hiveservers, postgres):
    hiveservers("hs2-a", "hs2-b")
    topology = start_topology()
    users = sign_in(topology)
    assert everyone(users) == [[["hs2-a"]]] * len(users)
    outcomes = {user: [] for user in users}  # (started, finished, answer or error)
    restarted = {}
    stop = threading.Event()

    def work(user):
        while not stop.is_set():
            started = time.monotonic()
            try:
                answer = user.run(WHO, timeout=60)
            except (EditorError, HttpError) as exc:
                answer = exc
            outcomes[user].append((started, time.monotonic(), answer))

    def recovered():
        back = restarted.get("at")
        return back is not None and all(sum(1 for started, _, answer in outcomes[user]
                                            if started > back and answer == [["hs2-a"]]) >= 2 for user in users)

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: all(outcomes[user] for user in users), 60, message="users did not work")
        killed = time.monotonic()
        postgres.kill()  # kill -9 of the postmaster and its backends; the data stays
        wait_until(lambda: any(finished > killed and answer != [["hs2-a"]]
                               for user in users for _, finished, answer in outcomes[user]), 60,
                   message="no request met the dead database")
        postgres.start()  # on the same port and data
        restarted["at"] = time.monotonic()
        wait_until(recovered, 120, message=lambda: f"users did not recover: {outcomes}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
    for user in users:
        for started, finished, answer in outcomes[user]:
            if finished < killed or started > restarted["at"]:
                assert answer == [["hs2-a"]], (user.transport.cookie, started - killed, answer)
            elif answer != [["hs2-a"]]:  # during the outage: Hue's own answer to an error (django_debug_mode off),
                # a traceback ending in Django's database layer
                assert isinstance(answer, EditorError) and "/django/db/" in answer.response["traceback"], \
                    answer
        assert user.history().count(WHO) >= 1


@pytest.mark.spark
def test_kill_9_of_the_serving_spark_thrift_server(start_topology, spark_factory, zk_namespace):
    servers = spark_factory("spark-a", "spark-b", namespace=zk_namespace)
    topology = start_topology()
    users = sign_in(topology)
    first = [user.execute("SELECT 1") for user in users]
    serving = {snippet["result"]["handle"]["hive_ha_server"] for snippet in first}
    assert len(serving) == 1, serving
    for user, snippet in zip(users, first):
        user.wait(snippet)
        assert user.fetch_result_data(snippet)["data"] == [[1]]
    victim = next(s for s in servers if s.address in serving)
    survivor = next(s for s in servers if s is not victim)
    victim.kill()
    for n in (2, 3):
        assert everyone(users, f"SELECT {n}") == [[[n]]] * len(users)
    snippet = users[0].execute("SELECT 4")
    assert snippet["result"]["handle"]["hive_ha_server"] == survivor.address
