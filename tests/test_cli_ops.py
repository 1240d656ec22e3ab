"""``hive-ha watch`` and ``hive-ha check`` against a real ZooKeeper and real HiveServer2-protocol servers."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from hive_ha.clients.deployment_check import FAIL, SKIP, Credentials, run_check
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot
from hive_ha.model.endpoint import Endpoint
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.cli.watch import changes
from hive_ha.io.zookeeper import ZkSettings

LINE_TIMEOUT = 60  # generous: 2 shared cores


def run(*args, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "hive_ha.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


class Live:
    """A running ``hive-ha`` command whose stdout lines arrive in a queue (reading never blocks the test)."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "hive_ha.cli", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self):
        line = self.lines.get(timeout=LINE_TIMEOUT)
        assert line is not None, "command ended early: " + self.proc.stderr.read()
        return line

    def until(self, predicate):
        seen = []
        while True:
            seen.append(self.next())
            if predicate(seen[-1]):
                return seen

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def live():
    started = []

    def start(*args):
        started.append(Live(*args))
        return started[-1]

    yield start
    for cmd in started:
        cmd.close()


# -- watch -------------------------------------------------------------------------------------------------------
def test_changes_is_pure_and_reports_each_kind():
    service = Service.of("hsi-ha", "/ns")
    a = Endpoint("10.0.0.1", 10500, "/ns/instances/instance-0000000001", active=True)
    b = Endpoint("10.0.0.2", 10500, "/ns/instances/instance-0000000002", active=False)
    first = Snapshot(service, "zk:2181", "/ns/instances", (a, b), (("/ns/instances/x", "bad"),))
    assert [(c.kind, c.endpoint) for c in changes(None, first)] == [
        ("present", a), ("present", b), ("leader", a), ("malformed", None)]
    flipped = Snapshot(service, "zk:2181", "/ns/instances",
                       (Endpoint(**{**a.as_dict(), "active": False}), Endpoint(**{**b.as_dict(), "active": True})),
                       first.malformed)
    assert [(c.kind, c.endpoint.address) for c in changes(first, flipped)] == [("leader", "10.0.0.2:10500")]
    http = Endpoint(**{**b.as_dict(), "active": True, "transport_mode": "http"})
    moved = Snapshot(service, "zk:2181", "/ns/instances", (http,))
    found = changes(flipped, moved)
    assert [c.kind for c in found] == ["removed", "changed"]
    assert "transport_mode 'binary' -> 'http'" in found[1].detail
    gone = Snapshot(service, "zk:2181", "/ns/instances", exists=False)
    assert [c.kind for c in changes(moved, gone)] == ["missing", "removed", "no-leader"]


@pytest.mark.process
def test_watch_json_initial_set_then_added_removed_changed(zk_server, zk_namespace, registrar):
    first = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    cmd = Live("watch", "-z", zk_server.hosts, "--namespace", zk_namespace, "--json", "--count", "3")
    initial = json.loads(cmd.next())
    assert initial["event"] == "present" and initial["endpoint"]["port"] == 10000
    assert initial["time"][:4].isdigit() and "T" in initial["time"]
    second = registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    added = json.loads(cmd.next())
    assert (added["event"], added["endpoint"]["znode"]) == ("added", second.znode)
    first.deregister()
    removed = json.loads(cmd.next())
    assert (removed["event"], removed["endpoint"]["znode"]) == ("removed", first.znode)
    second.set_data(b"hive.server2.thrift.bind.host=127.0.0.1;hive.server2.transport.mode=http;"
                    b"hive.server2.thrift.http.port=10011;hive.server2.authentication=NONE")
    changed = json.loads(cmd.next())
    assert changed["event"] == "changed" and changed["endpoint"]["port"] == 10011
    assert cmd.proc.wait(LINE_TIMEOUT) == 0  # --count 3 reached


@pytest.mark.process
def test_watch_text_leader_flip_and_ctrl_c(zk_server, zk_namespace, registrar):
    a = registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=True)
    b = registrar.register("127.0.0.1", 10501, layout="hsi-ha", namespace=zk_namespace, active=False)
    cmd = Live("watch", "-z", zk_server.hosts, "--layout", "hsi-ha", "--namespace", zk_namespace)
    initial = cmd.until(lambda line: " leader " in line)
    assert [line.split()[1] for line in initial] == ["present", "present", "leader"]
    assert "127.0.0.1:10500" in initial[-1] and "ACTIVE" in initial[-1]
    registrar.make_active(b)
    cmd.until(lambda line: " leader " in line and "127.0.0.1:10501" in line)
    cmd.proc.send_signal(signal.SIGINT)
    assert cmd.proc.wait(LINE_TIMEOUT) == 0
    assert a.exists()


@pytest.mark.process
def test_watch_reports_stale_and_live_when_zookeeper_goes_and_returns(zk_server_factory, registrar_factory):
    zk = zk_server_factory(name="zk-watch-stale")
    registrar_factory(zk.hosts, session_timeout=30).register("127.0.0.1", 10000)
    cmd = Live("watch", "-z", zk.hosts)
    assert " present " in cmd.next()
    zk.kill()
    assert " stale " in cmd.next()
    zk.start()
    assert " live " in cmd.until(lambda line: " live " in line)[-1]
    cmd.proc.send_signal(signal.SIGINT)
    assert cmd.proc.wait(LINE_TIMEOUT) == 0


@pytest.mark.process
def test_watch_unreachable_exit_4():
    out = run("watch", "-z", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert out.returncode == 4 and "unreachable" in out.stderr


# -- check -------------------------------------------------------------------------------------------------------
def by_item(report, item):
    return [f for f in report.findings if f.item == item]


@pytest.mark.process
def test_check_healthy_deployment_every_transport_and_auth(zk_server, zk_namespace, registrar, hs2_server_factory):
    sasl = hs2_server_factory("hs2-sasl", auth="NONE")
    plain = hs2_server_factory("hs2-nosasl", auth="NOSASL")
    http = hs2_server_factory("hs2-http", transport="http")
    registrar.register(sasl.host, sasl.port, namespace=zk_namespace, authentication="NONE")
    registrar.register(plain.host, plain.port, namespace=zk_namespace, authentication="NOSASL")
    registrar.register(http.host, http.port, namespace=zk_namespace, transport_mode="http", authentication="NONE")
    out = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--user", "carol")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("  OK    session ") == 3 and "healthy:" in out.stdout
    assert "no authentication, no TLS" in out.stdout
    for server in (sasl, plain, http):
        assert server.calls["OpenSession"] == 1 and server.calls["CloseSession"] == 1
        assert not server.sessions  # closed again


@pytest.mark.process
def test_check_problems_exit_5_with_hints_and_malformed_warning(zk_server, zk_namespace, registrar,
                                                                 hs2_server_factory):
    good = hs2_server_factory("hs2-good", auth="NONE")
    registrar.register(good.host, good.port, namespace=zk_namespace)
    dead_port = free_port()
    registrar.register("127.0.0.1", dead_port, namespace=zk_namespace)
    wrong = hs2_server_factory("hs2-wrong", auth="NONE")  # speaks SASL but published NOSASL
    registrar.register(wrong.host, wrong.port, namespace=zk_namespace, authentication="NOSASL")
    bad = registrar.register_raw(f"{zk_namespace}/serverUri=nohost;sequence=", b"", sequence=True)
    out = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--json")
    assert out.returncode == 5, out.stderr
    report = json.loads(out.stdout)
    assert report["healthy"] is False and report["summary"]["fail"] == 2 and report["summary"]["warn"] == 1
    failed = {f["item"] + " " + f["subject"]: f for f in report["findings"] if f["status"] == "fail"}
    refused = failed[f"tcp 127.0.0.1:{dead_port}"]
    assert "refused" in refused["detail"] and "is HiveServer2 running" in refused["hint"]
    mismatch = failed[f"session {wrong.host}:{wrong.port}"]
    assert "NOSASL" in mismatch["detail"] and "does not speak what it published" in mismatch["hint"]
    warning = next(f for f in report["findings"] if f["status"] == "warn")
    assert warning["subject"] == str(bad) and "malformed" in warning["detail"]
    strict = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--strict")
    assert strict.returncode == 5 and "PROBLEMS FOUND" in strict.stdout and "next: " in strict.stdout


@pytest.mark.process
def test_check_ldap_needs_credentials_and_never_prints_the_password(zk_server, zk_namespace, registrar,
                                                                   hs2_server_factory):
    ldap = hs2_server_factory("hs2-ldap", auth="LDAP", users={"alice": "Right-Secret-1"})
    registrar.register(ldap.host, ldap.port, namespace=zk_namespace, authentication="LDAP")
    settings, service = ZkSettings(hosts=zk_server.hosts), Service.of("hs2", zk_namespace)
    skipped = run_check(settings, service, Credentials("alice"))
    assert by_item(skipped, "session")[0].status == SKIP and skipped.healthy()
    assert "--password-env" in by_item(skipped, "session")[0].hint
    env = dict(os.environ, CHECK_PW="Wrong-Secret-2")
    wrong = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--user", "alice",
                "--password-env", "CHECK_PW", env=env)
    assert wrong.returncode == 5 and "refused the credentials" in wrong.stdout
    assert "Wrong-Secret-2" not in wrong.stdout + wrong.stderr
    env["CHECK_PW"] = "Right-Secret-1"
    right = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--user", "alice",
                "--password-env", "CHECK_PW", env=env)
    assert right.returncode == 0 and "OpenSession + CloseSession as alice" in right.stdout
    assert "Right-Secret-1" not in right.stdout + right.stderr
    assert run("check", "-z", zk_server.hosts, "--password-env", "HIVE_HA_UNSET_VAR").returncode == 2


@pytest.mark.process
def test_check_hsi_ha_without_leader_and_kerberos_without_ticket(zk_server, zk_namespace, registrar,
                                                                 hs2_server_factory, monkeypatch):
    server = hs2_server_factory("hsi-k", auth="NONE")
    registrar.register(server.host, server.port, layout="hsi-ha", namespace=zk_namespace, active=False,
                       authentication="KERBEROS", principal="hive/_HOST@EXAMPLE.TEST")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:/nonexistent/hive-ha-{os.getpid()}")  # certainly no ticket
    report = run_check(ZkSettings(hosts=zk_server.hosts), Service.of("hsi-ha", zk_namespace), Credentials("bob"))
    leader = by_item(report, "leader")[0]
    assert leader.status == FAIL and "activeEndpoint" in leader.detail and leader.hint
    session = by_item(report, "session")[0]
    assert session.status in (SKIP, FAIL) and "Kerberos" in session.detail + session.hint
    assert not report.healthy()


@pytest.mark.process
def test_check_missing_namespace_and_unreachable_zookeeper(zk_server, zk_namespace):
    missing = run("check", "-z", zk_server.hosts, "--namespace", zk_namespace)
    assert missing.returncode == 5
    assert "FAIL  namespace" in missing.stdout and "dynamic.service.discovery" in missing.stdout
    down = run("check", "-z", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert down.returncode == 4 and "FAIL  zookeeper" in down.stdout and "next: is ZooKeeper running" in down.stdout


@pytest.mark.process
def test_check_verifies_tls_servers_and_says_how_to_fix(zk_server, zk_namespace, registrar, hs2_server_factory,
                                                        hs2_tls, tmp_path):
    binary = hs2_server_factory("hs2-tls", auth="NONE", tls=hs2_tls.server)
    http = hs2_server_factory("hs2-https", transport="http", tls=hs2_tls.server)
    registrar.register(binary.host, binary.port, namespace=zk_namespace, use_ssl=True)
    registrar.register(http.host, http.port, namespace=zk_namespace, transport_mode="http", use_ssl=True)
    base = ("check", "-z", zk_server.hosts, "--namespace", zk_namespace, "--user", "carol")
    untrusted = run(*base)  # their CA is not in the system trust store
    assert untrusted.returncode == 5, untrusted.stdout + untrusted.stderr
    assert untrusted.stdout.count("FAIL  session") == 2 and "TLS certificate not verified" in untrusted.stdout
    assert "the system default trust store" in untrusted.stdout and "next: trust the CA" in untrusted.stdout
    assert "--tls-ca PEM" in untrusted.stdout and binary.calls["OpenSession"] == http.calls["OpenSession"] == 0
    trusted = run(*base, "--tls-ca", hs2_tls.ca)
    assert trusted.returncode == 0 and trusted.stdout.count("OK    session") == 2, trusted.stdout
    assert "binary TLS, auth NONE" in trusted.stdout and "WARNING" not in trusted.stderr
    unverified = run(*base, "--tls-no-verify")
    assert unverified.returncode == 0 and "certificate NOT verified" in unverified.stdout
    assert unverified.stderr.count("TLS certificate verification is OFF") == 2  # once per server
    not_pem = tmp_path / "truststore.jks"
    not_pem.write_bytes(b"\xfe\xed\xfe\xed")
    bad = run(*base, "--tls-ca", str(not_pem))
    assert bad.returncode == 2 and "--tls-ca" in bad.stderr and "PEM" in bad.stderr


@pytest.mark.process
def test_check_reports_refused_zookeeper_credentials(zk_sasl_server):
    user = next(iter(zk_sasl_server.sasl_users))
    env = dict(os.environ, ZKPW="not-the-password")
    out = run("check", "-z", zk_sasl_server.hosts, "--zk-sasl-user", user, "--zk-password-env", "ZKPW", env=env)
    assert out.returncode == 4
    assert "refused the credentials (SASL DIGEST-MD5 as " + user in out.stdout
    assert "not-the-password" not in out.stdout + out.stderr


def test_help_for_ops_commands(capsys):
    from hive_ha.cli import main

    def exits(*argv):
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        return exc.value.code, capsys.readouterr()

    for command, needle in (("watch", "--count"), ("check", "--tls-no-verify"), ("sandbox", "--servers")):
        code, out = exits(command, "--help")
        assert code == 0 and needle in out.out and "Exit codes" in out.out
        if command != "sandbox":
            for shared in ("--zookeeper", "--layout", "--namespace", "--timeout", "--config", "--zk-sasl-user"):
                assert shared in out.out
    assert exits("watch", "--count", "0")[0] == 2
    assert main(["sandbox", "--servers", "99"]) == 2 and "--servers" in capsys.readouterr().err
