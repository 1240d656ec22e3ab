"""Server health from evidence (hive_ha.core.health), the prober (hive_ha.core.prober) on a fake clock, and how
Discovery announces transitions (once, outside every lock), with the scripted in-memory ZooKeeper."""
import logging
import os
import threading

import pytest
from thrift.transport.TTransport import TTransportException

from hive_ha.core.attempts import Attempt, Phase
from hive_ha.core.backoff import Backoff
from hive_ha.core.discovery import Discovery
from hive_ha.core.failover import evidence_of
from hive_ha.core.health import UP, Evidence, Health, State, advance
from hive_ha.core.prober import Prober
from hive_ha.io.zookeeper import ZkSettings
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.testing.memory_zookeeper import MemoryPool, MemoryZooKeeper
from hive_ha.testing.waiting import wait_until
from tests.forking import fork_while_held

HS2 = Service.of("hs2", "/hiveserver2")
A = Endpoint("127.0.0.1", 10001, "/hiveserver2/serverUri=127.0.0.1:10001;sequence=0000000001", sequence=1)
B = Endpoint("127.0.0.1", 10002, "/hiveserver2/serverUri=127.0.0.1:10002;sequence=0000000002", sequence=2)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# -- the rules (pure) --------------------------------------------------------------------------------------------
SUSPECT = Health(State.SUSPECT, 990.0, Evidence.SLOW, "", 1)
DEAD = Health(State.DEAD, 990.0, Evidence.REFUSED, "", 1)


@pytest.mark.parametrize("before, evidence, now, after", [
    (UP, Evidence.ANSWERED, 1000, State.UP),
    (UP, Evidence.SLOW, 1000, State.SUSPECT),
    (UP, Evidence.BROKEN, 1000, State.SUSPECT),
    (UP, Evidence.REFUSED, 1000, State.DEAD),
    (UP, Evidence.GONE, 1000, State.UP),  # a rolling restart: it still answers
    (SUSPECT, Evidence.ANSWERED, 1000, State.UP),  # no fixed exclusion window
    (SUSPECT, Evidence.SLOW, 1019.9, State.SUSPECT),
    (SUSPECT, Evidence.SLOW, 1020, State.DEAD),  # dead_after (30 s) of silence
    (SUSPECT, Evidence.BROKEN, 1020, State.DEAD),
    (SUSPECT, Evidence.REFUSED, 991, State.DEAD),
    (SUSPECT, Evidence.GONE, 991, State.DEAD),  # gone and not answering
    (DEAD, Evidence.ANSWERED, 1000, State.UP),  # let back the moment it proves healthy
    (DEAD, Evidence.SLOW, 1000, State.DEAD),
    (DEAD, Evidence.GONE, 1000, State.DEAD),
])
def test_advance(before, evidence, now, after):
    assert advance(before, evidence, now, dead_after=30).state is after


def test_advance_counts_strikes_and_keeps_since():
    once = advance(UP, Evidence.SLOW, 1000, 30)
    twice = advance(once, Evidence.SLOW, 1010, 30)
    assert (twice.state, twice.since, twice.strikes) == (State.SUSPECT, 1000, 2)
    dead = advance(advance(UP, Evidence.REFUSED, 1000, 30), Evidence.REFUSED, 1005, 30)
    assert (dead.since, dead.strikes) == (1000, 2)
    assert advance(UP, Evidence.ANSWERED, 1000, 30) is UP  # nothing changed: the same object


# -- what an attempt says (one place) ------------------------------------------------------------------------------
def test_attempts_decide_reached_and_evidence():
    refused = TTransportException(type=TTransportException.NOT_OPEN, message="Could not connect to any of [...]")
    refused.__context__ = ConnectionRefusedError(111, "Connection refused")
    timeout = TTransportException(message="unexpected exception", inner=TimeoutError("timed out"))
    eof = TTransportException(type=TTransportException.END_OF_FILE, message="TSocket read 0 bytes")
    assert Attempt(A, "OpenSession", Phase.OPEN, refused).reached is False
    execute = Attempt(A, "ExecuteStatement", Phase.RECV, timeout, statement="insert into t values (1)")
    assert execute.reached and execute.may_have_run == "insert into t values (1)"
    assert Attempt(A, "ExecuteStatement", Phase.OPEN, timeout, statement="x").may_have_run is None
    assert [evidence_of(e) for e in (refused, timeout, eof)] == [Evidence.REFUSED, Evidence.SLOW, Evidence.BROKEN]
    assert Attempt(A, "GetOperationStatus").evidence is Evidence.ANSWERED
    assert evidence_of(ValueError("ParseException")) is None  # a query error says nothing of the server


def test_a_broken_connection_wins_over_a_later_refusal_in_one_chain():
    """Hue's Thrift wrapper retries a broken call on a new connection: the refusal it ends with must not hide that
    the first try sent the request (issue 17)."""
    refused = TTransportException(type=TTransportException.NOT_OPEN, message="Could not connect")
    refused.__context__ = TTransportException(type=TTransportException.END_OF_FILE, message="TSocket read 0 bytes")
    assert Attempt(A, "ExecuteStatement", Phase.SEND, refused, statement="insert").reached


# -- the prober on a fake clock ------------------------------------------------------------------------------------
class Server:
    """What a scripted server answers to probes: "answer", "refuse" or "silent"."""

    def __init__(self, mode="answer"):
        self.mode, self.probes = mode, 0

    def probe(self, endpoint, timeout):
        self.probes += 1
        if self.mode == "refuse":
            raise ConnectionRefusedError(111, "Connection refused")
        if self.mode == "silent":
            raise TTransportException(message="unexpected exception", inner=TimeoutError("timed out"))
        if self.mode == "local":
            raise FileNotFoundError(2, "No such file: /etc/hue/ca.pem")


def prober_for(discovery, server, clock, **kw):
    prober = Prober(server.probe, discovery.cache.unhealthy, discovery._probed, clock=clock, workers=0,  # noqa: SLF001
                    **kw)
    discovery.prober = prober
    return prober


@pytest.fixture
def discovery():
    """A Discovery over a scripted ZooKeeper holding A and B; its clock is ``discovery.test_clock``."""
    zk = MemoryZooKeeper()
    for endpoint in (A, B):
        zk.create(endpoint.znode, f"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.thrift.port={endpoint.port}"
                  .encode())
    clock = Clock()
    found = Discovery(ZkSettings(hosts="memory:2181"), pool=MemoryPool(zk.client()), clock=clock, dead_after=30,
                      debounce=0)
    found.test_clock = clock
    assert found.endpoint(HS2) == A
    yield found
    found.close()


def test_a_suspect_server_that_answers_a_probe_is_up_at_once(discovery):
    clock, server = discovery.test_clock, Server("silent")
    prober = prober_for(discovery, server, clock, interval=1.0)
    assert discovery.report(HS2, A, Evidence.SLOW, probed=True) == B
    prober.tick()
    assert server.probes == 1 and discovery.health(HS2, A).state is State.SUSPECT
    prober.tick()  # not due yet: probed every interval
    assert server.probes == 1
    clock.now += 1
    server.mode = "answer"
    prober.tick()
    assert discovery.health(HS2, A).state is State.UP and prober.results()[0].evidence == "answered"
    clock.now += 5
    prober.tick()
    assert server.probes == 2  # up: no more probes


def test_silence_for_dead_after_is_death_and_a_dead_server_is_probed_with_backoff(discovery):
    clock, server = discovery.test_clock, Server("silent")
    prober = prober_for(discovery, server, clock, interval=1.0, backoff=Backoff(base=5, maximum=20))
    seen = []
    discovery.subscribe(lambda t: seen.append((t.endpoint.port, str(t.before), str(t.after))))
    discovery.report(HS2, A, Evidence.SLOW, probed=True)
    for _ in range(30):
        prober.tick()
        clock.now += 1
    prober.tick()
    assert discovery.health(HS2, A).state is State.DEAD
    assert seen == [(10001, "up", "suspect"), (10001, "suspect", "dead")]
    probes = server.probes
    for _ in range(4):
        clock.now += 1
        prober.tick()
    assert server.probes == probes  # dead: the next probe after the backoff, not every second
    clock.now += 5
    server.mode = "answer"
    prober.tick()
    assert discovery.health(HS2, A).state is State.UP and seen[-1] == (10001, "dead", "up")


def test_a_refused_probe_is_death_and_a_local_failure_is_no_evidence(discovery, caplog):
    clock, server = discovery.test_clock, Server("local")
    prober = prober_for(discovery, server, clock)
    discovery.report(HS2, A, Evidence.BROKEN)
    with caplog.at_level(logging.WARNING, logger="hive_ha.core.prober"):
        prober.tick()
    assert discovery.health(HS2, A).state is State.SUSPECT and "on this side" in caplog.text
    clock.now += 1
    server.mode = "refuse"
    prober.tick()
    assert discovery.health(HS2, A).state is State.DEAD


def test_a_late_call_asks_the_prober_which_decides(discovery):
    """A call that times out on an up server (a long-polled status, a slow compile) says more about the call than
    about the server: the server is probed at once; an answer keeps it up, silence makes it suspect."""
    clock, server = discovery.test_clock, Server("answer")
    prober = prober_for(discovery, server, clock)
    assert discovery.report(HS2, A, Evidence.SLOW) == A  # still up, still chosen
    prober.tick()
    assert server.probes == 1 and discovery.health(HS2, A).state is State.UP
    server.mode = "silent"
    discovery.report(HS2, A, Evidence.SLOW)
    prober.tick()
    assert server.probes == 2 and discovery.health(HS2, A).state is State.SUSPECT
    assert discovery.endpoint(HS2) == B  # new work goes elsewhere while it is late


def test_check_probes_an_up_server_once(discovery):
    clock, server = discovery.test_clock, Server("refuse")
    prober = prober_for(discovery, server, clock)
    discovery.check(HS2, A)
    prober.tick()
    assert server.probes == 1 and discovery.health(HS2, A).state is State.DEAD
    assert discovery.endpoint(HS2) == B


# -- Discovery's announcements -------------------------------------------------------------------------------------
class OwnerLock:
    """A lock that knows which thread holds it (the cache's lock, made observable)."""

    def __init__(self):
        self._lock, self.owner = threading.Lock(), None

    def acquire(self, blocking=True, timeout=-1):
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.owner = threading.get_ident()
        return got

    def release(self):
        self.owner = None
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


def test_transitions_are_announced_once_with_no_lock_held(discovery, caplog):
    lock = OwnerLock()
    discovery.cache._cond = threading.Condition(lock)  # noqa: SLF001
    held, seen = [], []

    class Recorder(logging.Handler):
        def emit(self, record):
            held.append(lock.owner == threading.get_ident())

    def subscriber(transition):
        held.append(lock.owner == threading.get_ident())
        seen.append(transition)

    discovery.subscribe(subscriber)
    handler = Recorder()
    logging.getLogger("hive_ha").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="hive_ha"):
            threads = [threading.Thread(target=discovery.report, args=(HS2, A, Evidence.REFUSED)) for _ in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
    finally:
        logging.getLogger("hive_ha").removeHandler(handler)
    assert len(seen) == 1 and seen[0].after is State.DEAD and seen[0].moved and seen[0].chosen == B
    assert held and not any(held), "logged or called a subscriber with the cache's lock held"
    assert "hive-ha failover service=hs2:/hiveserver2 failed=127.0.0.1:10001 state=dead evidence=refused " \
           "chosen=127.0.0.1:10002 generation=1" in caplog.text
    assert "127.0.0.1:10001 up->dead evidence=refused" in caplog.text


def test_a_failing_subscriber_does_not_stop_the_evidence(discovery, caplog):
    discovery.subscribe(lambda t: 1 / 0)
    later = []
    discovery.subscribe(later.append)
    assert discovery.report(HS2, A, Evidence.REFUSED) == B
    assert len(later) == 1 and "a subscriber failed" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_probers_and_the_caches_locks_held_by_another_thread_at_fork_are_free_in_the_child(discovery):
    """A gunicorn worker forked while a thread of the master was inside the prober (its tables) or the cache: the
    child makes its own choices and probes, so it must be able to take both locks (the discovery's at-fork hook)."""
    prober = discovery.prober

    def use():
        assert prober.idle(1) and prober.results() == [] and prober.totals() == {}  # the prober's lock
        assert discovery.health(HS2, A).state is State.UP  # the cache's lock

    assert fork_while_held([prober._lock, discovery.cache._cond], use) == "returned"  # noqa: SLF001


def test_the_prober_thread_drives_states_for_real(discovery):
    """The threads, not tick(): a suspect server that answers comes back without anybody calling the prober."""
    server = Server("answer")
    discovery.prober = Prober(server.probe, discovery.cache.unhealthy, discovery._probed,  # noqa: SLF001
                              interval=0.05, timeout=1.0)
    discovery.report(HS2, A, Evidence.SLOW)  # wakes the prober
    wait_until(lambda: discovery.health(HS2, A).state is State.UP, 5, message="the prober never probed")
    discovery.prober.close(timeout=5)

