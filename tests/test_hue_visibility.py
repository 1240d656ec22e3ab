"""What operators see: the admin status view, Django system checks, Prometheus metrics and the failover
log line, with a real ZooKeeper and HiveServer2-protocol servers behind the Hue 4.11 stand-in."""
import json
import logging

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import resolve
from prometheus_client import REGISTRY, generate_latest

from hue_integration import checks, install, views
from notebook.connectors.hiveserver2 import HS2Api
from tests._hue_fixtures import enable_discovery, notebook_for, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hue")]


@pytest.fixture
def installed(hue, zk_server, zk_namespace):
    def make():
        enable_discovery(hue, zk_server, zk_namespace)
        return install.install_if_enabled()
    yield make
    install.uninstall()


def get_status(user):
    request = RequestFactory().get("/hue_integration/status")
    request.user = user
    response = views.status(request)
    return response.status_code, json.loads(response.content)


def test_status_is_for_admins_and_shows_a_failover(django_user_model, zk_namespace, registrar, hs2_server_factory,
                                                   installed, caplog):
    admin = django_user_model.objects.create_superuser(username="admin", password="x")
    alice = django_user_model.objects.create_user(username="alice", password="x")
    a, b = hs2_server_factory("hs2-a", host="127.0.0.1"), hs2_server_factory("hs2-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    assert get_status(admin)[0] == 503  # not switched on yet
    installed()
    api = HS2Api(alice)
    notebook = notebook_for(api.create_session(lang="hive"))
    assert run(api, notebook, "select current_server()") == [["hs2-a"]]
    a.kill()
    reg_a.crash()
    with caplog.at_level(logging.WARNING, logger="hive_ha.cache"):
        assert run(api, notebook, "select current_server()") == [["hs2-b"]]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("hive-ha failover ")]
    assert len(lines) == 1 and f"failed={a.address}" in lines[0] and f"chosen={b.address}" in lines[0]

    assert get_status(alice)[0] == 403 and get_status(AnonymousUser())[0] == 403
    code, body = get_status(admin)
    assert code == 200 and body["zookeeper"]["state"] == "CONNECTED" and body["zookeeper"]["auth"] == "none"
    (service,) = body["services"]
    assert service["in_use"] == b.address
    assert {e["host"] + ":" + str(e["port"]) for e in service["endpoints"]} == {a.address, b.address}
    assert [x["address"] for x in service["excluded"]] == [a.address] and service["excluded"][0]["seconds_left"] > 0
    (failover,) = body["failovers"]
    assert (failover["failed"], failover["chosen"]) == (a.address, b.address) and failover["at"].endswith("+00:00")
    assert resolve("/status", urlconf="hue_integration.urls").func is views.status


def test_metrics_count_lookups_failovers_and_endpoints(zk_namespace, registrar, installed):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.2", 10001, namespace=zk_namespace)
    integration = installed()
    from beeswax.server import dbms
    for _ in range(3):
        dbms.get_query_server_config()
    service = integration.config.hive_service
    integration.report_failure(service, integration.discovery.endpoint(service))
    text = generate_latest(REGISTRY).decode()
    label = f'service="{service}"'
    assert f"hive_ha_lookups_total{{{label}}} 3.0" in text
    assert f"hive_ha_failovers_total{{{label}}} 1.0" in text
    assert f'hive_ha_endpoints{{{label},state="registered"}} 2.0' in text
    assert f'hive_ha_endpoints{{{label},state="excluded"}} 1.0' in text
    assert "hive_ha_zookeeper_connected" in text and "} 1.0" in text.split("hive_ha_zookeeper_connected{")[1]
    install.uninstall()
    assert "hive_ha_lookups_total" not in generate_latest(REGISTRY).decode()  # the undo removes the collector


def test_system_checks(hue, zk_server, zk_namespace, registrar, installed):
    assert checks.registry() == []  # not switched on: nothing to say
    installed()
    assert [m.id for m in checks.registry()] == ["hive_ha.E002"]  # the namespace znode does not exist
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    registrar.register_raw(f"{zk_namespace}/serverUri=broken;version=x;sequence=0000000099", b"\x00garbage")
    integration = install.active()
    from hive_ha.testing.waiting import wait_until
    wait_until(lambda: len(integration.discovery.endpoints(integration.config.hive_service).endpoints) == 2, 15)
    assert [m.id for m in checks.registry()] == ["hive_ha.W002"]  # the malformed one, named


def test_system_check_no_endpoint(zk_namespace, registrar, installed):
    server = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    integration = installed()
    server.deregister()
    from hive_ha.testing.waiting import wait_until
    wait_until(lambda: not integration.discovery.endpoints(integration.config.hive_service).endpoints, 15)
    (message,) = checks.registry()
    assert message.id == "hive_ha.E003" and zk_namespace in message.msg
