"""URL parsing and option validation for hive_ha.connect (pure: no ZooKeeper, no servers)."""
import pytest

from hive_ha.errors import ConfigError
from hive_ha.clients.jdbc_url import ConnectOptions, normalize_zookeeper, parse_jdbc_url, parse_sqlalchemy_url


def options(url):
    return ConnectOptions(**parse_jdbc_url(url))


def test_jdbc_url_issue_example():
    opts = options("jdbc:hive2://zk1:2181,zk2:2181/db;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=hiveserver2")
    assert (opts.zookeeper, opts.database, opts.layout, opts.namespace) == ("zk1:2181,zk2:2181", "db", "hs2",
                                                                            "/hiveserver2")
    assert str(opts.service) == "hs2:/hiveserver2"
    assert (opts.auth, opts.transport_mode, opts.ssl, opts.retries, opts.driver) == (None, None, None, 1, "pyhive")


def test_jdbc_url_all_parts():
    opts = options("hive2://zk1,[::1]:2182/sales;serviceDiscoveryMode=zooKeeperHA;zookeepernamespace=llap0"
                   ";transportMode=http;httpPath=/gw/cliservice;ssl=TRUE;principal=hive/_HOST@EX.COM;auth=noSasl"
                   ";user=alice;password=s3cret;retries=3;saslQop=auth-conf;selectionPolicy=per_user"
                   "?hive.exec.parallel=true;tez.queue.name=etl#env=prod")
    assert opts.zookeeper == "zk1:2181,[::1]:2182"
    assert (opts.layout, opts.namespace, opts.database) == ("hsi-ha", "/llap0", "sales")
    assert (opts.transport_mode, opts.http_path, opts.ssl, opts.principal) == ("http", "/gw/cliservice", True,
                                                                               "hive/_HOST@EX.COM")
    assert (opts.auth, opts.username, opts.password, opts.retries, opts.sasl_qop, opts.policy) == (
        "NOSASL", "alice", "s3cret", 3, "auth-conf", "per_user")
    assert dict(opts.configuration) == {"set:hiveconf:hive.exec.parallel": "true",
                                        "set:hiveconf:tez.queue.name": "etl", "set:hivevar:env": "prod"}
    assert "s3cret" not in repr(opts)


def test_jdbc_url_without_database_and_ha_default_namespace():
    opts = options("hive2://zk1:2181/;serviceDiscoveryMode=zooKeeperHA")
    assert opts.database == "default" and str(opts.service) == "hsi-ha:/hs2ActivePassiveHA"
    assert options("hive2://zk1;serviceDiscoveryMode=zooKeeper").zookeeper == "zk1:2181"


@pytest.mark.parametrize("url, key, allowed", [
    ("mysql://zk1/db;serviceDiscoveryMode=zooKeeper", "url scheme", "jdbc:hive2://"),
    ("hive2://zk1:2181/db", "serviceDiscoveryMode", "zooKeeper or zooKeeperHA"),
    ("hive2://zk1/db;serviceDiscoveryMode=etcd", "serviceDiscoveryMode", "zooKeeper or zooKeeperHA"),
    ("hive2:///db;serviceDiscoveryMode=zooKeeper", "url hosts", "ZooKeeper ensemble"),
    ("hive2://zk1:99999/db;serviceDiscoveryMode=zooKeeper", "zookeeper", "host[:port]"),
    ("hive2://zk1,,zk2/db;serviceDiscoveryMode=zooKeeper", "zookeeper", "host[:port]"),
    ("hive2://zk_1!/db;serviceDiscoveryMode=zooKeeper", "zookeeper", "host[:port]"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;zooKeeperNamespce=x", "url parameter 'zooKeeperNamespce'",
     "zooKeeperNamespace"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;retries=0", "retries", "1 to 100"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;retries=x", "retries", "whole number"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;ssl=yes", "ssl", "true or false"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;transportMode=grpc", "transport_mode", "binary, http"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;auth=delegationToken", "auth", "NOSASL"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;saslQop=none", "sasl_qop", "auth-int"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;httpPath=a b", "http_path", "URL path"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=/../x", "namespace", "ZooKeeper path"),
    ("hive2://zk1/my-db;serviceDiscoveryMode=zooKeeper", "database", "letters, digits"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;ssl=true;ssl=false", "url parameter 'ssl'", "at most once"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;noequals", "url session variable", "key=value"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;selectionPolicy=fastest", "policy", "per_user"),
    ("hive2://zk1/db;serviceDiscoveryMode=zooKeeper?bad key=1", "configuration", "Hive setting names"),
])
def test_bad_jdbc_urls_name_the_part(url, key, allowed):
    with pytest.raises(ConfigError) as err:
        options(url)
    assert err.value.key == key and allowed in err.value.allowed, str(err.value)


def test_password_never_echoed():
    with pytest.raises(ConfigError) as err:
        options("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;password=bad\x01secret")
    assert "secret" not in str(err.value) and err.value.value == "<hidden>"
    with pytest.raises(ConfigError) as err:
        options("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;password")
    assert err.value.value == "<hidden>"


def test_zookeeper_connect_string_normalised():
    assert normalize_zookeeper("zk1,zk2:2182,10.0.0.3/hive/") == "zk1:2181,zk2:2182,10.0.0.3:2181/hive"
    with pytest.raises(ConfigError, match="zookeeper chroot"):
        normalize_zookeeper("zk1:2181/a/../b")
    with pytest.raises(ConfigError, match="zookeeper"):
        normalize_zookeeper("zk1:2181, zk2:2181")


def test_sqlalchemy_url_parts():
    fields = parse_sqlalchemy_url("zk1,zk2", 2181, "alice", "pw", "sales", {
        "zooKeeperNamespace": "hiveserver2", "transportMode": "http", "ssl": "true", "retries": "2",
        "hiveconf:hive.exec.parallel": "true", "hivevar:env": "prod"})
    opts = ConnectOptions(**fields)
    assert (opts.zookeeper, opts.layout, opts.namespace, opts.database) == ("zk1:2181,zk2:2181", "hs2",
                                                                            "/hiveserver2", "sales")
    assert (opts.username, opts.password, opts.transport_mode, opts.ssl, opts.retries) == ("alice", "pw", "http",
                                                                                         True, 2)
    assert dict(opts.configuration) == {"set:hiveconf:hive.exec.parallel": "true", "set:hivevar:env": "prod"}


def test_sqlalchemy_url_quorum_and_ha_mode():
    opts = ConnectOptions(**parse_sqlalchemy_url(None, None, None, None, None, {
        "zooKeeperQuorum": "zk1:2181,zk2:2182/chroot", "serviceDiscoveryMode": ("zooKeeperHA",)}))
    assert (opts.zookeeper, opts.layout, opts.database) == ("zk1:2181,zk2:2182/chroot", "hsi-ha", "default")


@pytest.mark.parametrize("host, query, key", [
    (None, {}, "url hosts"),
    ("zk1", {"zooKeeperNamespace": ("a", "b")}, "url parameter 'zooKeeperNamespace'"),
    ("zk1", {"transport": "http"}, "url parameter 'transport'"),
    ("zk1", {"serviceDiscoveryMode": "none"}, "serviceDiscoveryMode"),
])
def test_bad_sqlalchemy_urls(host, query, key):
    with pytest.raises(ConfigError) as err:
        ConnectOptions(**parse_sqlalchemy_url(host, None, None, None, None, query))
    assert err.value.key == key


def test_keyword_validation():
    with pytest.raises(ConfigError, match="driver"):
        ConnectOptions("zk1", driver="jaydebeapi")
    with pytest.raises(ConfigError, match="layout"):
        ConnectOptions("zk1", layout="kyuubi-ha")
    with pytest.raises(ConfigError, match="configuration"):
        ConnectOptions("zk1", configuration={"k": 1})
    assert ConnectOptions("zk1", auth="ldap", ssl="false").auth == "LDAP"
