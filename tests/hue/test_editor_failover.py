"""The SQL editor inside real Hue (Hue's notebook API views, ``get_api``, ``HS2Api``, ``dbms``, thrift pool, Session
rows) against HiveServer2-protocol servers registered in a real ZooKeeper: what every user gets when a server dies,
restarts, or hands over."""
import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hive_ha.testing.waiting import wait_until
from hue_integration import sessions
from hue_integration.notebook_api import SERVER_KEY
from tests.hue.editor import EXPIRED, QUERY_ERROR, EditorError

pytestmark = pytest.mark.django_db(transaction=True)

WHO = "select current_server()"


def crash(server, registration):
    """kill -9 as ZooKeeper sees it: the socket dies, the znode lingers until the server's session expires."""
    server.kill()
    registration.crash()


def generation(integration):
    return integration.discovery.cache.generation(integration.config.hive_service)


def rows_of(user_sessions, server):
    return [s for s in user_sessions if sessions.server_of(s) == server.address]


def proxy_users(server):
    """Whom the server's open sessions are for (Hue connects as its auth user and names the editor's user)."""
    return sorted(s.config.get("hive.server2.proxy.user") for s in server.sessions)


def session_rows(username):
    from beeswax.models import Session

    return list(Session.objects.filter(owner__username=username))


def test_every_user_continues_on_the_other_server_with_one_new_session(pair, editors):
    a, b, reg_a, _, integration = pair()
    alice, bob = editors("alice", "bob")
    for editor in (alice, bob):
        editor.create_session()
        assert editor.run(WHO) == [["hs2-a"]]
    crash(a, reg_a)
    for _ in range(3):  # the editor keeps sending the dead session's id
        assert alice.run(WHO) == [["hs2-b"]]
        assert bob.run(WHO) == [["hs2-b"]]
    assert generation(integration) == 1
    assert integration.invalidator.idle(30)  # the dead server's rows, off the requests
    # One new HiveServer2 session per user on hs2-b, used by every statement (Hue alone: one per statement).
    assert proxy_users(b) == ["alice", "bob"]
    for name, editor in (("alice", alice), ("bob", bob)):
        rows = session_rows(name)
        assert len(rows_of(rows, b)) == 1
        dead = next(s for s in rows if s.id == editor.session_id())
        assert sessions.server_of(dead) == a.address and dead.status_code == sessions.INVALID_HANDLE_STATUS
    assert not [slot for clients in integration.dbms.DBMS_CACHE.values() for slot in clients
                if getattr(slot, "port", None) == a.port]  # nobody is bound to the dead server


def test_a_running_query_on_the_dead_server_gets_a_clear_message(pair, editors):
    a, b, reg_a, _, integration = pair()
    a.running_polls = 1000  # still running when hs2-a dies
    (alice,) = editors("alice")
    alice.create_session()
    snippet = alice.execute(WHO)
    assert snippet["result"]["handle"][SERVER_KEY] == a.address  # where the operation lives
    assert alice.check_status(snippet)["status"] == "running"
    crash(a, reg_a)
    with pytest.raises(EditorError) as lost:
        alice.check_status(snippet)
    assert lost.value.status == EXPIRED
    assert a.address in lost.value.message and b.address in lost.value.message
    assert "run the query again" in lost.value.message
    with pytest.raises(EditorError) as again:  # later polls and fetches are never re-run on hs2-b
        alice.fetch_result_data(snippet)
    assert again.value.status == EXPIRED and a.address in again.value.message
    assert b.call_count("GetOperationStatus") == 0 and b.call_count("FetchResults") == 0
    assert alice.run(WHO) == [["hs2-b"]]  # the user's next query
    assert generation(integration) == 1


def test_a_write_whose_fate_is_unknown_is_not_rerun(pair, editors):
    a, b, reg_a, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a"]]
    a.refuse()  # no new connections; the pooled one still works ...
    a.drop_statement("insert into")  # ... and breaks once the statement arrived: did it run? Nobody knows.
    with pytest.raises(EditorError) as failed:
        alice.execute("insert into t values (1)")
    assert failed.value.status == QUERY_ERROR
    assert a.address in failed.value.message and b.address in failed.value.message
    assert "may not have completed" in failed.value.message
    assert not [s for s in b.statements if "insert" in s.lower()]
    assert generation(integration) == 1
    assert alice.run(WHO) == [["hs2-b"]]  # the user's next try


def test_a_read_whose_fate_is_unknown_is_run_again_elsewhere(pair, editors):
    a, b, reg_a, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a"]]
    a.refuse()
    a.drop_statement("read_twice")  # Hue's USE goes through, then the SELECT breaks the connection
    read = "select 'read_twice'"  # literals and built-ins only: provably read-only
    assert alice.run(read) == [["read_twice"]]  # no error: reading twice changes nothing
    assert [s for s in b.statements if "read_twice" in s] == [read]  # ... and hs2-b ran it
    assert generation(integration) == 1
    assert alice.run(WHO) == [["hs2-b"]]


def test_a_query_calling_a_function_not_known_to_be_pure_is_not_rerun(pair, editors):
    a, b, reg_a, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a"]]
    a.refuse()
    a.drop_statement("current_server")
    with pytest.raises(EditorError) as failed:  # to Hive, current_server() is a user function: it might write
        alice.execute(WHO)
    assert failed.value.status == QUERY_ERROR and "may not have completed" in failed.value.message
    assert not [s for s in b.statements if "current_server" in s]
    assert alice.run(WHO) == [["hs2-b"]]  # the user's next try


def test_safe_calls_are_retried(pair, editors):
    a, b, reg_a, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    crash(a, reg_a)
    assert "default" in alice.autocomplete()["databases"]
    session = alice.create_session()  # Hue alone swallows the error and answers id None
    assert session["id"] is not None
    assert [sessions.server_of(s) for s in session_rows("alice") if s.id == session["id"]] == [b.address]
    assert generation(integration) == 1


def test_no_server_left_reaches_the_editor_as_an_error(pair, editors):
    a, b, _, _, _ = pair()
    (alice,) = editors("alice")
    alice.create_session()
    a.kill()
    b.kill()
    with pytest.raises(EditorError) as failed:
        alice.execute(WHO)
    assert failed.value.status == QUERY_ERROR and "went away" in failed.value.message
    with pytest.raises(EditorError) as none_left:
        alice.execute(WHO)
    assert "no HiveServer2 endpoint available" in none_left.value.message


def test_query_errors_pass_through_untouched(pair, editors):
    _, _, _, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    with pytest.raises(EditorError) as failed:
        alice.execute("selec broken")
    assert failed.value.status == QUERY_ERROR and "ParseException" in failed.value.message
    assert generation(integration) == 0


def test_http_transport_fails_over_too(pair, editors):
    a, b, reg_a, _, integration = pair(transport="http")
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a"]]
    crash(a, reg_a)
    assert alice.run(WHO) == [["hs2-b"]]
    assert generation(integration) == 1


def test_zookeeper_down_keeps_the_last_known_servers_without_a_zookeeper_client(
        enable, editors, zk_server_factory, registrar_factory, hs2_server_factory, zk_namespace):
    from kazoo.client import KazooClient

    zk = zk_server_factory()
    registrar = registrar_factory(zk.hosts)
    a = hs2_server_factory("hs2-a", host="127.0.0.1")
    b = hs2_server_factory("hs2-b", host="127.0.0.2")
    registrations = [registrar.register(s.host, s.port, namespace=zk_namespace) for s in (a, b)]
    integration = enable(zk_namespace, ensemble=zk.hosts)
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run(WHO) == [["hs2-a"]]
    for registration in registrations:
        registration.crash()
    zk.stop()
    service = integration.config.hive_service
    wait_until(lambda: integration.discovery.cache.snapshot(service).stale, 30, message="the watcher saw ZooKeeper go")

    created = []
    original_init = KazooClient.__init__

    def counting_init(self, *args, **kwargs):
        created.append(threading.current_thread().name)
        original_init(self, *args, **kwargs)

    KazooClient.__init__ = counting_init  # instrumentation: count clients made while the editor runs
    try:
        assert alice.run(WHO) == [["hs2-a"]]
        a.kill()  # a failover still works from what was last known
        assert alice.run(WHO) == [["hs2-b"]]
    finally:
        KazooClient.__init__ = original_init
    assert created == []  # Hue alone: one ZooKeeper client per lookup, each blocking 30 s here


@pytest.mark.server_database  # 50 users at once, each request one transaction: not on sqlite (docs/hue.md)
def test_fifty_users_one_crash(pair, editors):
    """50 users with running queries on hs2-a, which is killed hard. Concurrently every user's running query gets the
    clear message, a safe call succeeds, and a new query runs on hs2-b; exactly one reselection; no deadlock."""
    from django.db import connection

    a, b, reg_a, _, integration = pair()
    a.running_polls = 10000
    users = editors(*[f"user{i:02d}" for i in range(50)])
    running = []
    for editor in users:
        editor.create_session()
        running.append(editor.execute(WHO))
    assert {s["result"]["handle"][SERVER_KEY] for s in running} == {a.address}
    crash(a, reg_a)

    def one_user(i):
        editor = users[i]
        try:
            try:
                editor.check_status(running[i])
                lost = None
            except EditorError as exc:
                lost = (exc.status, exc.message)
            return lost, editor.autocomplete()["databases"], editor.run(WHO, timeout=60)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one_user, range(50), timeout=300))
    for lost, databases, rows in results:
        assert lost is not None and lost[0] == EXPIRED and a.address in lost[1] and b.address in lost[1]
        assert "default" in databases
        assert rows == [["hs2-b"]]
    assert generation(integration) == 1
    assert b.call_count("GetOperationStatus") == 50  # the new queries' polls; none for hs2-a's handles
    assert len(b.sessions) == 50  # one new session per user


def test_rolling_restart_keeps_running_queries_and_moves_new_ones(pair, editors):
    """A server deregistered while alive (``hiveserver2 --deregister``): its running queries finish and are fetched
    from it; new statements go to the other server; nobody sees an error."""
    a, b, reg_a, _, integration = pair()
    a.running_polls = 3
    alice, bob = editors("alice", "bob")
    for editor in (alice, bob):
        editor.create_session()
    running = alice.execute(WHO)
    assert running["result"]["handle"][SERVER_KEY] == a.address
    reg_a.deregister()
    service = integration.config.hive_service
    wait_until(lambda: [e.address for e in integration.discovery.cache.snapshot(service).endpoints] == [b.address],
               15, message="discovery saw hs2-a deregister")
    alice.wait(running)
    assert [list(r) for r in alice.fetch_result_data(running)["data"]] == [["hs2-a"]]
    assert alice.run(WHO) == [["hs2-b"]]
    assert bob.run(WHO) == [["hs2-b"]]
    assert integration.discovery.cache.failover_counts() == {}  # nothing failed


def test_llap_active_passive_leader_flip(enable, editors, zk_namespace, registrar, hs2_server_factory):
    a = hs2_server_factory("hsi-a", host="127.0.0.1")
    b = hs2_server_factory("hsi-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, layout="hsi-ha", namespace=zk_namespace, active=True)
    reg_b = registrar.register(b.host, b.port, layout="hsi-ha", namespace=zk_namespace, active=False)
    integration = enable(None, hive=False, llap=zk_namespace, llap_ha=True)
    alice, bob = editors("alice", "bob", dialect="llap")
    for editor in (alice, bob):
        editor.create_session()
        assert editor.run(WHO) == [["hsi-a"]]
    registrar.make_active(reg_b)  # hsi-a steps down to passive, hsi-b becomes the leader
    service = integration.config.llap_service
    wait_until(lambda: [e.address for e in integration.discovery.cache.snapshot(service).candidates] == [b.address],
               15, message="discovery saw the new leader")
    assert alice.run(WHO) == [["hsi-b"]]
    assert bob.run(WHO) == [["hsi-b"]]
    assert proxy_users(b) == ["alice", "bob"]
    del reg_a


def test_reset_ha_reports_only_a_server_that_refuses_connections(pair):
    """Hue calls reset_ha() without saying which server failed, sometimes late: it must never exclude the server
    that already took over, and never make the request wait for a probe."""
    from beeswax.server import dbms

    a, b, _, _, integration = pair()
    integration.discovery.endpoint(integration.config.hive_service)
    dbms.reset_ha()
    assert integration.discovery.prober.idle(10) and generation(integration) == 0  # hs2-a answers: nothing to report
    a.kill()
    dbms.reset_ha()
    assert integration.discovery.prober.idle(10) and generation(integration) == 1
    assert integration.discovery.endpoint(integration.config.hive_service).address == b.address
    dbms.reset_ha()  # late, once more: hs2-b is alive and stays chosen
    assert integration.discovery.prober.idle(10) and generation(integration) == 1


def test_per_user_policy_spreads_users_as_every_hue_process_would(enable, editors, zk_namespace, registrar,
                                                                   hs2_server_factory):
    from hive_ha.core.selection import PerUser

    servers = [hs2_server_factory(f"hs2-{i}", host=f"127.0.0.{i + 1}") for i in range(3)]
    for server in servers:
        registrar.register(server.host, server.port, namespace=zk_namespace)
    integration = enable(zk_namespace, selection_policy="per_user")
    names = [f"user{i}" for i in range(9)]
    answered = {}
    for name, editor in zip(names, editors(*names)):
        editor.create_session()
        answered[name] = editor.run(WHO)[0][0]
    assert len(set(answered.values())) > 1
    snapshot = integration.discovery.cache.snapshot(integration.config.hive_service)
    by_port = {s.port: s.name for s in servers}
    assert answered == {name: by_port[PerUser().pick(snapshot.endpoints, name).port] for name in names}


def test_the_editor_lookup_form_is_answered_by_hive_ha(pair):
    """Hue's editor passes its interpreter dict as ``connector`` on every call; with the connectors feature off Hue
    resolves by name, and so must hive-ha (Hue's original would open a ZooKeeper client per call)."""
    from beeswax.server import dbms
    from notebook.conf import get_ordered_interpreters

    a, _, _, _, integration = pair()
    interpreter = next(i for i in get_ordered_interpreters() if i["type"] == "hive")
    before = integration.lookups().get(str(integration.config.hive_service), 0)
    query_server = dbms.get_query_server_config(name="beeswax", connector=copy.deepcopy(interpreter))
    assert (query_server["server_host"], query_server["server_port"]) == (a.host, a.port)
    assert integration.lookups()[str(integration.config.hive_service)] == before + 1
