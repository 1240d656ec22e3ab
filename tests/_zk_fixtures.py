"""Pytest fixtures with real ZooKeeper servers (loaded by tests/conftest.py through ``pytest_plugins``).

Session scope (started on first use, stopped at the end of the run):
  zk_server        standalone server; tests may kill()/restart() it (same ports and data come back) but must not
                   stop() it. Use ``zk_namespace`` to keep each test's znodes apart.
  zk_tls_server    standalone server with a plain port and a TLS port (secure_hosts, ca_file).
  zk_sasl_server   standalone server with SASL DIGEST-MD5 users (sasl_users; sasl_options(user) gives kazoo's dict).
Function scope (stopped/closed after each test):
  zk_namespace     unique absolute path for this test, e.g. "/t_test_foo_3fa2c1" (not created).
  zk_ensemble      3-server ensemble (tests kill members).
  zk_server_factory  make extra ZooKeeperServer(**kwargs), started.
  zk_client        a started KazooClient on zk_server.
  registrar        Registrar on zk_server (session_timeout 3 s), closed afterwards.
  registrar_factory  make Registrar(hosts, **kwargs) for other servers; all closed afterwards.
"""
import re
import uuid

import pytest
from kazoo.client import KazooClient

from hive_ha.sandbox.registrar import Registrar
from hive_ha.sandbox.zookeeper import ZooKeeperEnsemble, ZooKeeperServer

SASL_USERS = {"hive": "hive-secret", "hue": "hue-secret"}


@pytest.fixture(scope="session")
def zk_server():
    with ZooKeeperServer(name="zk-session") as server:
        yield server


@pytest.fixture(scope="session")
def zk_tls_server():
    with ZooKeeperServer(name="zk-tls", tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def zk_sasl_server():
    with ZooKeeperServer(name="zk-sasl", sasl_users=SASL_USERS) as server:
        yield server


@pytest.fixture
def zk_namespace(request):
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:60].strip("_")
    return "/t_%s_%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture
def zk_ensemble():
    with ZooKeeperEnsemble(size=3) as ensemble:
        yield ensemble


@pytest.fixture
def zk_server_factory():
    servers = []

    def make(**kwargs):
        server = ZooKeeperServer(**kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def zk_client(zk_server):
    client = KazooClient(hosts=zk_server.hosts, timeout=10.0)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def registrar_factory():
    made = []

    def make(hosts, **kwargs):
        made.append(Registrar(hosts, **kwargs))
        return made[-1]

    yield make
    errors = []
    for registrar in made:
        try:
            registrar.close()
        except Exception as exc:  # noqa: BLE001 - close the others first
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def registrar(zk_server, registrar_factory):
    return registrar_factory(zk_server.hosts)
