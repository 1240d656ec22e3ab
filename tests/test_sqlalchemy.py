"""The hive+zookeeper:// SQLAlchemy dialect against ZooKeeper and HS2 test servers."""
import importlib.metadata
import logging

import pytest
import sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hive_ha.clients import dbapi
from hive_ha.errors import CertificateNotVerified, ConfigError
from hive_ha.clients.sqlalchemy import HiveZooKeeperDialect
from hive_ha.io.zookeeper import POOL


def entry_point():
    found = [ep for ep in importlib.metadata.entry_points(group="sqlalchemy.dialects") if ep.name == "hive.zookeeper"]
    assert len(found) == 1, found
    return found[0]


def test_entry_point_names_the_dialect():
    assert entry_point().load() is HiveZooKeeperDialect
    assert (HiveZooKeeperDialect.name, HiveZooKeeperDialect.driver) == ("hive", "zookeeper")


@pytest.fixture(autouse=True)
def dialect_registered():
    # SQLAlchemy >= 1.4 finds the entry point through importlib.metadata; 1.3 (Hue 4.11's pin) only through
    # pkg_resources, which setuptools >= 81 no longer ships. There, register the entry point's own target by hand.
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        if sqlalchemy.__version__.startswith("1.3."):
            module, _, name = entry_point().value.partition(":")
            sqlalchemy.dialects.registry.register("hive.zookeeper", module, name)
    yield
    dbapi.close_discoveries()
    POOL.close_all()


def select(engine, sql="select current_server()"):
    with engine.connect() as conn:
        return conn.execute(text(sql)).fetchall()[0][0]


def test_engine_select_and_failover(zk_server, zk_namespace, registrar, hs2_server_factory):
    a, b = (hs2_server_factory(f"hs2-{n}", auth="NONE") for n in "ab")
    for server in (a, b):
        registrar.register(server.host, server.port, namespace=zk_namespace)
    host, port = zk_server.hosts.rsplit(":", 1)
    url = f"hive+zookeeper://{host}:{port}/default?zooKeeperNamespace={zk_namespace}&selectionPolicy=oldest"
    engine = create_engine(url, poolclass=NullPool)  # every connection asks discovery
    assert isinstance(engine.dialect, HiveZooKeeperDialect)
    assert select(engine) == "hs2-a"
    assert select(engine, "select current_database()") == "default"
    a.kill()
    assert select(engine) == "hs2-b"
    engine.dispose()


def test_quorum_parameter_and_connect_args(zk_server, zk_namespace, registrar, hs2_server_factory):
    server = hs2_server_factory("hs2-ldap", auth="LDAP", users={"alice": "pw"})
    registrar.register(server.host, server.port, namespace=zk_namespace, authentication="LDAP")
    url = f"hive+zookeeper://alice:pw@/default?zooKeeperQuorum={zk_server.hosts}&zooKeeperNamespace={zk_namespace}"
    engine = create_engine(url, connect_args={"configuration": {"hive.exec.parallel": "true"}})
    assert select(engine, "select current_user()") == "alice"
    assert server.sessions[-1].config.get("hive.exec.parallel") == "true"
    engine.dispose()


def test_tls_is_verified_with_the_ca_from_the_url(zk_server, zk_namespace, registrar, hs2_server_factory, hs2_tls,
                                                  caplog):
    server = hs2_server_factory("hs2-tls", auth="LDAP", users={"alice": "Secret-pw-3"}, tls=hs2_tls.server)
    registrar.register(server.host, server.port, namespace=zk_namespace, authentication="LDAP", use_ssl=True)
    url = (f"hive+zookeeper://alice:Secret-pw-3@/default?zooKeeperQuorum={zk_server.hosts}"
           f"&zooKeeperNamespace={zk_namespace}")
    with pytest.raises(CertificateNotVerified) as err:  # no CA: the system store does not know the test CA
        select(create_engine(url, poolclass=NullPool))
    assert server.address in str(err.value) and "Secret-pw-3" not in str(err.value)
    assert server.calls["OpenSession"] == 0
    assert select(create_engine(f"{url}&sslCa={hs2_tls.ca}", poolclass=NullPool), "select current_user()") == "alice"
    caplog.set_level(logging.WARNING, logger="hive_ha.clients.tls")
    assert select(create_engine(f"{url}&sslVerify=false", poolclass=NullPool), "select current_user()") == "alice"
    assert "verification is OFF" in caplog.text and server.address in caplog.text
    with pytest.raises(ConfigError, match="ssl_verify=False"):  # PyHive's own switch is not a second way out
        select(create_engine(url, poolclass=NullPool, connect_args={"ssl_cert": "none"}))


@pytest.mark.parametrize("url, key", [
    ("hive+zookeeper:///default", "url hosts"),
    ("hive+zookeeper://zk1/default?zooKeeperNamespace=a&zooKeeperNamespace=b", "url parameter 'zooKeeperNamespace'"),
    ("hive+zookeeper://zk1/default?serviceDiscoveryMode=direct", "serviceDiscoveryMode"),
    ("hive+zookeeper://zk1/default?transport=http", "url parameter 'transport'"),
    ("hive+zookeeper://zk1/my-db", "database"),
])
def test_bad_urls_fail_in_create_engine(url, key):
    with pytest.raises(ConfigError) as err:
        create_engine(url)
    assert err.value.key == key
