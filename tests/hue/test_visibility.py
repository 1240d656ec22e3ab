"""What operators see inside real Hue: the admin status page (through Hue's URL routing and middleware), the Django
system checks, Prometheus metrics, and the failover lines in Hue's own log file."""
import json
import os

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hive_ha.core.health import Evidence
from hive_ha.testing.waiting import wait_until
from hue_integration import checks, install
from tests.hue.environment import LOG_DIR

pytestmark = pytest.mark.django_db(transaction=True)

STATUS_URL = "/hive_ha/status"


def status(client):
    response = client.get(STATUS_URL)
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.status_code, json.loads(response.content)


def test_status_is_for_admins_and_shows_a_failover(pair, login, editors):
    _, admin = login("admin", superuser=True)
    _, alice_client = login("alice")
    a, b, reg_a, _, _ = pair()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run("select current_server()") == [["hs2-a"]]
    a.kill()
    reg_a.crash()
    assert alice.run("select current_server()") == [["hs2-b"]]

    from desktop.lib.test_utils import grant_access
    from django.core.cache import cache

    grant_access("alice", "default", "hive_ha")  # Hue's own app permission lets her reach the view ...
    cache.delete("perms")
    assert status(alice_client) == (403, {"error": "hive-ha status is for Hue administrators only"})  # ... ours not
    code, body = status(admin)
    assert code == 200 and body["zookeeper"]["state"] == "CONNECTED" and body["zookeeper"]["auth"] == "none"
    (service,) = body["services"]
    assert service["in_use"] == b.address
    assert {e["host"] + ":" + str(e["port"]) for e in service["endpoints"]} == {a.address, b.address}
    health = {s["address"]: s for s in service["servers"]}
    assert (health[a.address]["state"], health[b.address]["state"]) == ("dead", "up")
    assert health[a.address]["evidence"] == "refused" and health[a.address]["for_seconds"] >= 0
    (failover,) = body["failovers"]
    assert (failover["failed"], failover["chosen"]) == (a.address, b.address) and failover["at"].endswith("+00:00")

    # Hue's log file (log.conf, applied by Hue with fileConfig) has the operator lines.
    with open(os.path.join(LOG_DIR, "hue.log")) as log:
        lines = [line for line in log if "hive-ha failover" in line and a.address in line]
    assert lines and f"chosen={b.address}" in lines[-1]


def test_metrics_count_lookups_failovers_and_endpoints(enable, zk_namespace, registrar):
    from beeswax.server import dbms

    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.2", 10001, namespace=zk_namespace)
    integration = enable(zk_namespace)
    for _ in range(3):
        dbms.get_query_server_config()
    service = integration.config.hive_service
    first = integration.discovery.endpoint(service)
    integration.discovery.report(service, first, Evidence.REFUSED)  # nothing listens there: dead
    wait_until(lambda: integration.discovery.prober.results(), 10)  # the prober probes a dead one (refused again)
    text = generate_latest(REGISTRY).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def sample(name, **labels):
        return samples.get((name, tuple(sorted(dict(labels, service=str(service)).items()))))

    assert sample("hive_ha_lookups_total") == 3.0
    assert sample("hive_ha_failovers_total") == 1.0
    assert (sample("hive_ha_endpoints", state="up"), sample("hive_ha_endpoints", state="dead")) == (1.0, 1.0)
    assert sample("hive_ha_server_state", address=first.address, znode=first.znode, state="dead") == 1.0
    assert sample("hive_ha_server_state", address=first.address, znode=first.znode, state="up") == 0.0
    assert sample("hive_ha_server_transitions_total", **{"from": "up", "to": "dead"}) == 1.0
    assert sample("hive_ha_probe_seconds_count") == 1.0
    assert sample("hive_ha_probe_last_seconds", address=first.address, znode=first.znode, evidence="refused") > 0
    assert "} 1.0" in text.split("hive_ha_zookeeper_connected{")[1].split("\n")[0]
    install.uninstall()
    assert "hive_ha_lookups_total" not in generate_latest(REGISTRY).decode()  # the undo removes the collector


def test_system_checks_through_hues_check_framework(enable, zk_namespace, registrar):
    from django.core import checks as django_checks

    def ours():
        return [m.id for m in django_checks.run_checks(tags=[checks.TAG])]

    assert ours() == []  # not switched on: nothing to say
    integration = enable(zk_namespace)
    assert ours() == ["hive_ha.W004"]  # the namespace znode does not exist
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    registrar.register_raw(f"{zk_namespace}/serverUri=broken;version=x;sequence=0000000099", b"\x00garbage")
    service = integration.config.hive_service
    wait_until(lambda: len(integration.discovery.cache.snapshot(service).endpoints) == 2, 15)
    assert ours() == ["hive_ha.W002"]  # the malformed one, named


def test_system_check_no_endpoint(enable, zk_namespace, registrar):
    server = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    integration = enable(zk_namespace)
    server.deregister()
    service = integration.config.hive_service
    wait_until(lambda: not integration.discovery.snapshot(service).endpoints, 15)
    (message,) = checks.registry()
    assert message.id == "hive_ha.W005" and zk_namespace in message.msg
