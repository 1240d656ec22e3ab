"""The load-balancer monitor: the pure decision, then real ZooKeeper -> monitor -> real haproxy/nginx -> real backends,
injection attempts, active/standby hand-over between two ``hive-ha monitor`` processes, and the benchmark's --quick."""
import dataclasses
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from hive_ha.io.shutdown import STOP_TIMEOUT
from hive_ha.core.discovery import Discovery
from hive_ha.model.layouts import Service
from hive_ha.lb import Address, ProfileOptions, RuntimePaths, Server, Stats, build
from hive_ha.lb.haproxy import admin_socket
from hive_ha.lb.monitor import Monitor, ZooKeeperSource
from hive_ha.lb.decision import NOTHING, REFUSE_EMPTY, RELOAD, RUNTIME, StateChange, decide, pools
from hive_ha.lb.reload import Reloader
from hive_ha.lb.runtime_api import RuntimeApi
from tests.rig.lbrig import HueBackend, LoadBalancerProcess, lb_workdir
from tests.test_lb_emit import other_gid
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.io.zookeeper import ClientPool, ZkSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
A, B, C = ("127.0.0.1", 18101), ("127.0.0.1", 18102), ("127.0.0.1", 18103)


# ------------------------------------------------------------------------------------------------ deciding (pure)
def model(*servers, **kw):
    return build("haproxy", "impala", ProfileOptions(servers=servers, bind_host="127.0.0.1", **kw))


def test_decide_first_apply_reloads_and_no_change_is_nothing():
    assert decide(None, None, model(A), runtime_api=True).action == RELOAD
    assert decide(model(A), pools(model(A)), model(A), runtime_api=True).action == NOTHING


def test_decide_never_publishes_an_empty_set():
    assert decide(model(A), pools(model(A)), None, runtime_api=True).action == REFUSE_EMPTY


def test_decide_uses_the_runtime_api_for_servers_the_process_knows():
    running = pools(model(A, B))
    removed = decide(model(A, B), running, model(A), runtime_api=True)
    assert removed.action == RUNTIME
    b = Server(*B).name
    assert removed.changes == (StateChange("impala_hue", b, "maint"), StateChange("impala_jdbc", b, "maint"))
    back = decide(model(A), running, model(A, B), runtime_api=True)  # B is still in the process, in maintenance
    assert back.action == RUNTIME
    assert back.changes == (StateChange("impala_hue", b, "ready"), StateChange("impala_jdbc", b, "ready"))
    assert back.describe() == f"added impala_hue/{b}, impala_jdbc/{b}"


def test_decide_reloads_for_a_new_server_a_changed_setting_or_a_load_balancer_without_runtime_api():
    running = pools(model(A, B))
    assert decide(model(A, B), running, model(A, B, C), runtime_api=True).action == RELOAD  # never seen C
    assert decide(model(A, B), running, model(A, B, session_timeout=43200), runtime_api=True).action == RELOAD
    assert decide(model(A, B), running, model(A), runtime_api=False).action == RELOAD


# ------------------------------------------------------------------------------------------------ live
def lb_options(workdir, **kw):
    binds = tuple((name, ("127.0.0.1", free_port())) for name in ("impala_shell", "impala_jdbc", "impala_hue"))
    return ProfileOptions(bind_host="127.0.0.1", binds=binds, check_interval=0.2, paths=RuntimePaths.under(workdir),
                          **kw)


def fetch(port):
    """One connection through the LB's TCP port to a Hue imitation: the name of the server that answered."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def names_seen(port, tries=8):
    return {fetch(port) for _ in range(tries)} - {None}


@pytest.fixture
def live(zk_server, zk_namespace, request):
    """A running LB (kind from the test's parameter) started with a placeholder backend, and a monitor factory."""
    kind = getattr(request, "param", "haproxy")
    workdir = lb_workdir()
    placeholder = HueBackend("placeholder")
    opts = lb_options(workdir)
    first = build(kind, "impala", dataclasses.replace(opts, servers=(placeholder.address,)))
    lb = LoadBalancerProcess(kind, first, own_dir=False).start()
    pool = ClientPool()
    discovery = Discovery(ZkSettings(hosts=zk_server.hosts, connect_timeout=15), pool=pool, debounce=0.02)
    monitors = []

    def make_monitor(model_options=None, **kw):
        def make_model(binary, http):
            return build(kind, "impala", dataclasses.replace(opts, servers=binary, http_servers=http,
                                                             **(model_options or {})))
        kw.setdefault("min_reload_interval", 0.5)
        monitor = Monitor(kind, make_model, lb.config_file, ZooKeeperSource(discovery, Service.of("hs2", zk_namespace)),
                          Reloader.for_paths(kind, opts.paths), runtime=RuntimeApi(admin_socket(opts.paths)),
                          debounce=0.05, **kw)
        monitors.append(monitor.start())
        return monitor

    yield kind, lb, make_monitor
    for monitor in monitors:
        monitor.stop()
    discovery.close()
    pool.close_all()
    lb.stop()
    placeholder.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.lb
@pytest.mark.parametrize("live", ["haproxy", "nginx"], indirect=True)
def test_registered_server_gets_traffic_killed_one_is_removed_and_empty_is_refused(live, registrar, zk_namespace,
                                                                                    caplog):
    kind, lb, make_monitor = live
    port = lb.port("impala_jdbc")
    caplog.set_level(logging.INFO, logger="hive_ha.lb")
    with HueBackend("one") as one, HueBackend("two") as two:
        reg_one = registrar.register(one.host, one.port, namespace=zk_namespace)
        monitor = make_monitor()
        wait_until(lambda: names_seen(port) == {"one"}, 30, message=lambda: f"never routed to one: {lb.log_tail()}")
        wait_until(lambda: monitor.applied == 1, 30, message="the first config was not counted as applied")
        reg_two = registrar.register(two.host, two.port, namespace=zk_namespace)
        wait_until(lambda: names_seen(port) == {"one", "two"}, 30, message="the new server never got traffic")
        wait_until(lambda: monitor.applied == 2, 30, message="the new server's change was not counted")
        reloads = monitor.reloads

        two.stop()  # killed: its port closes and its ZooKeeper session dies with it
        reg_two.crash()
        wait_until(lambda: f"127.0.0.1:{two.port}" not in _read(lb.config_file), 30,
                   message="the killed server stayed in the config")
        wait_until(lambda: names_seen(port) == {"one"}, 30, message="traffic still offered to the killed server")
        if kind == "haproxy":  # a server the process knows left: runtime API, no reload
            assert monitor.reloads == reloads
            states = RuntimeApi(admin_socket(lb.model.paths)).server_states("impala_jdbc")
            assert states[Server(*two.address).name] == "maint"
        assert any("applied by" in r.getMessage() and "impala_jdbc/" + Server(*two.address).name in r.getMessage() for r in caplog.records)

        reg_one.deregister()  # nothing left registered: keep the last good set and say so
        wait_until(lambda: any("refusing to publish an empty backend set" in r.getMessage() for r in caplog.records),
                   30, message="the empty set was not reported")
        # It counts what the kept file serves (one server per listener), not what the process still knows.
        refusal = next(r.getMessage() for r in caplog.records if "empty backend set" in r.getMessage())
        assert refusal.endswith("keeping the last good one (impala_shell: 1 server; impala_jdbc: 1 server; "
                                "impala_hue: 1 server)"), refusal
        assert f"127.0.0.1:{one.port}" in _read(lb.config_file)
        assert names_seen(port) == {"one"}


@pytest.mark.lb
def test_injection_attempts_are_refused_and_the_rest_keeps_working(live, registrar, zk_namespace):
    _, lb, make_monitor = live
    port = lb.port("impala_jdbc")
    with HueBackend("good") as good:
        registrar.register(good.host, good.port, namespace=zk_namespace)
        for evil in ("evil.example;server", "evil example", "evil{"):
            registrar.register(evil, 10000, namespace=zk_namespace)
        # ZooKeeper refuses control characters in names, not in data: a newline and config syntax in the data.
        registrar.register_raw(f"/{zk_namespace}/serverUri=127.0.0.1:1;version=3.1.3;sequence=",
                               b"hive.server2.thrift.bind.host=evil.example\n    server x 10.0.0.1:1 backup;"
                               b"hive.server2.thrift.port=1;hive.server2.transport.mode=binary")
        monitor = make_monitor()
        wait_until(lambda: names_seen(port) == {"good"}, 30, message=lambda: f"no traffic: {lb.log_tail()}")
        text = open(lb.config_file).read()
        assert "evil" not in text and "backup" not in text and "10.0.0.1" not in text
        wait_until(lambda: monitor.applied >= 1, 30, message="the change was not counted as applied")


@pytest.mark.lb
@pytest.mark.parametrize("live", ["haproxy", "nginx"], indirect=True)
def test_the_config_written_is_private_and_keeps_its_owner_and_group(live, registrar, zk_namespace):
    """The config may hold the stats password: the monitor's rewrite of a 0644 file (Debian ships haproxy.cfg so)
    is 0600, with the owner and group the operator gave it."""
    kind, lb, make_monitor = live
    os.chmod(lb.config_file, 0o644)
    os.chown(lb.config_file, -1, other_gid())
    before = os.stat(lb.config_file)
    stats = {"stats": Stats(Address("127.0.0.1", free_port()), "admin", "s3cret-stats-pw")} if kind == "haproxy" else {}
    with HueBackend("one") as one:
        registrar.register(one.host, one.port, namespace=zk_namespace)
        monitor = make_monitor(model_options=stats)
        wait_until(lambda: monitor.applied >= 1, 30, message=lambda: f"nothing applied: {lb.log_tail()}")
        wait_until(lambda: names_seen(lb.port("impala_jdbc")) == {"one"}, 30, message=lb.log_tail)
    after = os.stat(lb.config_file)
    assert f"127.0.0.1:{one.port}" in _read(lb.config_file)
    assert kind != "haproxy" or "stats auth admin:s3cret-stats-pw" in _read(lb.config_file)
    assert (oct(after.st_mode & 0o777), after.st_uid, after.st_gid) == ("0o600", before.st_uid, before.st_gid)


# 70 characters, a valid name, and .invalid never resolves (RFC 6761).
LONG_UNRESOLVABLE = "hs2-node-0001.analytics-prod.eu-west-1.compute.internal.example.invalid"


@pytest.mark.lb
@pytest.mark.parametrize("live", ["haproxy", "nginx"], indirect=True)
def test_a_registration_that_cannot_be_served_blocks_no_other_change(live, registrar, zk_namespace, caplog):
    """A long host name that does not resolve here: left out with one warning naming it; later changes still apply."""
    _, lb, make_monitor = live
    port = lb.port("impala_jdbc")
    caplog.set_level(logging.INFO, logger="hive_ha.lb")
    with HueBackend("one") as one, HueBackend("two") as two:
        registrar.register(one.host, one.port, namespace=zk_namespace)
        reg_two = registrar.register(two.host, two.port, namespace=zk_namespace)
        bad = registrar.register(LONG_UNRESOLVABLE, 21050, namespace=zk_namespace)
        monitor = make_monitor()
        wait_until(lambda: names_seen(port) == {"one", "two"}, 30, message=lambda: f"no traffic: {lb.log_tail()}")
        applied = monitor.applied
        two.stop()
        reg_two.crash()
        wait_until(lambda: f"127.0.0.1:{two.port}" not in _read(lb.config_file), 30,
                   message="a later change was not applied")
        wait_until(lambda: monitor.applied > applied, 30, message="the change was not counted")
        assert names_seen(port) == {"one"} and LONG_UNRESOLVABLE not in _read(lb.config_file)
        warnings = [r.getMessage() for r in caplog.records if "refused a registration" in r.getMessage()]
        assert len(warnings) == 1 and bad.znode in warnings[0] and repr(LONG_UNRESOLVABLE) in warnings[0], warnings


def test_a_host_left_out_as_unresolvable_is_looked_up_again(zk_server, zk_namespace, registrar):
    """Resolution is done once per registry reading, and again every resolve_retry s while a host is left out."""
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("hs2-b.example.test", 10000, namespace=zk_namespace)
    failing = {"hs2-b.example.test": "Name or service not known"}
    lookups = []

    def resolver(hosts):
        lookups.append(sorted(hosts))
        return {host: failing[host] for host in hosts if host in failing}

    now = [0.0]
    pool = ClientPool()
    discovery = Discovery(ZkSettings(hosts=zk_server.hosts, connect_timeout=15), pool=pool, debounce=0)
    try:
        source = ZooKeeperSource(discovery, Service.of("hs2", zk_namespace), resolve_retry=30, resolver=resolver,
                                 clock=lambda: now[0])
        wait_until(lambda: source.read().binary == (("127.0.0.1", 10000),), 30, message=lambda: source.read())
        first, looked_up = source.read(), len(lookups)
        assert lookups[-1] == ["hs2-b.example.test"]  # an IP address is not looked up
        failing.clear()  # the name resolves now
        now[0] = 29.0
        assert source.read() is first and len(lookups) == looked_up  # no lookup per poll
        now[0] = 31.0
        again = source.read()
        assert sorted(again.binary) == [("127.0.0.1", 10000), ("hs2-b.example.test", 10000)]
        assert again.token != first.token  # a change the monitor acts on
        now[0] = 1000.0
        assert source.read() is again  # nothing left out: no more lookups until the registry changes
    finally:
        discovery.close()
        pool.close_all()


def _monitor_process(zk_hosts, namespace, lb, log_path, election_path):
    """``hive-ha monitor`` for ``lb``; ``election_path`` None: ``--no-election``."""
    paths = lb.model.paths
    binds = [f"{listener.name}=127.0.0.1:{listener.bind.port}" for listener in lb.model.listeners]
    election = ["--no-election"] if election_path is None else ["--election-path", election_path]
    command = [sys.executable, "-m", "hive_ha.cli", "monitor", "--lb", "haproxy", "--config", lb.config_file,
               "--profile", "impala", "--from-zookeeper", zk_hosts, "--namespace", namespace,
               "--zk-session-timeout", "4", "--min-reload-interval", "0.2", "--check-interval", "0.2",
               *election, "--runtime-dir", paths.runtime_dir, "--log-dir", paths.log_dir,
               "--no-stats", "--bind", "127.0.0.1"] + [arg for bind in binds for arg in ("--bind", bind)]
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    finally:
        log.close()


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


@pytest.mark.lb
@pytest.mark.process
def test_killing_the_active_monitor_hands_over_to_a_standby(live, registrar, zk_server, zk_namespace, tmp_path):
    _, lb, _ = live
    port = lb.port("impala_jdbc")
    election = f"/hive-ha-test{zk_namespace}/monitor"
    logs = [str(tmp_path / "m1.log"), str(tmp_path / "m2.log")]
    procs = []
    with HueBackend("first") as first, HueBackend("second") as second:
        try:
            registrar.register(first.host, first.port, namespace=zk_namespace)
            procs.append(_monitor_process(zk_server.hosts, zk_namespace, lb, logs[0], election))
            wait_until(lambda: "now ACTIVE" in _read(logs[0]) or procs[0].poll() is not None, 60,
                       message=lambda: _read(logs[0]))
            assert procs[0].poll() is None, _read(logs[0])
            procs.append(_monitor_process(zk_server.hosts, zk_namespace, lb, logs[1], election))
            wait_until(lambda: names_seen(port) == {"first"}, 30, message=lambda: _read(logs[0]))
            wait_until(lambda: "STANDBY" in _read(logs[1]), 60, message=lambda: _read(logs[1]))
            assert "now ACTIVE" not in _read(logs[1])

            procs[0].send_signal(signal.SIGKILL)  # no clean close: its lock node lives until the session expires
            procs[0].wait(10)
            registrar.register(second.host, second.port, namespace=zk_namespace)
            wait_until(lambda: "now ACTIVE" in _read(logs[1]), 60, message=lambda: _read(logs[1]))
            wait_until(lambda: "second" in names_seen(port), 30, message=lambda: _read(logs[1]) + lb.log_tail())
            wait_until(lambda: re.search(r"added .*impala_jdbc/.*applied by reload in \d+ ms", _read(logs[1])), 30,
                       message=lambda: _read(logs[1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()


#: How long a signalled monitor may take to exit: its own bound (a clean stop, or giving up on one, within
#: STOP_TIMEOUT s of the first signal), plus the end of a Python process on a loaded 2-core machine.
STOP_BOUND = STOP_TIMEOUT + 5


def _stop(proc, log, signals=1, gap=0.0):
    """SIGTERM ``proc`` (``signals`` times, ``gap`` s apart); its exit code and the seconds from the first signal."""
    started = time.monotonic()
    for n in range(signals):
        if n:
            time.sleep(gap)  # a second signal at a chosen moment of the stop
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the monitor did not exit within {STOP_BOUND} s of SIGTERM x{signals}: {_read(log)[-3000:]}")
    return code, time.monotonic() - started


def _wait_acting(proc, log):
    wait_until(lambda: proc.poll() is not None or re.search(r"applied by|already current", _read(log)), 60,
               message=lambda: _read(log))
    assert proc.poll() is None, _read(log)


@pytest.mark.lb
@pytest.mark.process
@pytest.mark.slow
def test_sigterm_ends_the_monitor_within_its_bound_while_changes_happen(live, registrar, zk_server, zk_namespace,
                                                                        tmp_path):
    """Many monitors, each signalled at a random moment while a server keeps joining and leaving (reloads, runtime-API
    changes, ZooKeeper events): each one exits, 0 after a clean stop, or 143 when a second SIGTERM ended it. The handler takes no lock: one calling Event.set() while the main thread was inside Event.wait() on the
    same event deadlocked (rare: 1 of 150 runs of the old code, with two busy threads added to the monitor)."""
    _, lb, _ = live
    stopping, timings = threading.Event(), []
    with HueBackend("steady") as steady, HueBackend("flapping") as flapping:
        registrar.register(steady.host, steady.port, namespace=zk_namespace)

        def flap():
            while not stopping.is_set():
                registration = registrar.register(flapping.host, flapping.port, namespace=zk_namespace)
                stopping.wait(random.uniform(0.05, 0.4))
                registration.deregister()
                stopping.wait(random.uniform(0.05, 0.4))

        flapper = threading.Thread(target=flap, daemon=True)
        flapper.start()
        try:
            for i in range(24):
                log = str(tmp_path / f"monitor-{i}.log")
                election = None if i % 2 == 0 else f"/hive-ha-test{zk_namespace}/monitor"
                proc = _monitor_process(zk_server.hosts, zk_namespace, lb, log, election)
                try:
                    _wait_acting(proc, log)
                    time.sleep(random.uniform(0, 0.5))  # not a synchronisation: a random moment of its work
                    signals = 2 if i % 3 == 2 else 1  # every third run: SIGTERM twice
                    code, took = _stop(proc, log, signals, gap=random.uniform(0, 0.2))
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                # A second SIGTERM: 143 from the monitor, or -15 when it lands as the interpreter exits after a clean
                # stop (Python restores the default action then; a shell shows 143 for both).
                assert code == 0 or (signals == 2 and code in (143, -signal.SIGTERM)), f"exit {code}: {_read(log)}"
                timings.append((signals, code, round(took, 2)))
        finally:
            stopping.set()
            flapper.join(10)
    print(f"monitor stop times (SIGTERMs, exit code, seconds from the first): {timings}")


@pytest.mark.lb
@pytest.mark.process
@pytest.mark.parametrize("second_signal", [False, True], ids=["bound", "second-signal"])
def test_a_stop_that_cannot_finish_is_abandoned_at_its_bound_or_at_a_second_signal(live, registrar, zk_server,
                                                                                    zk_namespace, tmp_path,
                                                                                    second_signal):
    """HAProxy's master is frozen (SIGSTOP), so the monitor's reload waits (up to 30 s) for a new worker that cannot
    come; the monitor is signalled in that wait. It must not wait it out: it gives up at its bound (143, saying so),
    or at once on a second SIGTERM."""
    _, lb, _ = live
    log = str(tmp_path / "monitor.log")
    master = lb._process.pid  # noqa: SLF001 - the rig's haproxy -W master
    with HueBackend("first") as first, HueBackend("second") as second:
        registrar.register(first.host, first.port, namespace=zk_namespace)
        proc = _monitor_process(zk_server.hosts, zk_namespace, lb, log, None)
        try:
            _wait_acting(proc, log)
            os.kill(master, signal.SIGSTOP)
            try:
                registrar.register(second.host, second.port, namespace=zk_namespace)  # a new server: a reload
                wait_until(lambda: f"127.0.0.1:{second.port}" in _read(lb.config_file), 30,
                           message="the candidate was not written")  # written: the reload is under way
                code, took = _stop(proc, log, 2 if second_signal else 1, gap=0.5)
            finally:
                os.kill(master, signal.SIGCONT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 143, _read(log)[-3000:]
    expected = "SIGTERM while stopping" if second_signal else f"the stop did not finish within {STOP_TIMEOUT:g} s"
    assert expected in _read(log), _read(log)[-3000:]
    print(f"monitor stuck in a reload: exit {code} {took:.2f} s after the first SIGTERM "
          f"({'a second one 0.5 s later' if second_signal else 'no second one'})")


@pytest.mark.lb
@pytest.mark.process
@pytest.mark.zookeeper
def test_benchmark_quick_runs_and_ends_with_the_failed_connection_count():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "lb.py"), "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"failed_connections_during_reloads=\d+", last), result.stdout
    assert re.search(r"p50=\d+(\.\d+)? ms p99=\d+(\.\d+)? ms", result.stdout), result.stdout
