"""Pytest fixtures with real Spark Thrift Servers registered in the real ZooKeeper (tests.rig.spark).

    def test_x(spark_pair):          # session scope: spark-a and spark-b under spark_pair.namespace (a is older)
        hive_ha.connect(zookeeper=spark_pair.zk_hosts, namespace=spark_pair.namespace, username="bob")

    def test_y(spark_factory, zk_namespace):     # function scope: own servers, free to kill
        victim, = spark_factory("spark-v", namespace=zk_namespace)

Spark boots slowly (~15 s each on a loaded 2-core machine, ~450 MB each), so servers asked for together start in
parallel, and tests must leave the shared pair running (kill only your own). Tests using these are ``slow``.
"""
import uuid
from dataclasses import dataclass
from typing import Tuple

import pytest

from hive_ha.sandbox.registrar import Registrar
from tests.rig.spark import SparkThriftServer, start_all

#: Registration session timeout (s): a killed server's znode is gone this long after the kill.
SESSION_TIMEOUT = 3.0


@dataclass(frozen=True)
class SparkPair:
    zk_hosts: str
    namespace: str
    servers: Tuple[SparkThriftServer, SparkThriftServer]

    @property
    def names(self):
        return tuple(server.name for server in self.servers)


@pytest.fixture(scope="session")
def spark_pair(zk_server):
    """Two Spark Thrift Servers (auth NONE), spark-a registered before spark-b, under a namespace of their own."""
    namespace = "/t_spark_pair_%s" % uuid.uuid4().hex[:8]
    with Registrar(zk_server.hosts, session_timeout=SESSION_TIMEOUT) as registrar:
        servers = start_all(SparkThriftServer("spark-%s" % n, registrar=registrar, namespace=namespace)
                            for n in "ab")
        try:
            yield SparkPair(zk_server.hosts, namespace, tuple(servers))
        finally:
            for server in servers:
                server.stop()


@pytest.fixture
def spark_factory(registrar):
    """``make(*names, **opts) -> [started SparkThriftServer, ...]``, booted in parallel and registered (in the
    order given) through the test's `registrar` unless opts say otherwise; opts as SparkThriftServer's."""
    started = []

    def make(*names, **opts):
        opts.setdefault("registrar", registrar)
        servers = [SparkThriftServer(name, **opts) for name in names]
        started.extend(servers)
        return start_all(servers)

    yield make
    for server in reversed(started):
        server.stop()
