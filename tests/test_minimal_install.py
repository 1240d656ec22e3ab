"""A plain ``pip install <checkout>`` (no extras: kazoo and configobj only) runs every command that needs no extra
against a real ZooKeeper, a real HiveServer2-protocol server and a real haproxy; a command that needs an extra says
which one, with exit code 2 and no traceback.

The checkout is copied (so building leaves nothing in the tree) and installed into a fresh virtualenv without system
site-packages; pip's cache keeps repeated runs fast. The commands run from that virtualenv's ``hive-ha`` script in an
empty directory, so nothing from this checkout or this test environment can leak in.
"""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from hive_ha.lb import ProfileOptions, RuntimePaths, build
from tests.rig.lbrig import LoadBalancerProcess, lb_workdir
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port
from tests._pip import PIP_TIMEOUT, copy_sources

pytestmark = [pytest.mark.slow, pytest.mark.process]  # a fresh venv, and its hive-ha command
TIMEOUT = 120  # per command: generous, 2 shared cores


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """``(bin dir, env, cwd)`` of a fresh virtualenv holding the checkout installed without extras."""
    base = tmp_path_factory.mktemp("plain-install")
    source = copy_sources(base / "hive-ha")
    venv = base / "venv"
    for command in ([sys.executable, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                     str(source)]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    cwd = base / "empty"
    cwd.mkdir()
    return venv / "bin", env, cwd


def run(plain, *args, env=None):
    bindir, base_env, cwd = plain
    return subprocess.run([str(bindir / "hive-ha"), *args], capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=cwd, env={**base_env, **(env or {})})


def test_a_plain_install_holds_kazoo_and_configobj_and_starts_without_the_rig(plain):
    bindir, env, cwd = plain
    listing = subprocess.run([str(bindir / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True,
                             text=True, timeout=TIMEOUT, env=env, cwd=cwd)
    names = {item["name"].lower() for item in json.loads(listing.stdout)}
    assert names - {"pip", "setuptools", "wheel"} == {"hive-ha", "kazoo", "configobj"}
    probe = subprocess.run(
        [str(bindir / "python"), "-c", "import sys, hive_ha, hive_ha.lb, hive_ha.cli; hive_ha.cli.build_parser(); "
         "print(sorted(m for m in sys.modules if m.startswith('hive_ha.sandbox.') and m != 'hive_ha.sandbox.cluster' or m in ('thrift', 'TCLIService')))"],
        capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd)
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    top = run(plain, "--help")
    assert top.returncode == 0 and "sandbox" in top.stdout and "emit" in top.stdout


def test_discover_watch_and_check_read_zookeeper(plain, zk_server, zk_namespace, registrar, hs2_server):
    registrar.register(hs2_server.host, hs2_server.port, namespace=zk_namespace)
    address = f"{hs2_server.host}:{hs2_server.port}"
    where = ("-z", zk_server.hosts, "--namespace", zk_namespace)

    found = run(plain, "discover", *where, "--json")
    assert found.returncode == 0, found.stderr
    assert [f"{e['host']}:{e['port']}" for e in json.loads(found.stdout)] == [address]

    watched = run(plain, "watch", *where, "--duration", "1")
    assert watched.returncode == 0, watched.stderr
    assert re.search(rf"present\s+{re.escape(address)}", watched.stdout), watched.stdout

    checked = run(plain, "check", *where)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # a skipped item is no failure
    report = checked.stdout
    for item in ("OK    zookeeper", "OK    namespace", "OK    registrations", f"OK    tcp           {address}"):
        assert item in report, report
    assert f"SKIP  session       {address}" in report and "pip install 'hive-ha[dbapi]'" in report, report
    assert "Traceback" not in checked.stderr


@pytest.mark.lb
def test_emit_and_monitor_keep_a_real_haproxy_in_step(plain, zk_server, zk_namespace, registrar, hs2_server,
                                                      tmp_path):
    registrar.register(hs2_server.host, hs2_server.port, namespace=zk_namespace)
    address = f"{hs2_server.host}:{hs2_server.port}"
    workdir = lb_workdir("hive-ha-plain-")
    port = free_port()
    flags = ["--profile", "hiveserver2", "--from-zookeeper", zk_server.hosts, "--namespace", zk_namespace,
             "--bind", f"hs2_binary=127.0.0.1:{port}", "--runtime-dir", workdir, "--log-dir", workdir, "--no-stats"]

    emitted = run(plain, "emit", "haproxy", *flags, "--check", "-o", str(tmp_path / "haproxy.cfg"))
    assert emitted.returncode == 0, emitted.stderr
    assert address in (tmp_path / "haproxy.cfg").read_text()

    placeholder = ProfileOptions(servers=(("127.0.0.1", free_port()),), bind_host="127.0.0.1",
                                 binds=(("hs2_binary", ("127.0.0.1", port)),), paths=RuntimePaths.under(workdir))
    lb = LoadBalancerProcess("haproxy", build("haproxy", "hiveserver2", placeholder), own_dir=True).start()
    log = tmp_path / "monitor.log"
    try:
        with open(log, "wb") as out:
            bindir, env, cwd = plain
            monitor = subprocess.Popen([str(bindir / "hive-ha"), "monitor", "--lb", "haproxy", "--config",
                                        lb.config_file, "--no-election", *flags], stdout=out, stderr=subprocess.STDOUT,
                                       cwd=cwd, env=env)
        try:
            wait_until(lambda: "applied by reload" in log.read_text() or monitor.poll() is not None, TIMEOUT,
                       message=lambda: log.read_text() + lb.log_tail())
            assert monitor.poll() is None, log.read_text()
            assert address in open(lb.config_file).read()
        finally:
            monitor.send_signal(signal.SIGTERM)
            assert monitor.wait(30) == 0, log.read_text()
    finally:
        lb.stop()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("args,extra", [
    (("sandbox",), "sandbox"),
    (("sandbox", "--kerberos"), "sandbox,kerberos"),
    (("discover", "-z", "127.0.0.1:1", "--zk-sasl-user", "hue", "--zk-password-env", "PW"), "kerberos"),
])
def test_a_command_needing_an_extra_names_it(plain, args, extra):
    result = run(plain, *args, env={"PW": "secret"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pip install 'hive-ha[{extra}]'" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
