"""``hive-ha sandbox`` as a real process: its ZooKeeper and servers are usable, and SIGINT/SIGTERM leave nothing."""
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from hive_ha.sandbox.cluster import Sandbox, SandboxOptions
from hive_ha.testing.waiting import wait_until

TIMEOUT = 90  # generous: 2 shared cores


def hive_ha(*args):
    return subprocess.run([sys.executable, "-m", "hive_ha.cli", *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


def start_sandbox(*args):
    proc = subprocess.Popen([sys.executable, "-m", "hive_ha.cli", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def read_until_zookeeper_pid(proc, lines):
    out = []
    while not out or not out[-1].startswith("zookeeper_pid="):
        line = lines.get(timeout=TIMEOUT)
        assert line is not None, "sandbox ended early: " + proc.stderr.read()
        out.append(line)
    return out


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie awaiting its reaper is gone too
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


def port_closed(hostport):
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.fixture
def sandbox_proc():
    started = []

    def start(*args):
        started.append(start_sandbox(*args))
        return started[-1]

    yield start
    for proc, _ in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.process
@pytest.mark.zookeeper
@pytest.mark.hs2
@pytest.mark.parametrize("layout,sig", [("hs2", signal.SIGINT), ("hsi-ha", signal.SIGTERM)])
def test_sandbox_serves_discovery_and_cleans_up_on_signal(sandbox_proc, layout, sig):
    proc, lines = sandbox_proc("--servers", "2", "--layout", layout)
    out = read_until_zookeeper_pid(proc, lines)
    header = re.fullmatch(r"zookeeper=(127\.0\.0\.1:\d+) namespace=(/\S+)", out[0])
    assert header, out
    hosts, namespace = header.groups()
    servers = [dict(kv.split("=", 1) for kv in line.split()[:4]) for line in out[1:-1]]
    assert [s["server"] for s in servers] == (["hs2-1", "hs2-2"] if layout == "hs2" else ["hsi-1", "hsi-2"])
    zk_pid, zk_dir = re.fullmatch(r"zookeeper_pid=(\d+) zookeeper_dir=(\S+)", out[-1]).groups()
    assert os.path.isdir(zk_dir)

    found = hive_ha("discover", "-z", hosts, "--layout", layout, "--namespace", namespace, "--json")
    assert found.returncode == 0, found.stderr
    endpoints = json.loads(found.stdout)
    assert sorted(f"{e['host']}:{e['port']}" for e in endpoints) == sorted(s["address"] for s in servers)
    if layout == "hsi-ha":
        assert [e["active"] for e in endpoints] == [True, False] and out[1].endswith(" active")

    proc.send_signal(sig)
    assert proc.wait(TIMEOUT) == 0, proc.stderr.read()
    for pid in [int(zk_pid)] + [int(s["pid"]) for s in servers]:
        wait_until(lambda pid=pid: pid_gone(pid), timeout=TIMEOUT, message=f"pid {pid} still running")
    for address in [hosts] + [s["address"] for s in servers]:
        assert port_closed(address), address
    assert not os.path.exists(zk_dir)


@pytest.mark.process
@pytest.mark.zookeeper
@pytest.mark.hs2
def test_kill_9_of_a_printed_server_pid_expires_its_znode_and_leaves_no_zombie(sandbox_proc):
    """The server process owns its ZooKeeper session, as HiveServer2 does: kill -9 from outside ends it."""
    from kazoo.client import KazooClient

    proc, lines = sandbox_proc("--servers", "2", "--session-timeout", "2")
    out = read_until_zookeeper_pid(proc, lines)
    hosts, namespace = re.fullmatch(r"zookeeper=(\S+) namespace=(/\S+)", out[0]).groups()
    victim, survivor = [dict(kv.split("=", 1) for kv in line.split()) for line in out[1:3]]
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=30)
    try:
        children = lambda: {f"{namespace}/{name}" for name in client.get_children(namespace)}  # noqa: E731
        assert children() == {victim["znode"], survivor["znode"]}
        os.kill(int(victim["pid"]), signal.SIGKILL)
        wait_until(lambda: not os.path.exists(f"/proc/{victim['pid']}"), timeout=TIMEOUT,
                   message=f"pid {victim['pid']} was not reaped (a zombie)")
        wait_until(lambda: children() == {survivor["znode"]}, timeout=TIMEOUT,
                   message=lambda: f"{victim['znode']} did not expire: {children()}")
        assert proc.poll() is None  # the rest keeps running
    finally:
        client.stop()
        client.close()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(TIMEOUT) == 0
    stderr = proc.stderr.read()
    assert f"server={victim['server']} pid={victim['pid']} ended (killed by SIGKILL)" in stderr, stderr
    assert victim["znode"] in stderr and "session expires (--session-timeout 2 s)" in stderr


CONNECT_AS_CLIENT = """
import sys, hive_ha
from hive_ha.io.zookeeper import ZkSettings
hosts, namespace, principal = sys.argv[1:]
settings = ZkSettings(hosts=hosts, auth_scheme="sasl", sasl_mechanism="GSSAPI", sasl_principal=principal)
conn = hive_ha.connect(zookeeper=settings, namespace=namespace, auth="KERBEROS", kerberos_service_name="hive")
cursor = conn.cursor()
cursor.execute("select current_server(), current_user()")
print(*cursor.fetchall()[0])
conn.close()
"""


def kerberos_lines(out):
    """The sandbox's Kerberos lines -> (KRB5_CONFIG, client env, hue.ini [hive_ha] keys)."""
    krb5_config = re.fullmatch(r"KRB5_CONFIG=(\S+)", out[1]).group(1)
    assert out[2].startswith("client_env ") and out[3].startswith("hue_ini [hive_ha] "), out
    client_env = dict(kv.split("=", 1) for kv in out[2].split()[1:])
    keys = dict(kv.split("=", 1) for kv in out[3].split()[2:])
    return krb5_config, client_env, keys


@pytest.mark.process
@pytest.mark.zookeeper
@pytest.mark.hs2
@pytest.mark.kerberos
def test_kerberos_sandbox_prints_what_clients_need_and_cleans_up(sandbox_proc, tmp_path):
    pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")
    proc, lines = sandbox_proc("--kerberos", "--servers", "2")
    out = read_until_zookeeper_pid(proc, lines)
    hosts, namespace = re.fullmatch(r"zookeeper=(localhost:\d+) namespace=(/\S+)", out[0]).groups()
    krb5_config, client_env, keys = kerberos_lines(out)
    assert client_env["KRB5_CONFIG"] == krb5_config and client_env["KRB5_CLIENT_KTNAME"].endswith("alice.keytab")
    assert keys["zookeeper_auth"] == "sasl" and keys["zookeeper_sasl_mechanism"] == "GSSAPI"
    assert keys["zookeeper_sasl_principal"] == "hue@EXAMPLE.TEST" and os.path.isfile(keys["kerberos_keytab"])
    servers = [dict(kv.split("=", 1) for kv in line.split()[:4]) for line in out[4:-1]]
    assert [s["server"] for s in servers] == ["hs2-1", "hs2-2"]
    kdc_port = int(re.search(r"kdc = 127\.0\.0\.1:(\d+)", open(krb5_config).read()).group(1))
    base = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}

    # hive-ha discover as Hue would read the registry: the hue.ini keys + KRB5_CONFIG.
    ini = tmp_path / "hue.ini"
    ini.write_text("[hive_ha]\n" + "".join(f"  {key}={value}\n" for key, value in keys.items()))
    found = subprocess.run([sys.executable, "-m", "hive_ha.cli", "discover", "-z", hosts, "--namespace", namespace,
                            "--config", str(ini), "--json"], capture_output=True, text=True, timeout=TIMEOUT,
                           env=dict(base, KRB5_CONFIG=krb5_config))
    assert found.returncode == 0, found.stderr
    endpoints = json.loads(found.stdout)
    assert sorted(e["port"] for e in endpoints) == sorted(int(s["address"].rsplit(":", 1)[1]) for s in servers)
    assert {(e["host"], e["authentication"], e["principal"]) for e in endpoints} == {
        ("localhost", "KERBEROS", "hive/localhost@EXAMPLE.TEST")}

    # A client with the printed environment queries a server as alice.
    query = subprocess.run([sys.executable, "-c", CONNECT_AS_CLIENT, hosts, namespace, "alice@EXAMPLE.TEST"],
                           capture_output=True, text=True, timeout=TIMEOUT, env=dict(base, **client_env))
    assert query.returncode == 0, query.stderr
    server, user = query.stdout.split()
    assert server in ("hs2-1", "hs2-2") and user.startswith("alice")

    zk_pid, zk_dir = re.fullmatch(r"zookeeper_pid=(\d+) zookeeper_dir=(\S+)", out[-1]).groups()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(TIMEOUT) == 0, proc.stderr.read()
    for pid in [int(zk_pid)] + [int(s["pid"]) for s in servers]:
        wait_until(lambda pid=pid: pid_gone(pid), timeout=TIMEOUT, message=f"pid {pid} still running")
    for address in [hosts, f"127.0.0.1:{kdc_port}"] + [s["address"] for s in servers]:
        assert port_closed(address), address
    assert not os.path.exists(zk_dir) and not os.path.exists(os.path.dirname(krb5_config))


@pytest.mark.zookeeper
@pytest.mark.hs2
@pytest.mark.kerberos
def test_kerberos_sandbox_class_restores_the_environment():
    pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")
    before = {key: os.environ.get(key) for key in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_CLIENT_KTNAME")}
    with Sandbox(SandboxOptions(servers=1, kerberos=True)) as sandbox:
        assert sandbox.options.auth == "KERBEROS" and sandbox.hosts.startswith("localhost:")
        (server,) = sandbox.servers
        acls, _ = sandbox.registrar.client.get_acls(server.znode)  # Hive's secure ACL, written by hive/localhost
        assert {(a.id.scheme, a.id.id) for a in acls} == {("world", "anyone"), ("sasl", "hive/localhost@EXAMPLE.TEST")}
        assert os.environ["KRB5CCNAME"].startswith("DIR:")
    assert {key: os.environ.get(key) for key in before} == before
    assert sandbox.zookeeper.dir is None and sandbox.kerberos.dir is None


@pytest.mark.zookeeper
@pytest.mark.hs2
def test_sandbox_class_hsi_layout_http_and_second_layout():
    with Sandbox(SandboxOptions(servers=1, layout="hsi", transport="http", auth="NOSASL")) as sandbox:
        assert sandbox.header_line() == f"zookeeper={sandbox.hosts} namespace=/hiveserver2-hive2"
        (server,) = sandbox.servers
        data = sandbox.registrar.client.get(server.znode)[0].decode()
        assert "hive.server2.transport.mode=http" in data and f"hive.server2.thrift.http.port={server.process.port}" in data
        ha = sandbox.add_servers(2, "hsi-ha")
        assert [s.active for s in ha] == [True, False] and ha[0].namespace == "/hs2ActivePassiveHA-unsecure"
        sandbox.make_active(ha[1])
        assert [s.active for s in ha] == [False, True]
        pids = [s.pid for s in sandbox.servers]
    assert all(pid_gone(pid) for pid in pids)
    assert sandbox.zookeeper.dir is None


def test_sandbox_rejects_bad_options():
    with pytest.raises(ValueError, match="--layout"):
        SandboxOptions(layout="kyuubi")
    with pytest.raises(ValueError, match="namespace"):
        SandboxOptions(namespace="/")
    with pytest.raises(ValueError, match="--kerberos"):
        SandboxOptions(auth="KERBEROS")
    with pytest.raises(ValueError, match="--auth"):
        SandboxOptions(auth="NOSASL", kerberos=True)
    with pytest.raises(ValueError, match="binary"):
        SandboxOptions(transport="http", kerberos=True)
