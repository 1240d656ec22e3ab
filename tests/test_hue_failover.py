"""The client reset at the Notebook-API level, through the Hue 4.11 stand-in's ``HS2Api``, with a real
ZooKeeper and HiveServer2-protocol servers: what each kind of editor call does when its server dies."""
import copy

import pytest

from beeswax.models import Session
from hive_ha.testing.waiting import wait_until
from hue_integration import install, sessions
from hue_integration.notebook_api import SERVER_KEY
from notebook.connectors.base import QueryError, QueryExpired
from notebook.connectors.hiveserver2 import HS2Api
from tests._hue_fixtures import enable_discovery, notebook_for, run, snippet_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hue")]


@pytest.fixture
def pair(hue, zk_server, zk_namespace, registrar, hs2_server_factory):
    """Two servers registered (hs2-a the oldest, so chosen first) and hive-ha installed."""
    def make(**opts):
        a = hs2_server_factory("hs2-a", host="127.0.0.1", **opts)
        b = hs2_server_factory("hs2-b", host="127.0.0.2", **opts)
        extra = {"transport_mode": "http", "http_port": None} if opts.get("transport") == "http" else {}
        regs = []
        for server in (a, b):
            if extra:
                extra["http_port"] = server.port
            regs.append(registrar.register(server.host, server.port, namespace=zk_namespace, **extra))
        enable_discovery(hue, zk_server, zk_namespace)
        integration = install.install_if_enabled()
        return a, b, regs[0], integration
    yield make
    install.uninstall()


def generation(integration):
    return integration.discovery.cache.generation(integration.config.hive_service)


def crash(server, registration):
    server.kill()
    registration.crash()  # the znode lingers until its session expires: ZooKeeper does not know yet


def start_query(api, notebook, statement="select current_server()"):
    handle = api.execute(notebook, snippet_for(statement))
    return snippet_for(statement, handle)


def test_new_query_after_a_crash_is_transparent_and_reuses_one_new_session(users, pair):
    a, b, reg_a, integration = pair()
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    assert run(alice, notebook, "select current_server()") == [["hs2-a"]]
    crash(a, reg_a)
    for _ in range(5):  # the editor keeps sending the dead session's id (a fresh copy per request)
        assert run(alice, copy.deepcopy(notebook), "select current_server()") == [["hs2-b"]]
    assert generation(integration) == 1
    # One new HiveServer2 session for alice on hs2-b, used by every statement (Hue 4.11: one per statement).
    assert len(b.sessions) == 1
    on_b = [s for s in Session.objects.filter(owner=users[0]) if sessions.server_of(s) == b.address]
    assert len(on_b) == 1 and on_b[0].status_code == 0
    dead = Session.objects.get(id=notebook["sessions"][0]["id"])
    assert dead.status_code == sessions.INVALID_HANDLE_STATUS


def test_a_running_query_on_the_dead_server_gets_a_clear_message(users, pair):
    a, b, reg_a, integration = pair()
    a.running_polls = 1000  # still running when hs2-a dies
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    snippet = start_query(alice, notebook)
    assert snippet["result"]["handle"][SERVER_KEY] == a.address  # where the operation lives
    assert alice.check_status(notebook, snippet)["status"] == "running"
    crash(a, reg_a)
    with pytest.raises(QueryExpired) as lost:
        alice.check_status(notebook, snippet)
    assert a.address in lost.value.message and b.address in lost.value.message
    assert "run the query again" in lost.value.message
    # Later polls and fetches of that handle are never re-run on hs2-b.
    with pytest.raises(QueryExpired) as again:
        alice.fetch_result(notebook, snippet, 100, True)
    assert a.address in again.value.message
    assert b.call_count("GetOperationStatus") == 0 and b.call_count("FetchResults") == 0
    assert alice.close_statement(notebook, snippet)["status"] == -1  # nothing to close: it ended with hs2-a
    assert generation(integration) == 1


def test_a_statement_that_reached_the_dead_server_is_not_rerun(users, pair):
    a, b, reg_a, integration = pair()
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    assert run(alice, notebook, "select 1") == [[1]]
    a.refuse()  # no new connections; the pooled one still works ...
    a.drop_next("ExecuteStatement")  # ... and breaks once the statement has arrived
    with pytest.raises(QueryError) as failed:
        alice.execute(notebook, snippet_for("select current_server()"))
    message = failed.value.message
    assert a.address in message and b.address in message and "run it again" in message
    assert b.call_count("ExecuteStatement") == 0
    assert generation(integration) == 1
    assert run(alice, notebook, "select current_server()") == [["hs2-b"]]  # the user's next try


def test_safe_calls_are_retried_after_any_connection_failure(users, pair):
    a, b, reg_a, integration = pair()
    alice = HS2Api(users[0])
    notebook_for(alice.create_session(lang="hive"))
    crash(a, reg_a)
    databases = alice.autocomplete(snippet_for(""))
    assert "default" in databases["databases"]
    assert b.call_count("GetSchemas") + b.call_count("ExecuteStatement") >= 1
    # create_session: Hue swallows the error and answers id None; with hive-ha it is retried.
    reply = alice.create_session(lang="hive")
    assert reply["id"] is not None
    assert sessions.server_of(Session.objects.get(id=reply["id"])) == b.address
    assert generation(integration) == 1


def test_no_server_left_reaches_the_editor_as_a_query_error(users, pair):
    a, b, reg_a, integration = pair()
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    a.kill()
    b.kill()
    with pytest.raises(QueryError) as failed:
        alice.execute(notebook, snippet_for("select 1"))
    assert "went away" in failed.value.message
    with pytest.raises(QueryError) as none_left:
        alice.execute(notebook, snippet_for("select 1"))
    assert "no HiveServer2 endpoint available" in none_left.value.message


def test_query_errors_pass_through_untouched(users, pair):
    a, b, reg_a, integration = pair()
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    with pytest.raises(QueryError, match="ParseException"):
        alice.execute(notebook, snippet_for("selec broken"))
    assert generation(integration) == 0


def test_http_transport_fails_over_too(users, pair):
    a, b, reg_a, integration = pair(transport="http")
    alice = HS2Api(users[0])
    notebook = notebook_for(alice.create_session(lang="hive"))
    assert run(alice, notebook, "select current_server()") == [["hs2-a"]]
    crash(a, reg_a)
    assert run(alice, notebook, "select current_server()") == [["hs2-b"]]
    assert generation(integration) == 1


def test_zookeeper_down_keeps_the_last_known_servers(hue, users, zk_server_factory, registrar_factory,
                                                     hs2_server_factory, zk_namespace):
    zk = zk_server_factory()
    registrar = registrar_factory(zk.hosts)
    a = hs2_server_factory("hs2-a", host="127.0.0.1")
    b = hs2_server_factory("hs2-b", host="127.0.0.2")
    registrations = [registrar.register(s.host, s.port, namespace=zk_namespace) for s in (a, b)]
    enable_discovery(hue, zk, zk_namespace)
    integration = install.install_if_enabled()
    try:
        alice = HS2Api(users[0])
        notebook = notebook_for(alice.create_session(lang="hive"))
        assert run(alice, notebook, "select current_server()") == [["hs2-a"]]
        for registration in registrations:
            registration.crash()  # the servers' own ZooKeeper sessions end with the ensemble, unclosed
        zk.stop()
        service = integration.config.hive_service
        wait_until(lambda: integration.discovery.endpoints(service).stale, 30, "the watcher noticed ZooKeeper left")
        assert run(alice, notebook, "select current_server()") == [["hs2-a"]]
        a.kill()  # and a failover still works from what was last known
        assert run(alice, notebook, "select current_server()") == [["hs2-b"]]
    finally:
        install.uninstall()


@pytest.mark.django_db(transaction=True)  # the users' threads need to see each other's rows
def test_fifty_users_one_crash(hue, django_user_model, pair):
    """50 users with open sessions and running queries on hs2-a; hs2-a is killed hard. Concurrently, every
    user's running query gets the clear message, a safe call succeeds transparently and a new query
    runs on hs2-b; exactly one reselection; nothing deadlocks."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    a, b, reg_a, integration = pair()
    a.running_polls = 10000  # hs2-a's queries are still running when it dies
    users = [django_user_model.objects.create_user(username=f"user{i:02d}", password="x") for i in range(50)]
    apis = [HS2Api(user) for user in users]
    notebooks = [notebook_for(api.create_session(lang="hive")) for api in apis]
    running = [start_query(api, nb) for api, nb in zip(apis, notebooks)]
    assert {s["result"]["handle"][SERVER_KEY] for s in running} == {a.address}
    crash(a, reg_a)

    def user_session(i):
        api, notebook = apis[i], copy.deepcopy(notebooks[i])
        try:
            try:
                api.check_status(notebook, running[i])
                lost = None
            except QueryExpired as exc:
                lost = exc.message
            databases = api.autocomplete(snippet_for(""))["databases"]
            return lost, databases, run(api, notebook, "select current_server()")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(user_session, range(50), timeout=120))
    for lost, databases, rows in results:
        assert lost is not None and a.address in lost and b.address in lost
        assert "default" in databases
        assert rows == [["hs2-b"]]
    assert generation(integration) == 1
    assert b.call_count("GetOperationStatus") == 50  # the new queries' polls; none for hs2-a's handles


def test_reset_ha_reports_only_a_server_that_refuses_connections(users, pair):
    """Hue calls reset_ha() without saying which server failed, sometimes late: it must never exclude
    the server that already took over."""
    from beeswax.server import dbms

    a, b, reg_a, integration = pair()
    dbms.reset_ha()
    assert generation(integration) == 0  # hs2-a answers: nothing to report
    a.kill()
    dbms.reset_ha()
    assert generation(integration) == 1
    assert integration.discovery.endpoint(integration.config.hive_service).address == b.address
    dbms.reset_ha()  # late, once more: hs2-b is alive and stays chosen
    assert generation(integration) == 1
