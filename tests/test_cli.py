"""The hive-ha command line, run as a real process against a real ZooKeeper."""
import json
import subprocess
import sys
import time

import pytest

from hive_ha.sandbox.zookeeper import free_port

pytestmark = pytest.mark.process  # every test runs the command line


def run(*args, timeout=60, env=None):
    return subprocess.run([sys.executable, "-m", "hive_ha.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_help_for_every_command():
    top = run("--help")
    assert top.returncode == 0 and "discover" in top.stdout and "Exit codes" in top.stdout
    sub = run("discover", "--help")
    assert sub.returncode == 0 and "--namespace" in sub.stdout and "3  no endpoint" in sub.stdout


def test_discover_json(zk_server, zk_namespace, registrar):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace, transport_mode="http", http_port=10011,
                       authentication="KERBEROS", principal="hive/_HOST@EXAMPLE.TEST")
    out = run("discover", "--zookeeper", zk_server.hosts, "--namespace", zk_namespace, "--json")
    assert out.returncode == 0, out.stderr
    endpoints = json.loads(out.stdout)
    assert [(e["host"], e["port"], e["transport_mode"]) for e in endpoints] == [
        ("127.0.0.1", 10000, "binary"), ("127.0.0.1", 10011, "http")]
    for key in ("host", "port", "transport_mode", "http_path", "authentication", "principal", "active", "znode"):
        assert key in endpoints[0]
    assert endpoints[1]["principal"] == "hive/127.0.0.1@EXAMPLE.TEST"


def test_discover_text_and_malformed_warning(zk_server, zk_namespace, registrar):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register_raw(f"{zk_namespace}/serverUri=bad;sequence=", b"", sequence=True)
    out = run("discover", "-z", zk_server.hosts, "--namespace", zk_namespace)
    assert out.returncode == 0
    assert "127.0.0.1:10000" in out.stdout
    assert out.stderr.count("malformed registration") == 1 and "serverUri=bad" in out.stderr


def test_discover_hsi_ha_marks_active(zk_server, zk_namespace, registrar):
    registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=True)
    registrar.register("127.0.0.1", 10501, layout="hsi-ha", namespace=zk_namespace, active=False)
    out = run("discover", "-z", zk_server.hosts, "--layout", "hsi-ha", "--namespace", zk_namespace, "--json")
    assert out.returncode == 0
    assert [(e["port"], e["active"]) for e in json.loads(out.stdout)] == [(10500, True), (10501, False)]


def test_no_endpoint_exit_3(zk_server, zk_namespace):
    out = run("discover", "-z", zk_server.hosts, "--namespace", zk_namespace)
    assert out.returncode == 3
    assert "no HiveServer2 endpoint available" in out.stderr and zk_namespace in out.stderr


def test_unreachable_exit_4_within_timeout():
    hosts = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    out = run("discover", "-z", hosts, "--timeout", "1")
    assert out.returncode == 4
    assert hosts in out.stderr and "unreachable" in out.stderr
    assert time.monotonic() - start < 30  # gave up near --timeout rather than hanging


def test_bad_usage_exit_2(zk_server):
    assert run("discover", "--layout", "nope").returncode == 2
    out = run("discover", "-z", zk_server.hosts, "--namespace", "/")
    assert out.returncode == 2 and "namespace" in out.stderr


def test_password_comes_from_environment_and_is_never_printed(zk_sasl_server):
    import os
    user, password = next(iter(zk_sasl_server.sasl_users.items()))
    env = dict(os.environ, ZKPW=password)
    out = run("discover", "-z", zk_sasl_server.hosts, "--zk-sasl-user", user, "--zk-password-env", "ZKPW", "-vv",
              env=env)
    assert out.returncode == 3  # authenticated fine; nothing registered under /hiveserver2
    assert password not in out.stdout + out.stderr
    missing = run("discover", "-z", zk_sasl_server.hosts, "--zk-sasl-user", user)
    assert missing.returncode == 2 and "--zk-password-env" in missing.stderr


def test_the_command_line_starts_without_the_test_rig():
    """The rig (test servers, ZooKeeper/KDC runners) is the sandbox's, behind its extra: not loaded at start."""
    probe = subprocess.run([sys.executable, "-c", "import sys, hive_ha.cli; hive_ha.cli.build_parser(); "
                            "print(sorted(m for m in sys.modules if m.startswith('hive_ha.sandbox.') and m != 'hive_ha.sandbox.cluster'))"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stdout + probe.stderr
