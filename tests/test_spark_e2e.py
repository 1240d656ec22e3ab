"""hive_ha.connect, the JDBC URL form and the hive+zookeeper:// dialect against real Spark Thrift Servers found
in a real ZooKeeper (registered in Hive's HS2 format by the rig: Spark does not register itself)."""
import contextlib

import pytest
import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from thrift.transport.TTransport import TTransportException

import hive_ha
from hive_ha.clients import dbapi
from hive_ha.errors import AllServersFailed
from hive_ha.testing.waiting import wait_until
from hive_ha.io.zookeeper import POOL

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fresh_discoveries():
    yield
    dbapi.close_discoveries()
    POOL.close_all()


def rows(conn, sql):
    cursor = conn.cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def served_by(conn):
    """The Spark application name of the server behind `conn` (each rig server has its own)."""
    ((key, name),) = rows(conn, "set spark.app.name")
    assert key == "spark.app.name"
    return name


def test_dbapi_connect_queries_through_zookeeper(spark_pair):
    kw = dict(zookeeper=spark_pair.zk_hosts, namespace=spark_pair.namespace, username="bob")
    conn = hive_ha.connect(policy="oldest", **kw)  # auth NONE (SASL PLAIN) is taken from the registration
    try:
        assert rows(conn, "select 1") == [(1,)]
        assert ("default",) in rows(conn, "show databases")
        assert served_by(conn) == "spark-a"  # the older registration
    finally:
        conn.close()
    # Random policy: either server. Spark applies session settings in the set:hiveconf: form (docs/dbapi.md).
    conn = hive_ha.connect(configuration={"set:hiveconf:spark.sql.shuffle.partitions": "4"}, **kw)
    try:
        assert served_by(conn) in spark_pair.names
        assert rows(conn, "set spark.sql.shuffle.partitions") == [("spark.sql.shuffle.partitions", "4")]
    finally:
        conn.close()


def test_jdbc_url_form_with_a_hive_variable(spark_pair):
    url = (f"jdbc:hive2://{spark_pair.zk_hosts}/default;serviceDiscoveryMode=zooKeeper;"
           f"zooKeeperNamespace={spark_pair.namespace};selectionPolicy=oldest#answer=42")
    conn = hive_ha.connect(url, username="bob")
    try:
        assert served_by(conn) == "spark-a"
        assert rows(conn, "select ${hivevar:answer} + 1") == [(43,)]  # sent as set:hivevar:answer
    finally:
        conn.close()


def test_sqlalchemy_dialect(spark_pair):
    # SQLAlchemy 1.3 (Hue's pin) finds entry points only through pkg_resources, gone from recent setuptools.
    sqlalchemy.dialects.registry.register("hive.zookeeper", "hive_ha.clients.sqlalchemy", "HiveZooKeeperDialect")
    host, port = spark_pair.zk_hosts.rsplit(":", 1)
    engine = create_engine(f"hive+zookeeper://bob@{host}:{port}/default?zooKeeperNamespace={spark_pair.namespace}",
                           poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select 1 + 1 as two")).fetchall() == [(2,)]
    finally:
        engine.dispose()


def test_kill_9_serving_server_next_connect_lands_on_the_other(zk_server, zk_namespace, registrar, spark_pair,
                                                                 spark_factory):
    # Own victim (registered first, so "oldest" serves from it) + spark-a of the shared pair, which survives.
    (victim,) = spark_factory("spark-victim", namespace=zk_namespace)
    survivor = spark_pair.servers[0]
    registrar.register(survivor.host, survivor.port, namespace=zk_namespace)
    alone = zk_namespace + "_alone"  # the victim only: nowhere to fail over to
    registrar.register(victim.host, victim.port, namespace=alone)
    kw = dict(zookeeper=zk_server.hosts, namespace=zk_namespace, username="bob", policy="oldest")

    before = hive_ha.connect(**kw)
    assert served_by(before) == "spark-victim"
    registration = victim.registration
    victim.kill()  # SIGKILL of the process group: a crash, not a shutdown
    assert not victim.alive
    assert registration.exists()  # the znode lingers until the session expires, as after a real crash

    after = hive_ha.connect(**kw)
    try:
        assert served_by(after) == "spark-a"
        assert rows(after, "select 1") == [(1,)]
    finally:
        after.close()
    discovery = next(iter(dbapi._discoveries.values()))  # the one connect() made
    assert [f.failed for f in discovery.cache.failovers()] == [victim.address]

    # The connection opened before the crash fails with the transport's error; it does not hang.
    with pytest.raises((TTransportException, OSError)):
        rows(before, "select 1")
    with contextlib.suppress(TTransportException, OSError):
        before.close()  # its CloseSession cannot be delivered either; this releases the socket

    with pytest.raises(AllServersFailed) as err:
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=alone, username="bob")
    assert [address for address, _ in err.value.tried] == [victim.address]
    assert isinstance(err.value.__cause__, TTransportException)

    registration.wait_gone()  # session expiry removes it; discovery stops offering the dead server
    service = hive_ha.Service.of("hs2", zk_namespace)
    wait_until(lambda: [e.address for e in discovery.snapshot(service).endpoints] == [survivor.address],
               timeout=30, message="the crashed server's registration still listed")
