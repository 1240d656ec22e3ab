"""Hue processes configured by a hue.ini alone (``hue`` management commands): what an admin sees at start-up."""
import json
import re
import time

import pytest

from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import wait_until
from tests.hue.hue_process import HueHome

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home():
    home = HueHome()
    home.hue("migrate", "--noinput")
    yield home
    home.stop()


def discovery_ini(zk_hosts, namespace, policy="per_user"):
    return f"""
        [beeswax]
        hive_discovery_hs2=true
        hive_discovery_hiveserver2_znode={namespace}
        [libzookeeper]
        ensemble={zk_hosts}
        [hive_ha]
        selection_policy={policy}
        exclusion_backoff=7
        """


def test_hue_check_reports_what_hive_ha_sees_without_stopping_hue(home, zk_server, zk_namespace, registrar):
    """A registry without servers is a warning: ``hue migrate`` and Hue's start-up must still run."""
    home.configure(discovery_ini(zk_server.hosts, zk_namespace))
    missing = home.hue("check")
    assert "hive_ha.W004" in missing.stderr and zk_namespace in missing.stderr
    home.hue("migrate", "--noinput")
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    fine = home.hue("check")
    assert "hive_ha.W" not in fine.stderr and "hive_ha.E" not in fine.stderr


def test_hue_check_with_zookeeper_unreachable_says_so_at_once_and_truthfully(home):
    """Every hue command runs the checks: with nothing listening at the ensemble, W003 comes within a fraction of a
    second (not after a 5 s wait per service) and says what the watcher knows, not a timeout that did not happen."""
    home.configure(discovery_ini(f"127.0.0.1:{free_port()}", "/hiveserver2"))  # a free port: connections refused
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
    home.configure(discovery_ini(zk_server.hosts, zk_namespace))
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


def test_a_bad_value_stops_start_up_naming_the_key(home, zk_server, zk_namespace):
    home.configure(discovery_ini(zk_server.hosts, zk_namespace, policy="round_robin"))
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
