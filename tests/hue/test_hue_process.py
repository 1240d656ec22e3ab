"""Hue processes configured by a hue.ini alone (``hue`` management commands): what an admin sees at start-up."""
import json
import re
import time

import pytest

from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import wait_until
from tests.hue import conf_files, foreign_plugin
from tests.hue.hue_process import HueHome

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home():
    home = HueHome()
    home.hue("migrate", "--noinput")
    yield home
    home.stop()


def hue_ini(zk_hosts, namespace, policy="per_user"):
    """Discovery on, with this file's selection policy and a short backoff."""
    return conf_files.discovery_ini(zk_hosts, namespace, f"selection_policy={policy}\nexclusion_backoff=7")


def test_hue_check_reports_what_hive_ha_sees_without_stopping_hue(home, zk_server, zk_namespace, registrar):
    """A registry without servers is a warning: ``hue migrate`` and Hue's start-up must still run."""
    home.configure(hue_ini(zk_server.hosts, zk_namespace))
    missing = home.hue("check")
    assert "hive_ha.W004" in missing.stderr and zk_namespace in missing.stderr
    home.hue("migrate", "--noinput")
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    fine = home.hue("check")
    assert "hive_ha.W" not in fine.stderr and "hive_ha.E" not in fine.stderr


def test_hue_check_with_zookeeper_unreachable_says_so_at_once_and_truthfully(home):
    """Every hue command runs the checks: with nothing listening at the ensemble, W003 comes within a fraction of a
    second (not after a 5 s wait per service) and says what the watcher knows, not a timeout that did not happen."""
    home.configure(hue_ini(f"127.0.0.1:{free_port()}", "/hiveserver2"))  # a free port: connections refused
    started = time.monotonic()
    on = home.hue("check")
    with_hive_ha = time.monotonic() - started
    w003 = [line for line in on.stderr.splitlines() if "hive_ha.W003" in line]
    assert len(w003) == 1, on.stderr
    waited = re.search(r"not connected after this check waited (\d+\.\d) s; nothing is known of hs2:/hiveserver2 yet",
                       w003[0])
    assert waited and float(waited.group(1)) < 1, w003[0]  # it says how long it waited, and that is all it waited
    assert "30 s" not in w003[0] and "within" not in w003[0], w003[0]
    home.configure("")
    started = time.monotonic()
    home.hue("check")
    without = time.monotonic() - started
    print(f"hue check: {with_hive_ha:.1f} s with hive-ha on and ZooKeeper unreachable, {without:.1f} s with hive-ha "
          f"off (the W003 line: {w003[0].strip()})")


def test_switched_on_by_hue_ini_alone(home, zk_server, zk_namespace, registrar):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    home.configure(hue_ini(zk_server.hosts, zk_namespace))
    out = home.python("""
        import json
        from beeswax.server import dbms
        from hue_integration import install
        integration = install.active()
        query_server = dbms.get_query_server_config()
        print(json.dumps({"policy": integration.config.selection_policy, "backoff": integration.config.backoff.base,
                          "hosts": integration.discovery.settings.hosts,
                          "server": [query_server["server_host"], query_server["server_port"]]}))
        """)
    state = json.loads(out.strip().splitlines()[-1])
    assert state == {"policy": "per_user", "backoff": 7.0, "hosts": zk_server.hosts, "server": ["127.0.0.1", 10000]}
    assert "hive-ha installed" in home.log()


@pytest.mark.parametrize("change, said, serve", [
    (("replace", "beeswax.server.dbms", "get_query_server_config"),
     "beeswax.server.dbms.get_query_server_config is not Hue's original (it comes from hue_foreign_plugin.models: "
     "another plugin replaced it)", True),
    (("rename", "desktop.lib.thrift_util", "_grab_transport_from_wrapper", "_transport_of"),
     "desktop.lib.thrift_util._grab_transport_from_wrapper is missing (hive-ha finds a pooled connection's socket",
     False),
], ids=["a function replaced by another plugin", "a function renamed"])
def test_a_hue_that_differs_switches_hive_ha_off_and_keeps_starting(home, zk_server, zk_namespace, registrar, tmp_path,
                                                                    change, said, serve):
    """Another plugin, found by Hue like any app, changes a Hue internal when Django imports it. hive-ha names the
    change at start-up (one ERROR line per process, a system-check warning) and switches itself off: ``hue migrate``
    and ``hue check`` succeed, and Hue's server starts, with Hue's own discovery (before: ``hue migrate`` exited 1 on
    hive_ha.E001, and a renamed internal went unnoticed until a failover needed it)."""
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)  # the registry itself is fine: no other warning
    home.configure(hue_ini(zk_server.hosts, zk_namespace))
    home.python_path = [foreign_plugin.write(str(tmp_path), *change)]
    try:
        before = len(home.log())
        migrated = home.hue("migrate", "--noinput", check=False)
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        checked = home.hue("check")
        warnings = [line for line in checked.stderr.splitlines() if "hive_ha." in line]
        assert len(warnings) == 1 and "(hive_ha.W006)" in warnings[0] and said in warnings[0], checked.stderr[-3000:]
        errors = [line for line in home.log()[before:].splitlines() if " ERROR " in line]
        assert len(errors) == 2 and all("hive-ha NOT installed, Hue's own discovery stays in place: " in line
                                        and said in line for line in errors), errors  # migrate's and check's
        state = json.loads(home.python("""
            import json
            from beeswax.server import dbms
            from hue_integration import install
            print(json.dumps([install.active() is None, dbms.get_query_server_config.__module__]))
            """).strip().splitlines()[-1])
        assert state == [True, "hue_foreign_plugin.models" if change[0] == "replace" else "beeswax.server.dbms"]
        if serve:
            said_before = home.log().count("hive-ha NOT installed")
            home.start_server()  # returns once Hue's server answers
            assert home.log().count("hive-ha NOT installed") > said_before  # the server's start-up said it too
    finally:
        home.stop_server()
        home.python_path = []
        home.configure("")


def test_a_bad_value_stops_start_up_naming_the_key(home, zk_server, zk_namespace):
    home.configure(hue_ini(zk_server.hosts, zk_namespace, policy="round_robin"))
    failed = home.hue("check", check=False)
    assert failed.returncode != 0
    assert "hive-ha: invalid value 'round_robin' for [hive_ha] selection_policy" in failed.stderr


def test_switched_off_hue_starts_as_before(home):
    """No discovery and no [libzookeeper] ensemble: hive-ha reads nothing of ZooKeeper and says nothing."""
    home.configure("")
    before = len(home.log())
    result = home.hue("check")
    wait_until(lambda: len(home.log()) > before, 10, message="Hue wrote its start-up lines")
    start_up = home.log()[before:] + result.stderr
    assert "Could not get zookeeper ensemble" not in start_up
    assert "hive-ha installed" not in start_up and "ZooKeeper client" not in start_up
