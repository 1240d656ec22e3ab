"""TLS toward HiveServer2 is verified by default on every client path (``hive_ha.clients.tls``): the settings, and
``hive_ha.connect`` / JDBC URLs against TLS test servers found through a real ZooKeeper, binary and HTTP."""
import logging
import os
import shutil
import ssl

import pytest

import hive_ha
from hive_ha.clients import dbapi, tls
from hive_ha.clients.jdbc_url import ConnectOptions, parse_jdbc_url
from hive_ha.clients.tls import TlsSettings, client_context, impyla_tls_kwargs
from hive_ha.errors import AllServersFailed, CertificateNotVerified, ConfigError, UnusableEndpoint
from hive_ha.io.zookeeper import POOL
from hive_ha.model.endpoint import Endpoint

WARNING_TEXT = "TLS certificate verification is OFF for HiveServer2"


# -- settings, pure or local files ------------------------------------------------------------------------------
def test_verification_is_on_by_default_with_the_system_trust_store():
    options = ConnectOptions("zk1")
    assert options.tls == TlsSettings() and options.tls.verify
    context = client_context(options.tls, "h:1")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert options.tls.describe_ca().startswith("the system default trust store")


def test_a_ca_bundle_is_the_only_trust(hs2_tls):
    context = client_context(TlsSettings(ca=hs2_tls.ca), "h:1")
    assert [c["subject"] for c in context.get_ca_certs()] == [((("organizationName", "hive-ha tests"),),
                                                               (("commonName", "hive-ha test CA"),))]


def test_a_context_is_shared_until_its_files_change(hs2_tls, tmp_path):
    bundle = tmp_path / "ca.pem"
    shutil.copyfile(hs2_tls.ca, bundle)
    first = client_context(TlsSettings(ca=str(bundle)), "h:1")
    assert client_context(TlsSettings(ca=str(bundle)), "h:2") is first  # the system store takes ~30 ms to read
    before = bundle.stat().st_mtime_ns
    shutil.copyfile(hs2_tls.stranger_ca, bundle)  # the bundle is replaced
    os.utime(bundle, ns=(before + 10**9, before + 10**9))
    renewed = client_context(TlsSettings(ca=str(bundle)), "h:1")
    assert renewed is not first and renewed.get_ca_certs()[0]["subject"][1] == (("commonName", "a stranger CA"),)


@pytest.mark.parametrize("kwargs, key", [
    ({"ca": "/nonexistent/ca.pem"}, "ssl_ca"),
    ({"cert": "/nonexistent/client.pem"}, "ssl_cert"),
    ({"key": "/k.pem"}, "ssl_key"),  # a key without its certificate
    ({"cert": "required"}, "ssl_cert"),  # PyHive's word where a file is expected
    ({"ca": "two\nlines"}, "ssl_ca"),
])
def test_unusable_tls_files_are_config_errors(kwargs, key):
    with pytest.raises(ConfigError) as err:
        client_context(TlsSettings(**kwargs), "h:1")
    assert err.value.key == key


def test_a_ca_file_that_is_not_pem_is_a_config_error_not_a_tls_error(tmp_path):
    bad = tmp_path / "truststore.jks"
    bad.write_bytes(b"\xfe\xed\xfe\xed not PEM")
    with pytest.raises(ConfigError, match="PEM") as err:  # an ssl.SSLError here would read as the server's fault
        client_context(TlsSettings(ca=str(bad)), "h:1")
    assert err.value.key == "ssl_ca"


def test_opt_out_warns_once_per_server(caplog):
    caplog.set_level(logging.WARNING, logger="hive_ha.clients.tls")
    tls._warned.clear()  # noqa: SLF001 - a fresh process's state
    for _ in range(3):
        context = client_context(TlsSettings(verify=False), "hs2-a.example.com:10000")
        assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    client_context(TlsSettings(verify=False), "hs2-b.example.com:10000")
    warnings = [r.getMessage() for r in caplog.records if WARNING_TEXT in r.getMessage()]
    assert len(warnings) == 2 and "hs2-a.example.com:10000" in warnings[0] and "hs2-b.example.com:10000" in warnings[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_jdbc_url_tls_keys_and_the_java_stores_they_replace():
    fields = parse_jdbc_url("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;ssl=true;sslCa=/etc/hive/ca.pem;"
                            "SSLCERT=/etc/hive/me.pem;sslKey=/etc/hive/me-key.pem;sslVerify=false")
    options = ConnectOptions(**fields)
    assert options.tls == TlsSettings("/etc/hive/ca.pem", "/etc/hive/me.pem", "/etc/hive/me-key.pem", verify=False)
    for java in ("sslTrustStore=/x/truststore.jks", "trustStorePassword=Secret-1", "twoWay=true",
                 "sslKeyStore=/x/keystore.jks", "keyStorePassword=Secret-2"):
        with pytest.raises(ConfigError) as err:
            parse_jdbc_url(f"hive2://zk1/db;serviceDiscoveryMode=zooKeeper;ssl=true;{java}")
        assert "hive-ha equivalent" in str(err.value) and "Secret" not in str(err.value)
    with pytest.raises(ConfigError, match="sslVerify"):
        parse_jdbc_url("hive2://zk1/db;serviceDiscoveryMode=zooKeeper;sslVerify=maybe")


def test_impyla_always_gets_a_ca_file_so_that_it_verifies():
    system = tls.system_ca_file()
    if system is None:  # pragma: no cover - every supported system has a bundle; say so if one has not
        pytest.fail("no system CA bundle: ssl.get_default_verify_paths() names none")
    assert impyla_tls_kwargs(TlsSettings(), "h:1") == {"ca_cert": system}  # impyla verifies nothing without one
    assert impyla_tls_kwargs(TlsSettings(ca="/etc/hive/ca.pem"), "h:1") == {"ca_cert": "/etc/hive/ca.pem"}
    assert impyla_tls_kwargs(TlsSettings(verify=False), "h:1") == {"ca_cert": None}
    with pytest.raises(ConfigError, match="client certificate"):
        impyla_tls_kwargs(TlsSettings(cert="/etc/hive/me.pem"), "h:1")
    endpoint = Endpoint("hs2-a.example.com", 10001, "/hiveserver2/x", use_ssl=True)
    options = ConnectOptions("zk1", driver="impyla")
    assert dbapi.impyla_kwargs(dbapi.resolve(endpoint, options), options)["ca_cert"] == system
    with pytest.raises(ConfigError, match="impyla cannot verify"):  # over HTTP it takes no CA: never unverified
        impyla_tls_kwargs(TlsSettings(), "h:1", http=True)
    assert impyla_tls_kwargs(TlsSettings(verify=False), "h:1", http=True) == {"ca_cert": None}


# -- real connections through ZooKeeper ---------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fresh_discoveries():
    tls._warned.clear()  # noqa: SLF001 - each test counts its own warnings
    yield
    dbapi.close_discoveries()
    POOL.close_all()


def ask(conn, sql="select current_server()"):
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()[0][0]
    finally:
        conn.close()


#: (server options, registration options) per client path of ``hive_ha.connect`` with PyHive.
PATHS = {
    "binary": ({"auth": "LDAP"}, {"authentication": "LDAP"}),
    "https": ({"auth": "NONE", "transport": "http"}, {"transport_mode": "http", "authentication": "NONE"}),
    "https-gateway": ({"auth": "NONE", "transport": "http", "http_path": "gateway/hive"},
                      {"transport_mode": "http", "http_path": "gateway/hive", "authentication": "NONE"}),
}


@pytest.fixture(params=sorted(PATHS))
def tls_pair(request, zk_server, zk_namespace, registrar, hs2_server_factory, hs2_tls):
    """Two TLS servers registered with hive.server2.use.SSL=true on one client path: ``(servers, connect kwargs)``."""
    server_opts, published = PATHS[request.param]
    servers = [hs2_server_factory(f"hs2-{n}", tls=hs2_tls.server, users={"alice": "Secret-pw-1"}, **server_opts)
               for n in "ab"]
    for server in servers:
        registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, **published)
    return servers, dict(zookeeper=zk_server.hosts, namespace=zk_namespace, username="alice", password="Secret-pw-1",
                         policy="oldest")


def cache_of_connect():
    return next(iter(dbapi._discoveries.values())).cache  # noqa: SLF001 - what connect's discovery excluded


def test_without_the_ca_a_certificate_error_names_server_and_fix_at_once(tls_pair):
    (a, b), kw = tls_pair
    with pytest.raises(CertificateNotVerified) as err:
        hive_ha.connect(**kw)  # the servers' CA is not in the system trust store
    message = str(err.value)
    assert err.value.address == a.address and a.address in message
    assert "the system default trust store" in message and "ssl_ca=" in message and "ssl_verify=False" in message
    assert "Secret-pw-1" not in message
    assert isinstance(err.value, ConfigError) and isinstance(err.value.__cause__, Exception)
    assert a.calls["OpenSession"] == 0 and b.accepted == 0  # no password left; the next server was not tried
    assert cache_of_connect().failovers() == []  # and nothing excluded


def test_with_the_ca_it_connects_and_queries(tls_pair, hs2_tls):
    (a, b), kw = tls_pair
    assert ask(hive_ha.connect(ssl_ca=hs2_tls.ca, **kw), "select current_server(), current_user()") == "hs2-a"
    assert a.calls["OpenSession"] == 1


def test_a_certificate_for_another_name_is_refused(zk_server, zk_namespace, registrar, hs2_server_factory, hs2_tls):
    for transport in ("binary", "http"):
        server = hs2_server_factory(f"hs2-{transport}", auth="NOSASL", transport=transport, tls=hs2_tls.elsewhere)
        registrar.register(server.host, server.port, namespace=f"{zk_namespace}_{transport}", use_ssl=True,
                           transport_mode=transport, authentication="NOSASL")
        with pytest.raises(CertificateNotVerified) as err:  # the right CA, but not issued for 127.0.0.1
            hive_ha.connect(zookeeper=zk_server.hosts, namespace=f"{zk_namespace}_{transport}", ssl_ca=hs2_tls.ca)
        assert "mismatch" in err.value.reason.lower() and server.host in err.value.fix
        assert err.value.ca == hs2_tls.ca and server.calls["OpenSession"] == 0


def test_opt_out_connects_and_warns_once_per_server(tls_pair, caplog):
    (a, b), kw = tls_pair
    caplog.set_level(logging.WARNING, logger="hive_ha.clients.tls")
    for _ in range(2):
        assert ask(hive_ha.connect(ssl_verify=False, **kw)) == "hs2-a"
    warnings = [r for r in caplog.records if WARNING_TEXT in r.getMessage()]
    assert len(warnings) == 1 and a.address in warnings[0].getMessage()
    assert "Secret-pw-1" not in caplog.text


def test_jdbc_url_forms(zk_server, zk_namespace, registrar, hs2_server_factory, hs2_tls, caplog):
    server = hs2_server_factory("hs2-url", auth="NOSASL", transport="http", tls=hs2_tls.server)
    registrar.register(server.host, server.port, namespace=zk_namespace, transport_mode="http",
                       authentication="NOSASL")  # publishes no TLS: ssl=true in the URL asks for it
    url = f"jdbc:hive2://{zk_server.hosts}/default;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace={zk_namespace}"
    with pytest.raises(CertificateNotVerified):
        hive_ha.connect(url + ";ssl=true")
    assert ask(hive_ha.connect(url + f";ssl=true;sslCa={hs2_tls.ca}")) == "hs2-url"
    caplog.set_level(logging.WARNING, logger="hive_ha.clients.tls")
    assert ask(hive_ha.connect(url + ";ssl=true;sslVerify=false")) == "hs2-url"
    assert WARNING_TEXT in caplog.text


def test_client_certificate_for_servers_that_require_one(zk_server, zk_namespace, registrar, hs2_server_factory,
                                                         hs2_tls):
    server = hs2_server_factory("hs2-mtls", auth="NOSASL", tls=hs2_tls.server, tls_client_ca=hs2_tls.ca)
    registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, authentication="NOSASL")
    kw = dict(zookeeper=zk_server.hosts, namespace=zk_namespace, ssl_ca=hs2_tls.ca)
    with pytest.raises(AllServersFailed):  # the server hangs up on a client without a certificate
        hive_ha.connect(**kw)
    cert, key = hs2_tls.client
    assert ask(hive_ha.connect(ssl_cert=cert, ssl_key=key, **kw)) == "hs2-mtls"


# -- impyla (driver="impyla"): its own sockets, its own TLS arguments -----------------------------------------------
def test_impyla_binary_verifies_and_names_a_certificate_failure(zk_server, zk_namespace, registrar, hs2_server_factory,
                                                                 hs2_tls):
    """Over the binary transport thrift's TSocket drops why a handshake failed ("Could not connect"): hive-ha asks
    again, so an untrusted certificate is CertificateNotVerified at once, as with PyHive, not a failover."""
    a, b = [hs2_server_factory(f"hs2-{n}", tls=hs2_tls.server, users={"alice": "Secret-pw-1"}, auth="LDAP")
            for n in "ab"]
    for server in (a, b):
        registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, authentication="LDAP")
    kw = dict(driver="impyla", zookeeper=zk_server.hosts, namespace=zk_namespace, username="alice",
              password="Secret-pw-1", policy="oldest")
    with pytest.raises(CertificateNotVerified) as err:
        hive_ha.connect(**kw)  # the servers' CA is not in the system trust store
    assert err.value.address == a.address and "ssl_ca=" in str(err.value) and "Secret-pw-1" not in str(err.value)
    assert a.calls["OpenSession"] == 0 and b.accepted == 0 and cache_of_connect().failovers() == []
    assert ask(hive_ha.connect(ssl_ca=hs2_tls.ca, **kw)) == "hs2-a"


def test_impyla_refuses_a_certificate_for_another_name(zk_server, zk_namespace, registrar, hs2_server_factory,
                                                      hs2_tls):
    server = hs2_server_factory("hs2-x", auth="NOSASL", tls=hs2_tls.elsewhere)
    registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, authentication="NOSASL")
    with pytest.raises(CertificateNotVerified) as err:  # the right CA, but not issued for 127.0.0.1
        hive_ha.connect(driver="impyla", zookeeper=zk_server.hosts, namespace=zk_namespace, ssl_ca=hs2_tls.ca)
    assert server.host in str(err.value) and server.calls["OpenSession"] == 0


def test_impyla_over_https_connects_only_with_verification_turned_off(zk_server, zk_namespace, registrar,
                                                                       hs2_server_factory, hs2_tls, caplog):
    server = hs2_server_factory("hs2-h", auth="NOSASL", transport="http", tls=hs2_tls.server)
    registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, transport_mode="http",
                       authentication="NOSASL")
    kw = dict(driver="impyla", zookeeper=zk_server.hosts, namespace=zk_namespace)
    with pytest.raises(UnusableEndpoint) as err:  # never an unverified connection by default
        hive_ha.connect(ssl_ca=hs2_tls.ca, **kw)
    assert "impyla cannot verify" in str(err.value) and "pyhive" in str(err.value) and server.accepted == 0
    caplog.set_level(logging.WARNING, logger="hive_ha.clients.tls")
    assert ask(hive_ha.connect(ssl_verify=False, **kw)) == "hs2-h"
    assert WARNING_TEXT in caplog.text


def test_an_unreadable_ca_file_fails_before_any_connection(zk_server, zk_namespace, registrar, hs2_server_factory,
                                                           hs2_tls, tmp_path):
    server = hs2_server_factory("hs2-a", auth="NOSASL", transport="http", http_path="gw", tls=hs2_tls.server)
    registrar.register(server.host, server.port, namespace=zk_namespace, use_ssl=True, transport_mode="http",
                       http_path="gw", authentication="NOSASL")
    with pytest.raises(ConfigError) as err:
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, ssl_ca=str(tmp_path / "missing.pem"))
    assert err.value.key == "ssl_ca" and not isinstance(err.value, (CertificateNotVerified, UnusableEndpoint))
    assert server.accepted == 0
