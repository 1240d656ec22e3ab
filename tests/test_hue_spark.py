"""End to end through the Hue app with two real Spark Thrift Servers (HiveServer2 protocol, registered in
the real ZooKeeper in Hive's format): a session through the integration, ``kill -9`` of the serving one,
the user's next query succeeds on the other."""
import copy

import pytest

from hue_integration import install
from notebook.connectors.hiveserver2 import HS2Api
from tests._hue_fixtures import enable_discovery, notebook_for, run

pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.usefixtures("hue")]


def test_editor_fails_over_between_two_spark_thrift_servers(hue, users, zk_server, zk_namespace, spark_factory):
    servers = spark_factory("spark-a", "spark-b", namespace=zk_namespace)
    enable_discovery(hue, zk_server, zk_namespace)
    integration = install.install_if_enabled()
    try:
        service = integration.config.hive_service
        alice = HS2Api(users[0])
        notebook = notebook_for(alice.create_session(lang="hive"))
        assert notebook["sessions"][0]["id"] is not None
        assert run(alice, notebook, "select 1") == [[1]]
        serving = integration.discovery.endpoint(service)
        victim = next(s for s in servers if s.port == serving.port)
        survivor = next(s for s in servers if s is not victim)
        victim.kill()  # SIGKILL; its znode lingers until the registration's session expires
        assert run(alice, copy.deepcopy(notebook), "select 2") == [[2]]
        assert integration.discovery.endpoint(service).port == survivor.port
        assert integration.discovery.cache.generation(service) == 1
    finally:
        install.uninstall()
