"""The endpoint cache and selection policies, driven directly with snapshots and evidence (no ZooKeeper needed)."""
import collections
import threading

import pytest

from hive_ha.core.cache import EndpointCache
from hive_ha.core.health import Evidence, State
from hive_ha.model.endpoint import Endpoint
from hive_ha.errors import NoEndpointAvailable, RegistryUnavailable
from hive_ha.model.layouts import Service
from hive_ha.core.selection import Oldest, PerUser, Random, get_policy
from hive_ha.model.snapshot import Snapshot

HS2 = Service.of("hs2")
HA = Service.of("hsi-ha", "llap0_llap")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def ep(port, seq=None, active=None, host="127.0.0.1"):
    seq = port - 10000 if seq is None else seq
    return Endpoint(host=host, port=port, znode=f"/hiveserver2/serverUri={host}:{port};sequence={seq:010d}",
                    sequence=seq, active=active)


def snap(*endpoints, service=HS2, **kw):
    return Snapshot(service, "zk1:2181", service.namespace, tuple(endpoints), **kw)


def make(policy=None, **kw):
    clock = Clock()
    cache = EndpointCache(policy or Oldest(), clock=clock, **kw)
    return cache, clock


def fail(cache, endpoint, user=None, evidence=Evidence.REFUSED, service=HS2):
    """Report a failure; returns the endpoint now current for ``user``."""
    return cache.report(service, endpoint, evidence, user)[0]


def state(cache, endpoint, service=HS2):
    return cache.health(service, endpoint).state


def test_oldest_is_lowest_sequence():
    cache, _ = make()
    cache.update(snap(ep(10002), ep(10001), ep(10003)))
    assert cache.get(HS2).port == 10001


def test_choice_is_sticky_while_registered():
    cache, _ = make()
    cache.update(snap(ep(10001), ep(10002)))
    fail(cache, ep(10001))
    cache.update(snap(ep(10001), ep(10002), ep(10000, seq=0)))  # an older-looking server appears
    assert cache.get(HS2).port == 10002


def test_report_failure_is_compare_and_swap():
    cache, _ = make()
    cache.update(snap(ep(10001), ep(10002), ep(10003)))
    first = cache.get(HS2)
    new, transitions = cache.report(HS2, first, Evidence.REFUSED)
    assert new.port == 10002 and cache.generation(HS2) == 1
    assert [(t.before, t.after, t.moved) for t in transitions] == [(State.UP, State.DEAD, True)]
    # A late report of the same dead server changes nothing; one for a non-current server moves no choice.
    assert cache.report(HS2, first, Evidence.REFUSED) == (new, [])
    assert fail(cache, ep(10003)).port == 10002
    assert cache.generation(HS2) == 1
    assert [f.failed for f in cache.failovers()] == ["127.0.0.1:10001"]


def test_concurrent_reporters_agree_and_nobody_overwrites():
    cache, _ = make()
    cache.update(snap(*(ep(10000 + i) for i in range(1, 6))))
    dead = cache.get(HS2)
    barrier = threading.Barrier(120)
    results = []

    def user():
        barrier.wait()
        results.append(fail(cache, dead))
        results.append(cache.get(HS2))

    threads = [threading.Thread(target=user) for _ in range(120)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert len(results) == 240
    assert {r.address for r in results} == {"127.0.0.1:10002"}
    assert cache.generation(HS2) == 1 and len(cache.failovers()) == 1
    assert cache.transition_counts() == {(str(HS2), "up", "dead"): 1}


def test_slow_is_suspect_and_an_answer_brings_it_back_at_once():
    cache, clock = make(dead_after=30)
    a, b = ep(10001), ep(10002)
    cache.update(snap(a, b))
    assert cache.get(HS2) == a
    assert fail(cache, a, evidence=Evidence.SLOW) == b  # new work goes elsewhere ...
    assert state(cache, a) is State.SUSPECT
    assert cache.serving(HS2, a.address, a.znode)[1].state is State.SUSPECT  # ... what runs there is not lost
    clock.now += 29
    fail(cache, a, evidence=Evidence.SLOW)  # still within dead_after: suspect
    assert state(cache, a) is State.SUSPECT
    assert cache.generation(HS2) == 0 and cache.failovers() == []  # late is not dead: no reselection
    _, transitions = cache.report(HS2, a, Evidence.ANSWERED)
    assert [(t.before, t.after, t.moved) for t in transitions] == [(State.SUSPECT, State.UP, False)]
    assert state(cache, a) is State.UP and cache.get(HS2) == a  # no fixed exclusion window: its work comes back


def test_detours_are_stable_per_user_while_the_choice_is_late():
    cache, _ = make(PerUser())
    servers = [ep(10001), ep(10002), ep(10003)]
    cache.update(snap(*servers))
    users = [f"user{i}" for i in range(60)]
    placed = {u: cache.get(HS2, u) for u in users}
    late = servers[0]
    fail(cache, late, evidence=Evidence.SLOW)
    detours = {u: cache.get(HS2, u) for u in users}
    assert all(detours[u] != late for u in users)
    assert {u for u in users if detours[u] != placed[u]} == {u for u in users if placed[u] == late}
    assert all(cache.get(HS2, u) == detours[u] for u in users)  # the same detour every time
    cache.report(HS2, late, Evidence.ANSWERED)
    assert {u: cache.get(HS2, u) for u in users} == placed


def test_suspect_becomes_dead_after_dead_after_without_an_answer():
    cache, clock = make(dead_after=30)
    a, b = ep(10001), ep(10002)
    cache.update(snap(a, b))
    fail(cache, a, evidence=Evidence.SLOW)
    clock.now += 30
    _, transitions = cache.report(HS2, a, Evidence.SLOW, detail="probe: timed out")
    assert [(t.before, t.after) for t in transitions] == [(State.SUSPECT, State.DEAD)]
    assert "no answer for 30 s" in transitions[0].health.detail
    assert cache.report(HS2, a, Evidence.SLOW)[1] == []  # once


def test_refused_is_dead_at_once_and_an_answer_lets_it_back():
    cache, _ = make()
    a = ep(10001)
    cache.update(snap(a))
    cache.report(HS2, a, Evidence.REFUSED, detail="connection refused")
    with pytest.raises(NoEndpointAvailable) as info:
        cache.get(HS2)
    msg = str(info.value)
    assert "127.0.0.1:10001 (dead: connection refused)" in msg
    assert "zk1:2181" in msg and "/hiveserver2" in msg
    cache.report(HS2, a, Evidence.ANSWERED)  # a probe found it answering
    assert cache.get(HS2) == a


def test_a_suspect_server_is_used_while_no_server_is_up():
    cache, _ = make()
    a, b = ep(10001), ep(10002)
    cache.update(snap(a, b))
    fail(cache, a, evidence=Evidence.SLOW)
    fail(cache, b, evidence=Evidence.SLOW)
    assert cache.get(HS2) in (a, b)  # late is better than nothing
    fail(cache, a, evidence=Evidence.REFUSED)
    assert cache.get(HS2) == b
    cache.report(HS2, a, Evidence.ANSWERED)
    assert cache.get(HS2) == a  # an up server is back: the suspect choice is made again


def test_gone_while_suspect_is_dead_gone_while_up_is_draining():
    cache, _ = make()
    a, b, c = ep(10001), ep(10002), ep(10003)
    cache.update(snap(a, b, c))
    fail(cache, a, evidence=Evidence.SLOW)
    transitions = cache.update(snap(b))  # a (suspect) and c (up) leave the registry
    assert [(t.endpoint, t.before, t.after) for t in transitions] == [(a, State.SUSPECT, State.DEAD)]
    assert cache.serving(HS2, a.address) == (a, cache.serving(HS2, a.address)[1], False)
    assert cache.serving(HS2, a.address)[1].state is State.DEAD  # a query pinned to it is lost
    assert cache.serving(HS2, c.address) is None  # nothing known: a rolling restart drains (the caller decides)


def test_new_registration_at_same_address_is_a_new_server():
    cache, _ = make()
    cache.update(snap(ep(10001, seq=1)))
    fail(cache, ep(10001, seq=1))
    with pytest.raises(NoEndpointAvailable):
        cache.get(HS2)
    cache.update(snap(ep(10001, seq=7)))  # the server restarted and registered anew
    assert cache.get(HS2).sequence == 7


def test_deregistered_choice_is_replaced_and_counted():
    cache, _ = make()
    cache.update(snap(ep(10001), ep(10002)))
    assert cache.get(HS2).port == 10001
    cache.update(snap(ep(10002)))
    assert cache.get(HS2).port == 10002 and cache.generation(HS2) == 1


def test_empty_registry_error_names_everything():
    cache, _ = make()
    cache.update(snap(exists=False))
    with pytest.raises(NoEndpointAvailable, match="does not exist"):
        cache.get(HS2)
    cache.update(snap())
    with pytest.raises(NoEndpointAvailable, match="nothing registered"):
        cache.get(HS2)


def test_unknown_service_is_registry_unavailable():
    cache, _ = make()
    cache.register(HS2, "zkX:2181")
    with pytest.raises(RegistryUnavailable, match="zkX:2181"):
        cache.get(HS2)


def test_stale_snapshot_still_served_and_refresh_requested():
    cache, clock = make(cache_timeout=5)
    asked = []
    cache.register(HS2, "zk1:2181", refresh=lambda: asked.append(1))
    cache.update(snap(ep(10001)))
    cache.mark_stale(HS2)
    assert cache.get(HS2).port == 10001 and cache.snapshot(HS2).stale
    assert asked == []
    clock.now += 6  # choice not trusted any more without a live watch: ask for a re-read, keep serving
    assert cache.get(HS2).port == 10001
    assert asked == [1]


def test_expiry_with_live_watch_needs_no_refresh():
    cache, clock = make(cache_timeout=5)
    asked = []
    cache.register(HS2, "zk1:2181", refresh=lambda: asked.append(1))
    cache.update(snap(ep(10001)))
    clock.now += 60
    assert cache.get(HS2).port == 10001 and asked == []


class WaiterClock(Clock):
    """A fake clock that tells when the thread named "waiter" reads it. The cache reads its clock holding its lock
    and keeps the lock until it waits on its condition, so anything done after ``waiter_read`` (it takes the lock)
    happens while the waiter's lookup is waiting."""

    def __init__(self):
        super().__init__()
        self.waiter_read = threading.Event()

    def __call__(self):
        if threading.current_thread().name == "waiter":
            self.waiter_read.set()
        return self.now


class Waiter(threading.Thread):
    def __init__(self, call):
        super().__init__(name="waiter", daemon=True)
        self.call, self.outcome = call, None
        self.start()

    def run(self):
        try:
            self.outcome = ("returned", self.call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            self.outcome = ("raised", exc)

    def result(self):
        self.join(10)
        assert not self.is_alive(), "the lookup is still waiting"
        kind, value = self.outcome
        if kind == "raised":
            raise value
        return value


def test_ha_uses_active_only_and_waits_for_leader():
    clock = WaiterClock()
    cache = EndpointCache(Oldest(), clock=clock)
    cache.update(snap(ep(10500, active=False), ep(10501, active=True), service=HA))
    assert cache.get(HA).port == 10501
    # Leader change: for a moment nobody is active.
    no_leader = snap(ep(10500, active=False), ep(10501, active=False), service=HA)
    cache.update(no_leader)
    with pytest.raises(NoEndpointAvailable, match="activeEndpoint"):
        cache.get(HA)  # no leader_wait: at once
    # A lookup waiting for a leader gets the new one as soon as it is published.
    waiter = Waiter(lambda: cache.get(HA, leader_wait=5))
    assert clock.waiter_read.wait(5)
    cache.update(snap(ep(10500, active=True), ep(10501, active=False), service=HA))
    assert waiter.result().port == 10500


def test_ha_leader_wait_ends_with_the_error_once_leader_wait_has_passed():
    clock = WaiterClock()
    cache = EndpointCache(Oldest(), clock=clock)
    no_leader = snap(ep(10500, active=False), ep(10501, active=False), service=HA)
    cache.update(no_leader)
    waiter = Waiter(lambda: cache.get(HA, leader_wait=5))
    assert clock.waiter_read.wait(5)
    clock.now += 4.9
    clock.waiter_read.clear()
    cache.update(no_leader)  # a reading that still names no leader wakes the lookup ...
    assert clock.waiter_read.wait(5)
    cache.snapshot(HA)  # (takes the lock: the waiter is waiting again, or done)
    assert waiter.is_alive()  # ... and it waits on: 4.9 s of 5
    clock.now += 0.1
    cache.update(no_leader)  # leader_wait has passed by the cache's clock
    with pytest.raises(NoEndpointAvailable, match="activeEndpoint"):
        waiter.result()


def test_per_user_spreads_and_only_dead_servers_users_move():
    cache, _ = make(PerUser())
    servers = [ep(10001), ep(10002), ep(10003)]
    cache.update(snap(*servers))
    users = [f"user{i}" for i in range(300)]
    before = {u: cache.get(HS2, u) for u in users}
    counts = collections.Counter(e.port for e in before.values())
    assert set(counts) == {10001, 10002, 10003} and min(counts.values()) > 60
    # Every process computes the same assignment.
    other, _ = make(PerUser())
    other.update(snap(*reversed(servers)))
    assert all(other.get(HS2, u) == before[u] for u in users)
    dead = servers[1]
    for u in users:
        if before[u] == dead:
            fail(cache, dead, u)
    after = {u: cache.get(HS2, u) for u in users}
    moved = {u for u in users if after[u] != before[u]}
    assert moved == {u for u in users if before[u] == dead}
    assert all(after[u].port != 10002 for u in users)
    assert cache.generation(HS2) == 1


def test_random_policy_is_seedable_and_sticky():
    import random as _random
    cache, _ = make(Random(_random.Random(4)))
    cache.update(snap(ep(10001), ep(10002), ep(10003)))
    first = cache.get(HS2)
    assert all(cache.get(HS2) == first for _ in range(20))


def test_get_policy_rejects_unknown():
    with pytest.raises(ValueError, match="selection_policy"):
        get_policy("round_robin")


def test_status_is_json_ready():
    import json
    cache, _ = make()
    cache.update(snap(ep(10001), ep(10002)))
    cache.report(HS2, cache.get(HS2), Evidence.SLOW, detail="read timed out")
    assert cache.get(HS2).port == 10002
    status = json.loads(json.dumps(cache.status()))
    assert (status[0]["chosen"], status[0]["detour"]) == ("127.0.0.1:10001", "127.0.0.1:10002")
    assert [(s["address"], s["state"], s["evidence"], s["detail"]) for s in status[0]["servers"]] == [
        ("127.0.0.1:10001", "suspect", "slow", "read timed out"), ("127.0.0.1:10002", "up", None, "")]


def test_late_report_about_a_replaced_registration_changes_nothing():
    cache, _ = make()
    old = ep(10001, seq=1)
    cache.update(snap(old, ep(10002)))
    assert cache.get(HS2) == old
    restarted = ep(10001, seq=7)  # the server restarted: same address, a new znode
    cache.update(snap(restarted, ep(10002)))
    assert cache.get(HS2) == restarted
    assert fail(cache, old) == restarted  # a late report about the old registration
    assert cache.get(HS2) == restarted and cache.generation(HS2) == 0 and cache.failovers() == []


def test_a_lingering_registration_is_dead_once_a_newer_one_takes_its_address():
    cache, _ = make()
    lingering, fresh = ep(10001, seq=1), ep(10001, seq=7)  # a crashed server's znode outlives its restart
    cache.update(snap(lingering, ep(10002, seq=2)))
    assert cache.get(HS2) == lingering
    transitions = cache.update(snap(lingering, fresh, ep(10002, seq=2)))
    assert [(t.endpoint, t.after, t.moved) for t in transitions] == [(lingering, State.DEAD, True)]
    assert cache.get(HS2) == ep(10002, seq=2)  # the oldest of the living (the restarted one is a new server)
    # Whatever answers at that address now is the new registration: it never brings the old one back ...
    assert cache.report(HS2, lingering, Evidence.ANSWERED) == (ep(10002, seq=2), [])
    assert state(cache, lingering) is State.DEAD and state(cache, fresh) is State.UP
    # ... nor does a report about the old one touch the new one, and the prober leaves the old one alone.
    fail(cache, lingering)
    assert state(cache, fresh) is State.UP
    assert [e for _, e, _ in cache.unhealthy()] == []


def test_skip_picks_another_endpoint_for_this_call_only():
    cache, _ = make()
    a, b, c = ep(10001), ep(10002), ep(10003)
    cache.update(snap(a, b, c))
    assert cache.get(HS2) == a
    assert cache.get(HS2, skip={a.key}) == b
    assert cache.get(HS2, skip={a.key, b.key}) == c
    assert cache.get(HS2) == a and cache.generation(HS2) == 0  # the shared choice is untouched
    with pytest.raises(NoEndpointAvailable):
        cache.get(HS2, skip={a.key, b.key, c.key})


def test_refresh_is_called_without_the_cache_lock():
    cache, clock = make(cache_timeout=5)
    other_thread_got_in = []

    def refresh():  # a watcher restart: another thread must be able to use the cache meanwhile
        t = threading.Thread(target=lambda: other_thread_got_in.append(cache.generation(HS2)), daemon=True)
        t.start()
        t.join(2)

    cache.register(HS2, "zk1:2181", refresh=refresh)
    cache.update(snap(ep(10001)))
    assert cache.get(HS2).port == 10001
    cache.mark_stale(HS2)
    clock.now += 6
    assert cache.get(HS2).port == 10001
    assert other_thread_got_in == [0], "refresh ran with the cache's lock held"

