"""Failover policy and error classification, checked against errors real clients raise."""
import pytest
from pyhive import hive
from thrift.transport.TTransport import TTransportException

from hive_ha.model.endpoint import Endpoint
from hive_ha.errors import ServerConnectionLost, ServerUnreachable
from hive_ha.core.failover import (CONNECT, READ, FailoverPolicy, classify, evidence_of, is_connection_error,
                                   map_connection_errors, with_failover)
from hive_ha.core.backoff import Backoff
from hive_ha.core.health import Evidence, State
from hive_ha.model.layouts import Service
from hive_ha.testing.waiting import wait_until

EP = Endpoint("127.0.0.1", 10000, "/hiveserver2/x")


def failed_before_request(exc):
    return classify(exc) == CONNECT


def test_policy_is_immutable():
    policy = FailoverPolicy(connect=1)
    after = policy.increment(EP, ConnectionRefusedError())
    assert (policy.connect, after.connect) == (1, 0) and after.history[0][:2] == ("connect", "127.0.0.1:10000")
    with pytest.raises(ConnectionRefusedError):
        after.increment(EP, ConnectionRefusedError())


def errors_from_real_server(hs2_server_factory):
    """Return (refused, dropped_mid_call, query_error) as raised by PyHive against the test server."""
    server = hs2_server_factory("hs2-x", auth="NOSASL")
    conn = hive.connect(server.host, server.port, auth="NOSASL")
    cur = conn.cursor()
    with pytest.raises(Exception) as query_error:
        cur.execute("selec nonsense")
    server.drop_next("ExecuteStatement")
    with pytest.raises(Exception) as dropped:
        cur.execute("select 1")
    server.refuse()
    with pytest.raises(Exception) as refused:
        hive.connect(server.host, server.port, auth="NOSASL")
    return refused.value, dropped.value, query_error.value


def test_classifies_real_client_errors(hs2_server_factory):
    refused, dropped, query_error = errors_from_real_server(hs2_server_factory)
    assert isinstance(refused, TTransportException)
    assert is_connection_error(refused) and failed_before_request(refused)
    assert is_connection_error(dropped) and not failed_before_request(dropped)
    assert not is_connection_error(query_error) and not failed_before_request(query_error)
    assert [evidence_of(e) for e in (refused, dropped, query_error)] == [Evidence.REFUSED, Evidence.BROKEN, None]


def test_local_errors_are_no_servers_fault(tmp_path):
    import ssl

    with pytest.raises(FileNotFoundError) as bad_ca:  # a CA path that is wrong on this machine
        ssl.create_default_context(cafile=str(tmp_path / "missing-ca.pem"))
    denied = PermissionError(13, "Permission denied")
    for local in (bad_ca.value, denied, ImportError("no module named kerberos")):
        wrapped = TTransportException(message="unexpected exception", inner=local)
        assert classify(local) is None and classify(wrapped) is None
        assert not is_connection_error(wrapped) and not failed_before_request(wrapped)
    assert not is_connection_error(OSError(24, "Too many open files"))  # an errno alone proves nothing


def test_a_certificate_that_fails_verification_is_no_servers_fault():
    import ssl

    untrusted = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    wrapped = TTransportException(type=TTransportException.NOT_OPEN, message="TLS handshake failed", inner=untrusted)
    for error in (untrusted, wrapped):
        assert classify(error) is None and not is_connection_error(error) and not failed_before_request(error)
    with pytest.raises(TTransportException):  # passes the boundary untouched
        with map_connection_errors("h:1"):
            raise wrapped
    assert classify(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]")) == READ  # other TLS errors are the server's


def test_boundary_maps_by_type():
    with pytest.raises(ServerUnreachable) as refused:
        with map_connection_errors("h:1"):
            raise ConnectionRefusedError(111, "refused")
    with pytest.raises(ServerConnectionLost) as lost:
        with map_connection_errors("h:1"):
            raise TTransportException(type=TTransportException.END_OF_FILE, message="TSocket read 0 bytes")
    assert (refused.value.kind, lost.value.kind, refused.value.address) == (CONNECT, READ, "h:1")
    assert isinstance(refused.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ValueError):  # not a connection failure: untouched
        with map_connection_errors("h:1"):
            raise ValueError("bad SQL")


def test_os_level_errors():
    assert failed_before_request(ConnectionRefusedError(111, "refused"))
    assert is_connection_error(ConnectionResetError(104, "reset")) and not failed_before_request(ConnectionResetError(104, "x"))
    wrapped = RuntimeError("driver")
    wrapped.__cause__ = ConnectionRefusedError(111, "refused")
    assert failed_before_request(wrapped)
    assert not is_connection_error(ValueError("bad SQL"))


@pytest.fixture
def three_servers(zk_server, zk_namespace, registrar, hs2_server_factory):
    """Three registered NOSASL servers (oldest first) and a Discovery over them."""
    from hive_ha import Discovery, ZkSettings
    from hive_ha.io.zookeeper import ClientPool

    servers = [hs2_server_factory(f"hs2-{n}", auth="NOSASL") for n in "abc"]
    for s in servers:
        registrar.register(s.host, s.port, namespace=zk_namespace, authentication="NOSASL")
    pool = ClientPool()
    discovery = Discovery(ZkSettings(hosts=zk_server.hosts, connect_timeout=10), pool=pool)
    yield discovery, Service.of("hs2", zk_namespace), servers
    discovery.close()
    pool.close_all()


def open_and_ask(endpoint):
    with hive.connect(endpoint.host, endpoint.port, auth="NOSASL") as conn:
        cur = conn.cursor()
        cur.execute("select current_server()")
        return cur.fetchall()[0][0]


def test_with_failover_tries_next_and_stops_at_budget(three_servers):
    discovery, service, (a, b, c) = three_servers
    a.refuse()
    b.refuse()
    assert with_failover(discovery, service, open_and_ask) == "hs2-c"
    assert [f.failed for f in discovery.cache.failovers()] == [a.address, b.address]
    assert [s["state"] for s in discovery.cache.status()[0]["servers"]] == ["dead", "dead", "up"]  # refused: dead
    c.refuse()
    with pytest.raises(ServerUnreachable) as info:
        with_failover(discovery, service, open_and_ask, policy=FailoverPolicy(connect=0))
    assert info.value.address == c.address
    assert isinstance(info.value.__cause__, TTransportException) and "Could not connect" in str(info.value.__cause__)


def test_a_server_that_answers_again_is_let_back_by_the_prober(three_servers):
    discovery, service, (a, b, c) = three_servers
    discovery.prober.backoff = Backoff(base=0.05, maximum=0.05)  # a dead server is probed again soon
    a.refuse()
    assert with_failover(discovery, service, open_and_ask) == "hs2-b"
    assert discovery.health(service, discovery.cache.snapshot(service).endpoints[0]).state is State.DEAD
    a.resume()  # the prober's next probe finds it answering: no fixed exclusion window
    wait_until(lambda: discovery.health(service, discovery.cache.snapshot(service).endpoints[0]).state is State.UP,
               10, message="the dead server was never let back")


def test_with_failover_passes_query_errors_through(three_servers):
    discovery, service, _ = three_servers

    def bad_sql(endpoint):
        with hive.connect(endpoint.host, endpoint.port, auth="NOSASL") as conn:
            conn.cursor().execute("selec nonsense")

    with pytest.raises(Exception, match="ParseException"):
        with_failover(discovery, service, bad_sql)
    assert discovery.cache.failovers() == []


def test_local_error_excludes_no_server(three_servers, tmp_path):
    import ssl

    discovery, service, _ = three_servers

    def bad_ca(endpoint):
        return ssl.create_default_context(cafile=str(tmp_path / "missing-ca.pem"))

    with pytest.raises(FileNotFoundError):
        with_failover(discovery, service, bad_ca)
    assert discovery.cache.failovers() == []
    assert {s["state"] for s in discovery.cache.status()[0]["servers"]} == {"up"}


def test_untrusted_certificate_surfaces_at_once_and_excludes_no_server(zk_server, zk_namespace, registrar,
                                                                       hs2_server_factory, hs2_tls):
    """TLS servers whose CA this client does not trust: the first handshake's error is raised, nothing is excluded
    (excluding each server in turn would end in "no endpoint" and hide the trust setting to fix)."""
    import socket
    import ssl

    from hive_ha import Discovery, ZkSettings
    from hive_ha.io.zookeeper import ClientPool

    servers = [hs2_server_factory(f"hs2-{n}", auth="NOSASL", tls=hs2_tls.server) for n in "ab"]
    for server in servers:
        registrar.register(server.host, server.port, namespace=zk_namespace, authentication="NOSASL", use_ssl=True)
    pool = ClientPool()
    discovery = Discovery(ZkSettings(hosts=zk_server.hosts, connect_timeout=10), pool=pool)
    service = Service.of("hs2", zk_namespace)
    context = ssl.create_default_context(cafile=hs2_tls.stranger_ca)

    def handshake(endpoint):
        with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
            context.wrap_socket(sock, server_hostname="localhost").close()

    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            with_failover(discovery, service, handshake)
        assert discovery.cache.failovers() == []
        assert {s["state"] for s in discovery.cache.status()[0]["servers"]} == {"up"}
        assert sum(server.accepted for server in servers) == 1  # one attempt: not tried on every server
        assert discovery.endpoint(service) is not None
    finally:
        discovery.close()
        pool.close_all()


def test_a_refused_or_failed_sasl_handshake_is_no_servers_fault(hs2_server_factory):
    """thrift_sasl raises a rejected login, and a handshake that cannot start on this side, as NOT_OPEN, the type of a
    refused connection: the server answered (or was never asked), so no server may be condemned for it."""
    from hive_ha.clients.probe import session_round_trip
    from hive_ha.clients.transport import thrift_transport

    server = hs2_server_factory("hs2-ldap", auth="LDAP", users={"bob": "right"})
    transport, _ = thrift_transport(server.host, server.port, auth="LDAP", timeout=5, user="bob", password="wrong")
    with pytest.raises(TTransportException) as refused:
        session_round_trip(transport, "bob")
    assert str(refused.value).startswith("Bad status: 3")
    assert classify(refused.value) is None and evidence_of(refused.value) is None
    could_not_start = TTransportException(type=TTransportException.NOT_OPEN,
                                          message="Could not start SASL: GSSAPI: no Kerberos credentials available")
    assert classify(could_not_start) is None
