"""Chaos soak: discovery and ``hive_ha.connect`` under random faults, with invariants checked as it runs.

    python benchmarks/chaos.py [--quick] [--seed N] [--duration SECONDS]

On loopback: a real 3-node ZooKeeper ensemble, 4 HiveServer2-protocol test servers in child processes (so they
can be killed and stopped), each registered by its own ZooKeeper session. Load: 16 lookup threads and 4
``hive_ha.connect`` + ``SELECT 1`` threads in this process, and 2 worker processes forked after the first lookups
(as gunicorn forks Hue), each with lookups of two services (the one the parent knew, stale after the fork, and
one it never looked up) and a connect loop. Faults, one at a time, in an order drawn from the printed seed (every
kind once, then at random): ZooKeeper leader kill and restart, follower kill and restart, SIGSTOP/SIGCONT of a
member, forced session expiry, HiveServer2 kill -9 (its znode lingers) and restart, SIGSTOP/SIGCONT, clean
restart, registration churn, and ``deleteall`` of the namespace followed by re-registration.

Invariants, one line each with its count of violations; the last line is ``invariant_violations=<total>``:

* progress: every lookup thread completes a lookup at least once per second once an endpoint is known (no
  deadlock, no lock held across I/O; a first lookup may wait up to ZooKeeper's connect timeout);
* lookup_latency: a lookup never takes more than 100 ms while an endpoint of its service is known;
* deregistered: a znode deleted more than 2 s ago (not counting time its client was disconnected) is never
  returned;
* connect_bounded: every connect succeeds or raises a hive-ha error (``HiveHAError``) within its bound
  (ZooKeeper's connect timeout + 3 x connect_timeout per registration it may try);
* connect_success: while a working server is registered, at least 99 % of connects succeed.

A stall of the whole process (2 shared cores: the machine may not schedule us for a while) is no lock of ours:
a canary thread sleeping 10 ms measures such stalls, and a slow lookup or a progress gap that the canary's own
lateness over the same interval explains is reported as ``machine_stalls`` instead of as a violation.
Exit status 0 when no invariant was violated.
"""
from __future__ import annotations

import argparse
import collections
import logging
import multiprocessing
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

import hive_ha
from hive_ha import Discovery, HiveHAError, Service, ZkSettings
from hive_ha.sandbox.hs2server import HS2ServerProcess
from hive_ha.sandbox.registrar import Registrar
from hive_ha.sandbox.zookeeper import ZooKeeperEnsemble, expire_session
from hive_ha.io.zookeeper import POOL

NAMESPACE, LLAP_NAMESPACE = "/chaos", "/chaos-llap"
HS2 = Service.of("hs2", NAMESPACE)
LLAP = Service.of("hsi", LLAP_NAMESPACE)
LOOKUP_THREADS, CONNECT_THREADS, WORKERS, SERVERS = 16, 4, 2, 4
CONNECT_TIMEOUT, SOCKET_TIMEOUT, ZK_CONNECT_TIMEOUT = 1.0, 2.0, 10.0
LATENCY_LIMIT, PROGRESS_LIMIT, DEREGISTERED_LIMIT, SUCCESS_MIN = 0.100, 1.0, 2.0, 0.99
Interval = Tuple[float, float]
now = time.monotonic


def overlap(a: Interval, intervals: List[Interval]) -> float:
    return sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for b in intervals)


# -- what each process measures ------------------------------------------------------------------------------------
class Canary(threading.Thread):
    """Sleeps 10 ms at a time; a wake-up more than 20 ms late is a stall of the whole process (not our locks)."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(name="canary", daemon=True)
        self.stop, self.stalls = stop, []

    def run(self) -> None:
        while not self.stop.is_set():
            due = now() + 0.010
            time.sleep(0.010)
            woke = now()
            if woke - due > 0.020:
                self.stalls.append((due, woke))


class Observations:
    """What one process saw: lookups, connects, disconnections. Merged in the parent."""

    def __init__(self) -> None:
        self.lookups = 0
        self.lookup_errors: collections.Counter = collections.Counter()
        self.error_times: List[float] = []
        self.samples: List[float] = []  # latencies in s (every 50th lookup)
        self.slow: List[Interval] = []  # lookups above LATENCY_LIMIT that returned an endpoint
        self.gaps: List[Interval] = []  # lookup threads without a completed lookup for over PROGRESS_LIMIT
        self.last_seen: Dict[str, float] = {}  # znode -> when a lookup last started that returned it
        self.connects: List[Tuple[float, float, str]] = []  # (start, end, outcome: ok | typed error name | untyped)
        self.query_failures = 0
        self.disconnected: List[Interval] = []
        self.stalls: List[Interval] = []
        self.stuck: List[str] = []  # threads still blocked when told to stop, with where they are

    def merge(self, other: "Observations") -> None:
        for key, value in vars(other).items():
            mine = getattr(self, key)
            if isinstance(value, dict):
                for k, v in value.items():
                    mine[k] = max(mine.get(k, v), v) if key == "last_seen" else mine.get(k, 0) + v
            elif isinstance(value, list):
                mine.extend(value)
            else:
                setattr(self, key, mine + value)


def where(thread: threading.Thread) -> str:
    import traceback

    frame = sys._current_frames().get(thread.ident)  # noqa: SLF001 - diagnosis of a stuck thread
    stack = traceback.extract_stack(frame)[-4:] if frame else []
    return f"{thread.name} in " + " <- ".join(f"{f.name}:{f.lineno}" for f in reversed(stack))


def lookup_loop(discovery: Discovery, service: Service, user: str, obs: Observations, stop: threading.Event) -> None:
    """Lookups in a loop. Latency and progress count only while an endpoint of the service is known: a first
    lookup (here, or in a worker after the fork) may wait up to the connect timeout for ZooKeeper."""
    done: Optional[float] = None  # when the last lookup that found an endpoint known completed
    count = 0
    while not stop.is_set():
        snap = discovery.cache.snapshot(service)
        known = snap is not None and bool(snap.candidates)
        start = now()
        try:
            endpoint = discovery.endpoint(service, user)
        except HiveHAError as exc:
            endpoint = None
            obs.lookup_errors[type(exc).__name__] += 1
            obs.error_times.append(start)
        except Exception as exc:  # noqa: BLE001 - counted; a lookup must never raise anything untyped
            endpoint = None
            obs.lookup_errors["untyped " + type(exc).__name__] += 1
            obs.error_times.append(start)
        end = now()
        if endpoint is not None:
            if known and end - start > LATENCY_LIMIT:
                obs.slow.append((start, end))
            if obs.last_seen.get(endpoint.znode, 0.0) < start:
                obs.last_seen[endpoint.znode] = start
        if done is not None and end - done > PROGRESS_LIMIT:
            obs.gaps.append((done, end))
        if known or done is not None:
            done = end
        obs.lookups += 1
        count += 1
        if count % 50 == 0:
            obs.samples.append(end - start)
        stop.wait(0.005)
    if done is not None and now() - done > PROGRESS_LIMIT:
        obs.gaps.append((done, now()))


def connect_loop(settings: ZkSettings, user: str, obs: Observations, stop: threading.Event, once: bool = False
                 ) -> None:
    while not stop.is_set():
        start = now()
        conn = None
        try:
            conn = hive_ha.connect(zookeeper=settings, namespace=NAMESPACE, username=user, policy="random",
                                   connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT)
            outcome = "ok"
        except HiveHAError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - an untyped error is a violation
            outcome = "untyped " + type(exc).__name__
        obs.connects.append((start, now(), outcome))
        if conn is not None:
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchall()
            except Exception:  # noqa: BLE001 - a server stopped or killed mid-query: the read budget is 0
                obs.query_failures += 1
            finally:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
        if once:
            return
        stop.wait(0.02)


def track_connection(settings: ZkSettings, obs: Observations) -> None:
    """Record when this process's ZooKeeper client was not connected (it cannot see deletions then)."""
    lost_at: List[float] = []

    def listener(state: str) -> None:
        if state != KazooState.CONNECTED and not lost_at:
            lost_at.append(now())
        elif state == KazooState.CONNECTED and lost_at:
            obs.disconnected.append((lost_at.pop(), now()))

    POOL.get(settings).add_listener(listener)


def run_load(discovery: Discovery, settings: ZkSettings, services: List[Service], lookup_threads: int,
             connect_threads: int, prefix: str, stop: threading.Event) -> Tuple[Observations, List[threading.Thread]]:
    obs = Observations()
    threads = [Canary(stop)]
    for i in range(lookup_threads):
        threads.append(threading.Thread(target=lookup_loop, name=f"{prefix}lookup-{i}", daemon=True,
                                        args=(discovery, services[i % len(services)], f"user{i}", obs, stop)))
    for i in range(connect_threads):
        threads.append(threading.Thread(target=connect_loop, name=f"{prefix}connect-{i}", daemon=True,
                                        args=(settings, f"user{i}", obs, stop)))
    for thread in threads:
        thread.start()
    return obs, threads


def finish(obs: Observations, threads: List[threading.Thread], stop: threading.Event) -> Observations:
    stop.set()
    deadline = now() + 3 * ZK_CONNECT_TIMEOUT
    for thread in threads:
        thread.join(max(0.1, deadline - now()))
    obs.stuck = [where(t) for t in threads if t.is_alive()]
    obs.stalls = threads[0].stalls
    return obs


def worker(discovery: Discovery, settings: ZkSettings, conn) -> None:
    """A forked worker: lookups of the service the parent knew (stale here) and of one it never looked up."""
    stop = threading.Event()
    obs, threads = run_load(discovery, settings, [HS2, LLAP], 2, 1, "worker-", stop)
    try:
        track_connection(settings, obs)
    except Exception:  # noqa: BLE001 - the lookups report it
        pass
    parent = os.getppid()
    while not conn.poll(0.5):  # the parent's end of the pipe is open here too (forked): EOF never comes
        if os.getppid() != parent:
            os._exit(1)  # the benchmark was stopped (killed, interrupted): nobody will read the report
    conn.recv()
    conn.send(finish(obs, threads, stop))
    os._exit(0)  # no atexit handlers of the parent's rig in a forked child


class Sampler(threading.Thread):
    """What the parent's lookups are served from, every 20 ms: live, stale (ZooKeeper unreachable: last known) or
    missing (the namespace does not exist); kept as (since, state) transitions."""

    def __init__(self, discovery: Discovery, stop: threading.Event) -> None:
        super().__init__(name="sampler", daemon=True)
        self.discovery, self.stop, self.states = discovery, stop, [(now(), "live")]

    def run(self) -> None:
        while not self.stop.wait(0.02):
            snap = self.discovery.cache.snapshot(HS2)
            state = "missing" if snap is not None and not snap.exists else "stale" if snap and snap.stale else "live"
            if state != self.states[-1][1]:
                self.states.append((now(), state))

    def time_in(self, state: str, window: Interval) -> float:
        ends = [t for t, _ in self.states[1:]] + [now()]
        return sum(overlap(window, [(t, e)]) for (t, s), e in zip(self.states, ends) if s == state)


# -- the rig and the faults -----------------------------------------------------------------------------------------
class Server:
    def __init__(self, index: int, proc: HS2ServerProcess) -> None:
        self.index, self.proc = index, proc
        self.reg = None
        self.llap = None
        self.healthy = True


class Chaos:
    def __init__(self, seed: int, duration: float, out: Callable[[str], None]) -> None:
        self.rng = random.Random(seed)
        self.duration, self.out = duration, out
        self.ensemble = ZooKeeperEnsemble(size=3)
        self.servers: List[Server] = []
        self.registrar: Optional[Registrar] = None
        self.admin: Optional[KazooClient] = None
        self.deleted: Dict[str, float] = {}  # znode -> when it was deleted (explicitly, so the time is known)
        self.unavailable: List[Interval] = []  # no working server registered
        self.faults: collections.Counter = collections.Counter()
        self.started = 0.0
        self.registrations = 0

    # setup / teardown
    def start(self) -> ZkSettings:
        self.ensemble.start()
        hosts = self.ensemble.hosts
        self.admin = KazooClient(hosts=hosts, timeout=10.0)
        self.admin.start(timeout=30)
        self.registrar = Registrar(hosts, session_timeout=10.0, connect_timeout=30.0)
        for i in range(SERVERS):
            server = Server(i, HS2ServerProcess(f"hs2-{i}", auth="NOSASL").start())
            self.servers.append(server)
            self.register(server)
            if i < 2:
                server.llap = self.registrar.register(server.proc.host, server.proc.port, namespace=LLAP_NAMESPACE,
                                                      authentication="NOSASL")
        return ZkSettings(hosts, connect_timeout=ZK_CONNECT_TIMEOUT, session_timeout=6.0)

    def stop(self) -> None:
        for closer in ([self.registrar.close] if self.registrar else []) + \
                      [s.proc.stop for s in self.servers] + \
                      ([self.admin.stop, self.admin.close] if self.admin else []) + [self.ensemble.stop]:
            try:
                closer()
            except Exception:  # noqa: BLE001 - clean up the rest
                pass

    def register(self, server: Server) -> None:
        # A version unique to this registration: after a deleteall, sequence numbers start again at 0, and the
        # checker must not take a new znode for a deleted one with the same name.
        self.registrations += 1
        server.reg = self.registrar.register(server.proc.host, server.proc.port, namespace=NAMESPACE.strip("/"),
                                             authentication="NOSASL", version=f"3.1.3.{self.registrations}")

    def deregister(self, server: Server) -> None:
        znode = server.reg.znode
        server.reg.deregister()
        self.deleted[znode] = now()

    def hold(self) -> None:
        time.sleep(self.rng.uniform(1.5, 3.0))

    def wait_healthy(self) -> None:
        self.ensemble.wait_ready(60)
        deadline = now() + 30
        while not POOL.get(self.settings).connected and now() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # settle: watchers re-read, reconnects of the workers

    # the faults (each leaves the system healthy again)
    def zk_leader_kill_restart(self) -> str:
        leader = self.ensemble.leader()
        self.ensemble.kill(leader)
        self.hold()
        self.ensemble.start_member(leader)
        return f"member={leader}"

    def zk_follower_kill_restart(self) -> str:
        leader = self.ensemble.leader()
        follower = self.rng.choice([i for i in range(3) if i != leader])
        self.ensemble.kill(follower)
        self.hold()
        self.ensemble.start_member(follower)
        return f"member={follower}"

    def zk_sigstop(self) -> str:
        member = self.rng.randrange(3)
        pid = self.ensemble.members[member].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            self.hold()
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"member={member}"

    def session_expiry(self) -> str:
        session = expire_session(POOL.get(self.settings))
        return f"session=0x{session:x}"

    def hs2_kill9(self) -> str:
        server = self.rng.choice(self.servers)
        server.proc.kill()
        server.reg.crash()  # its znode lingers until its session expires (10 s)
        self.hold()
        server.proc.restart()  # the same port
        self.register(server)
        return f"server={server.index}"

    def hs2_sigstop(self) -> str:
        server = self.rng.choice(self.servers)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            self.hold()
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        return f"server={server.index}"

    def hs2_restart(self) -> str:
        server = self.rng.choice(self.servers)
        self.deregister(server)
        server.proc.restart()
        self.register(server)
        return f"server={server.index}"

    def registration_churn(self) -> str:
        server = self.rng.choice(self.servers)
        self.deregister(server)
        time.sleep(self.rng.uniform(0.0, 0.5))
        self.register(server)
        return f"server={server.index}"

    def namespace_delete(self) -> str:
        start = now()
        old = [s.reg for s in self.servers]
        self.admin.delete(NAMESPACE, recursive=True)
        deleted = now()
        for reg in old:
            self.deleted[reg.znode] = deleted
            reg.deregister()  # the znode is gone already: this only ends its session
        time.sleep(self.rng.uniform(0.2, 1.0))
        for server in self.servers:
            self.register(server)
        self.unavailable.append((start, now() + DEREGISTERED_LIMIT))
        return f"servers={len(self.servers)}"

    KINDS = ("zk_leader_kill_restart", "zk_follower_kill_restart", "zk_sigstop", "session_expiry", "hs2_kill9",
             "hs2_sigstop", "hs2_restart", "registration_churn", "namespace_delete")

    def run_faults(self, settings: ZkSettings, sampler: Sampler, obs: Observations) -> None:
        self.settings = settings
        schedule = list(self.KINDS)
        self.rng.shuffle(schedule)
        end = self.started + self.duration
        while now() < end - 3:
            kind = schedule.pop(0) if schedule else self.rng.choice(self.KINDS)
            start = now()
            detail = getattr(self, kind)()
            self.wait_healthy()
            self.faults[kind] += 1
            window = (start, now())
            errors = sum(1 for t in obs.error_times if window[0] <= t <= window[1])
            self.out(f"fault t={start - self.started:5.1f}s {kind} {detail} recovered_after={window[1] - start:.1f}s "
                     f"stale={sampler.time_in('stale', window):.2f}s missing={sampler.time_in('missing', window):.2f}s "
                     f"lookup_errors={errors}")
            time.sleep(min(self.rng.uniform(0.5, 2.0), max(0.0, end - now())))
        time.sleep(max(0.0, end - now()))


# -- the invariants -------------------------------------------------------------------------------------------------
def excused(interval: Interval, limit: float, stalls: List[Interval]) -> bool:
    """The process itself was not scheduled for (nearly) the excess: not a lock of ours."""
    return (interval[1] - interval[0]) - limit <= overlap(interval, stalls) + 0.05


def check(obs: Observations, chaos: Chaos, out: Callable[[str], None]) -> int:
    stalled = 0
    violations: Dict[str, List[str]] = {}

    def judge(name: str, intervals: List[Interval], limit: float) -> None:
        nonlocal stalled
        bad = [i for i in intervals if not excused(i, limit, obs.stalls)]
        stalled += len(intervals) - len(bad)
        violations[name] = [f"{i[1] - i[0]:.3f}s at t={i[0] - chaos.started:.1f}s" for i in bad]

    judge("progress", obs.gaps, PROGRESS_LIMIT)
    violations["progress"] += [f"still blocked at the end: {stuck}" for stuck in obs.stuck]
    judge("lookup_latency", obs.slow, LATENCY_LIMIT)
    violations["deregistered"] = []
    for znode, deleted in chaos.deleted.items():
        seen = obs.last_seen.get(znode)
        if seen is not None and seen - deleted - overlap((deleted, seen), obs.disconnected) > DEREGISTERED_LIMIT:
            violations["deregistered"].append(f"{znode.rsplit('/', 1)[-1]} returned {seen - deleted:.1f}s after")
    bound = ZK_CONNECT_TIMEOUT + 3 * CONNECT_TIMEOUT * (SERVERS + 2)  # lingering crashed znodes included
    violations["connect_bounded"] = [f"{o} after {e - s:.1f}s" for s, e, o in obs.connects
                                     if o.startswith("untyped") or e - s > bound]
    eligible = [c for c in obs.connects if overlap((c[0], c[1]), chaos.unavailable) == 0]
    ok = sum(1 for c in eligible if c[2] == "ok")
    rate = ok / len(eligible) if eligible else 0.0
    violations["connect_success"] = [] if rate >= SUCCESS_MIN else [f"success {rate:.2%} < {SUCCESS_MIN:.0%}"]

    latencies = sorted(obs.samples) or [0.0]
    outcomes = collections.Counter(c[2] for c in obs.connects)
    durations = [e - s for s, e, _ in obs.connects] or [0.0]
    obs.error_times = []  # per-fault counts are printed already; not worth a line of their own
    out(f"lookups total={obs.lookups} p50={statistics.median(latencies) * 1e6:.0f}us "
        f"p99={latencies[int(0.99 * (len(latencies) - 1))] * 1e6:.0f}us "
        f"errors={dict(obs.lookup_errors) or 0}")
    out(f"connects total={len(obs.connects)} eligible={len(eligible)} ok={ok} success={rate:.2%} "
        f"outcomes={dict(outcomes)} max={max(durations):.2f}s bound={bound:.0f}s select1_failures={obs.query_failures}")
    out(f"machine_stalls excused={stalled} canary_stalls={len(obs.stalls)} "
        f"longest={max((b - a for a, b in obs.stalls), default=0.0) * 1000:.0f}ms (not counted as violations)")
    total = 0
    for name in ("progress", "lookup_latency", "deregistered", "connect_bounded", "connect_success"):
        found = violations[name]
        total += len(found)
        example = f" e.g. {'; '.join(found[:3])}" if found else ""
        out(f"invariant {name} violations={len(found)}{example}")
    return total


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="45 s of faults instead of 3 min")
    parser.add_argument("--duration", type=float, help="seconds of faults (default 180, --quick 45)")
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 32))
    parser.add_argument("--log", default=os.path.join(tempfile.gettempdir(), f"hive-ha-chaos-{os.getpid()}.log"))
    args = parser.parse_args(argv)
    duration = args.duration or (45.0 if args.quick else 180.0)
    logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(message)s")

    def out(line: str) -> None:
        print(line, flush=True)

    out(f"chaos seed={args.seed} duration={duration:.0f}s log={args.log}")
    chaos = Chaos(args.seed, duration, out)
    stop = threading.Event()
    workers = []
    try:
        settings = chaos.start()
        out(f"rig zookeeper={len(chaos.ensemble.members)} nodes hs2={SERVERS} lookup_threads={LOOKUP_THREADS} "
            f"connect_threads={CONNECT_THREADS} workers={WORKERS} (2 lookup threads + 1 connect thread each)")
        discovery = Discovery(settings, policy="per_user", debounce=0.05)
        # Like gunicorn's preload: the parent knows the service and has imported everything before it forks. (A
        # fork while another thread is inside a first import leaves that module's import lock held in the child,
        # a CPython limitation: hive_ha.connect's first call imports hive_ha.clients.dbapi and PyHive.)
        discovery.endpoint(HS2, "user0")
        warm = Observations()
        connect_loop(settings, "user0", warm, threading.Event(), once=True)
        if warm.connects[0][2] != "ok":
            raise RuntimeError(f"the rig does not work: first connect gave {warm.connects[0][2]}")
        context = multiprocessing.get_context("fork")
        for _ in range(WORKERS):
            ours, theirs = context.Pipe()
            proc = context.Process(target=worker, args=(discovery, settings, theirs), daemon=True)
            proc.start()
            workers.append((proc, ours))
        obs, threads = run_load(discovery, settings, [HS2], LOOKUP_THREADS, CONNECT_THREADS, "", stop)
        track_connection(settings, obs)
        sampler = Sampler(discovery, stop)
        sampler.start()
        chaos.started = now()
        chaos.run_faults(settings, sampler, obs)
        obs = finish(obs, threads, stop)
        for proc, conn in workers:
            conn.send("stop")
        for proc, conn in workers:
            if conn.poll(60):
                obs.merge(conn.recv())
            else:
                obs.stuck.append(f"worker pid {proc.pid} did not report")
            proc.join(10)
        out("faults " + " ".join(f"{k}={v}" for k, v in sorted(chaos.faults.items())))
        total = check(obs, chaos, out)
    finally:
        stop.set()
        for proc, _ in workers:
            if proc.is_alive():
                proc.kill()
        hive_ha.clients.dbapi.close_discoveries()
        POOL.close_all()
        chaos.stop()
    out(f"invariant_violations={total}")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
