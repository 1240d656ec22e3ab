"""Gray failures inside real Hue (issue 17): a paused, hung or slow HiveServer2 is late, not dead. Hue's notebook API
views, ``HS2Api``, ``dbms``, its Thrift pool and Session rows, against HiveServer2-protocol servers registered in a real
ZooKeeper; Hue's own ``[beeswax] server_conn_timeout`` bounds every call.

What a user must see: polls of a late server answered with the last known state ("running"), never "results lost"
unless the server is dead; no call blocked for more than one timeout (Hue alone waits three); new work elsewhere
meanwhile; and, for a server that stops answering for good, one clear "lost" message once ``dead_after`` has passed.
"""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hive_ha.core.health import Evidence, State
from hive_ha.testing.waiting import wait_until
from hue_integration import sessions
from hue_integration.notebook_api import REGISTRATION_KEY, SERVER_KEY
from tests.hue.editor import EXPIRED, QUERY_ERROR, EditorError

pytestmark = pytest.mark.django_db(transaction=True)

WHO = "select current_server()"
TIMEOUT = 2  # [beeswax] server_conn_timeout for these tests, seconds
#: Fast probes, so a server that answers again is seen at once (the defaults are 1 s and 5 s).
PROBES = {"probe_interval": "0.2", "probe_timeout": "1"}
#: What the prober adds to dead_after at most: the first probe after the call that timed out, and the next one
#: (each within probe_timeout), and a second of scheduling.
PROBE_SLACK = 2 * float(PROBES["probe_timeout"]) + 1


@pytest.fixture
def gray(hue, pair):
    """``gray(**hive_ha_keys) -> (hs2-a, hs2-b, registration of a, integration)`` with Hue's server_conn_timeout set
    to ``TIMEOUT`` as an admin sets it in hue.ini."""
    from beeswax import conf as beeswax_conf

    hue(beeswax_conf.SERVER_CONN_TIMEOUT, TIMEOUT)
    made = []

    def make(**keys):
        a, b, reg_a, _, integration = pair(**dict(PROBES, **keys))
        made.append(a)
        return a, b, reg_a, integration

    yield make
    for server in made:
        server.unhang()  # a hung server's threads are released before the fixtures stop it


def state_of(integration, server):
    service = integration.config.hive_service
    serving = integration.discovery.cache.serving(service, server.address)
    return serving[1].state if serving else None


def rows_of(username):
    from beeswax.models import Session

    return {(s.id, s.status_code) for s in Session.objects.filter(owner__username=username)}


def timed(call, *args):
    started = time.monotonic()
    try:
        return call(*args), time.monotonic() - started
    except EditorError as exc:
        return exc, time.monotonic() - started


def during_pause(seconds, poll, other_user_call):
    """Poll ``poll()`` for ``seconds`` while another user makes ``other_user_call()`` once, at the same time; returns
    every poll's (answer, seconds) and the other call's (answer, seconds)."""
    ends = time.monotonic() + seconds
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(timed, other_user_call)
        polls = []
        while time.monotonic() < ends:
            polls.append(timed(poll))
        return polls, other.result(120)


def answered_running_within(polls, timeout):
    """Every poll answered the last known state, none blocked more than one timeout (Hue alone: 3 x timeout)."""
    assert [answer for answer, _ in polls] == [{"status": "running"}] * len(polls), polls
    assert max(seconds for _, seconds in polls) < 2 * timeout, polls


@pytest.mark.server_database  # two users' requests at once
def test_a_paused_server_is_late_not_dead(gray, editors):
    a, b, _, integration = gray()
    alice, bob = editors("alice", "bob")
    alice.create_session()
    bob.create_session()
    assert bob.run(WHO) == [["hs2-a"]]
    a.running_polls = 4  # alice's query is still running when hs2-a pauses
    snippet = alice.execute(WHO)
    assert snippet["result"]["handle"][SERVER_KEY] == a.address and snippet["result"]["handle"][REGISTRATION_KEY]
    assert alice.check_status(snippet)["status"] == "running"
    alice_rows = rows_of("alice")

    a.hang()  # a stop-the-world pause: connections are accepted, nothing is answered
    polls, (bobs_rows, bobs_seconds) = during_pause(2.5 * TIMEOUT, lambda: alice.check_status(snippet),
                                                    lambda: bob.run("select current_server()"))
    assert state_of(integration, a) is State.SUSPECT
    a.unhang()

    answered_running_within(polls, TIMEOUT)
    # Another user's new statement ran on the other server, after at most one timeout on the paused one.
    assert bobs_rows == [["hs2-b"]] and bobs_seconds < 2 * TIMEOUT + 3, bobs_seconds
    # After the pause alice's query is polled to the end and fetched, with no error, no new session, nothing invalid.
    alice.wait(snippet)
    assert alice.fetch_result_data(snippet)["data"] == [["hs2-a"]]
    assert rows_of("alice") == alice_rows
    assert {status for _, status in rows_of("bob")} == {0}  # bob's sessions stayed valid, on hs2-a too
    wait_until(lambda: state_of(integration, a) is State.UP, 10, message="hs2-a never came back up")
    assert integration.discovery.cache.failovers() == []  # nobody was moved for good
    # After the pause every call succeeds, on the server each user had.
    assert alice.run(WHO) == [["hs2-a"]] and bob.run(WHO) == [["hs2-a"]]


def test_a_server_that_hangs_for_good_is_declared_dead_and_its_users_told_once(gray, editors):
    dead_after = 3
    a, b, _, integration = gray(dead_after=dead_after)
    alice, bob = editors("alice", "bob")
    alice.create_session()
    bob.create_session()
    a.running_polls = 100000
    snippet = alice.execute(WHO)
    assert alice.check_status(snippet)["status"] == "running"
    a.hang()  # and never again
    hung_at = time.monotonic()
    answers = []
    while True:
        answer, seconds = timed(alice.check_status, snippet)
        answers.append((answer, seconds))
        if isinstance(answer, EditorError):
            break
        assert answer == {"status": "running"}
        assert time.monotonic() - hung_at < dead_after + 10 * TIMEOUT, "never declared dead"
    lost = answers[-1][0]
    assert lost.status == EXPIRED and a.address in lost.message and b.address in lost.message
    assert "run the query again" in lost.message
    assert max(seconds for _, seconds in answers) < 2 * TIMEOUT, answers
    assert state_of(integration, a) is State.DEAD
    with pytest.raises(EditorError) as again:  # nothing of that query is sent anywhere else
        alice.fetch_result_data(snippet)
    assert again.value.status == EXPIRED
    assert b.call_count("GetOperationStatus") == 0 and b.call_count("FetchResults") == 0
    # New statements run elsewhere; the dead server's sessions are invalid; every user has one session on hs2-b.
    assert alice.run(WHO) == [["hs2-b"]] and bob.run(WHO) == [["hs2-b"]]
    from beeswax.models import Session

    on_a = [s for s in Session.objects.all() if sessions.server_of(s) == a.address]
    wait_until(lambda: all(Session.objects.get(id=s.id).status_code == sessions.INVALID_HANDLE_STATUS for s in on_a),
               10, message="the dead server's sessions were not invalidated")
    assert sorted(s.config.get("hive.server2.proxy.user") for s in b.sessions) == ["alice", "bob"]


def test_a_slow_compile_is_not_a_death(gray, editors):
    a, b, _, integration = gray()
    alice, bob = editors("alice", "bob")
    alice.create_session()
    bob.create_session()
    assert alice.run(WHO) == [["hs2-a"]] and bob.run(WHO) == [["hs2-a"]]
    a.running_polls = 3
    bobs = bob.execute(WHO)  # running on hs2-a meanwhile
    a.slow_statement("insert into t", 3 * TIMEOUT)  # compiles for longer than the timeout; hs2-a answers the rest
    failed, seconds = timed(alice.execute, "insert into t values (1)")
    assert isinstance(failed, EditorError) and failed.status == QUERY_ERROR, failed
    assert a.address in failed.message and "may still be running" in failed.message
    assert seconds < 2 * TIMEOUT
    assert not [s for s in b.statements if "insert" in s.lower()]  # a write is never re-run
    wait_until(lambda: state_of(integration, a) is State.UP, 10, message="hs2-a is answering but not back up")
    # Nobody else is affected: bob's running query goes on, nothing was dropped or invalidated, no failover.
    bob.wait(bobs)
    assert bob.fetch_result_data(bobs)["data"] == [["hs2-a"]]
    assert integration.discovery.cache.failovers() == []
    assert integration.discovery.cache.transition_counts().get((str(integration.config.hive_service), "up",
                                                               "dead")) is None
    assert {status for _, status in rows_of("bob") | rows_of("alice")} == {0}
    assert alice.run(WHO) == [["hs2-a"]]
    wait_until(lambda: any("insert into t" in s for s in a.statements), 3 * TIMEOUT + 5)  # it did run there, once
    assert len([s for s in a.statements if "insert into t" in s]) == 1


def test_a_read_in_flight_when_its_server_pauses_completes_on_one_server(gray, editors):
    """The handle, the session and the polls of a statement always end up on the same server."""
    a, b, _, integration = gray()
    (bob,) = editors("bob")
    bob.create_session()
    assert bob.run(WHO) == [["hs2-a"]]
    a.hang()  # hs2-a pauses before anybody noticed: bob's next statement is sent to it and gets no answer
    snippet, seconds = timed(bob.execute, WHO)
    assert not isinstance(snippet, EditorError), snippet
    assert snippet["result"]["handle"][SERVER_KEY] == b.address and seconds < 2 * TIMEOUT + 3
    bob.wait(snippet)
    assert bob.fetch_result_data(snippet)["data"] == [["hs2-b"]]
    # Everything of that statement happened on hs2-b, in bob's own session there.
    assert [s.config.get("hive.server2.proxy.user") for s in b.sessions] == ["bob"]
    assert b.call_count("ExecuteStatement") >= 1 and b.call_count("GetOperationStatus") >= 1
    a.unhang()


def test_a_suspect_server_whose_registration_leaves_zookeeper_is_dead(gray, editors):
    a, b, reg_a, integration = gray()
    (alice,) = editors("alice")
    alice.create_session()
    a.running_polls = 100000
    snippet = alice.execute(WHO)
    a.hang()
    assert alice.check_status(snippet) == {"status": "running"}  # timed out: the prober asks hs2-a ...
    wait_until(lambda: state_of(integration, a) is State.SUSPECT, 10)  # ... and gets no answer either
    reg_a.deregister()  # gone from ZooKeeper, and no answer: dead
    wait_until(lambda: state_of(integration, a) is State.DEAD, 15, message="not declared dead")
    with pytest.raises(EditorError) as lost:
        alice.check_status(snippet)
    assert lost.value.status == EXPIRED and b.address in lost.value.message


def test_a_restarted_server_is_not_punished_for_its_old_registration(gray, editors, registrar, zk_namespace):
    a, b, reg_a, integration = gray()
    (alice,) = editors("alice")
    alice.create_session()
    a.running_polls = 100000
    old = alice.execute(WHO)
    service = integration.config.hive_service
    old_endpoint = integration.discovery.cache.serving(service, a.address)[0]
    a.kill()  # the server restarts at the same address and registers anew; its old znode lingers for a while
    a.resume()
    new_reg = registrar.register(a.host, a.port, namespace=zk_namespace)
    wait_until(lambda: len(integration.discovery.cache.snapshot(service).endpoints) == 3, 15)
    new_endpoint = next(e for e in integration.discovery.cache.snapshot(service).endpoints
                        if e.address == a.address and e.znode != old_endpoint.znode)
    # The old registration is dead (only one process can listen at an address) ...
    assert integration.discovery.health(service, old_endpoint).state is State.DEAD
    # ... and a late report about it (its last call had broken) leaves the new one alone: it is up and serves.
    integration.discovery.report(service, old_endpoint, Evidence.REFUSED)
    assert integration.discovery.health(service, new_endpoint).state is State.UP
    with pytest.raises(EditorError) as lost:  # the old registration's query is gone with it
        alice.check_status(old)
    assert lost.value.status == EXPIRED
    reg_a.deregister()
    wait_until(lambda: [e.znode for e in integration.discovery.cache.snapshot(service).endpoints
                        if e.address == a.address] == [new_endpoint.znode], 15)
    b.kill()  # the restarted server takes the work when the other one dies
    a.running_polls = 0
    assert alice.run(WHO) == [["hs2-a"]]
    assert integration.discovery.health(service, new_endpoint).state is State.UP
    del new_reg


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.server_database  # two users' requests at once
def test_a_paused_spark_thrift_server_keeps_its_running_query(hue, enable, editors, zk_namespace, spark_factory):
    """The issue's measurement, as a test: Spark Thrift Server (a real HiveServer2 JVM), alice's 20 s query on the
    first server, which is SIGSTOPped for 2.5 x server_conn_timeout and SIGCONTed; bob starts a statement during the
    pause."""
    from beeswax import conf as beeswax_conf

    timeout = 3
    hue(beeswax_conf.SERVER_CONN_TIMEOUT, timeout)
    servers = spark_factory("spark-a", "spark-b", namespace=zk_namespace)
    integration = enable(zk_namespace, **PROBES)
    alice, bob = editors("alice", "bob")
    alice.create_session()
    bob.create_session()
    assert bob.run("SELECT 1", timeout=120) == [[1]]
    snippet = alice.execute("SELECT java_method('java.lang.Thread', 'sleep', 20000L)")
    serving = snippet["result"]["handle"][SERVER_KEY]
    paused = next(s for s in servers if s.address == serving)
    other = next(s for s in servers if s is not paused)
    assert alice.check_status(snippet)["status"] == "running"
    alice_rows = rows_of("alice")

    paused.pause()
    try:
        polls, (bobs, bobs_seconds) = during_pause(2.5 * timeout, lambda: alice.check_status(snippet),
                                                   lambda: bob.execute("SELECT 2"))
    finally:
        paused.resume()
    answered_running_within(polls, timeout)
    assert not isinstance(bobs, EditorError), bobs
    assert bobs["result"]["handle"][SERVER_KEY] == other.address and bobs_seconds < timeout + 3, bobs_seconds
    bob.wait(bobs, timeout=120)
    assert bob.fetch_result_data(bobs)["data"] == [[2]]
    alice.wait(snippet, timeout=120)  # polled to the end ...
    assert alice.fetch_result_data(snippet)["data"] == [["null"]]  # ... and fetched (Thread.sleep returns void)
    assert rows_of("alice") == alice_rows  # no new session, nothing invalidated
    assert integration.discovery.cache.failovers() == []
    assert alice.run("SELECT 3", timeout=120) == [[3]]


def test_a_sigstopped_server_process_never_resumed_is_dead_after_dead_after(hue, enable, editors, zk_namespace,
                                                                             registrar, hs2_process_factory):
    """A real process stopped for good (SIGSTOP, never SIGCONT): its kernel still accepts connections, nothing answers.
    Its users are told once, within dead_after and a few seconds; new statements run elsewhere; no call blocks for
    more than one timeout."""
    from beeswax import conf as beeswax_conf

    hue(beeswax_conf.SERVER_CONN_TIMEOUT, TIMEOUT)
    a = hs2_process_factory("hs2-a", host="127.0.0.1", running_polls=100000)
    b = hs2_process_factory("hs2-b", host="127.0.0.2")
    for server in (a, b):
        registrar.register(server.host, server.port, namespace=zk_namespace)
    dead_after = 3
    integration = enable(zk_namespace, dead_after=dead_after, **PROBES)
    (alice,) = editors("alice")
    alice.create_session()
    snippet = alice.execute(WHO)
    assert snippet["result"]["handle"][SERVER_KEY] == a.address
    a.pause()
    stopped = time.monotonic()
    answers = []
    while not answers or not isinstance(answers[-1][0], EditorError):
        answers.append(timed(alice.check_status, snippet))
        assert time.monotonic() - stopped < dead_after + 10 * TIMEOUT, "never declared dead"
    told_after = time.monotonic() - stopped
    lost = answers[-1][0]
    assert lost.status == EXPIRED and a.address in lost.message and b.address in lost.message
    assert all(answer == {"status": "running"} for answer, _ in answers[:-1])
    assert max(seconds for _, seconds in answers) < 2 * TIMEOUT, answers
    assert told_after < dead_after + 2 * TIMEOUT + PROBE_SLACK, told_after
    assert state_of(integration, a) is State.DEAD
    assert alice.run(WHO) == [["hs2-b"]]
