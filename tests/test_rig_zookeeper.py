"""Tests of the ZooKeeper test rig itself (hive_ha.sandbox.zookeeper / registrar / waiting) against real servers."""
import contextlib
import json
import os
import random
import re
import socket
import ssl
import threading
import time

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import AuthFailedError, ConnectionClosedError, ConnectionLoss, KazooException, NoAuthError, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import make_acl

from hive_ha.sandbox.registrar import (
    Registrar,
    RegisteredServer,
    format_published,
    hive_secure_acl,
    published_configs,
    spawn_process,
)
from hive_ha.testing.waiting import WaitTimeout, wait_until
from hive_ha.sandbox.zookeeper import ZooKeeperServer, _TlsMaterial, expire_session, four_letter_word, free_port

# kazoo 2.8 builds its TLS context with the deprecated ssl.PROTOCOL_SSLv23 (not our code).
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")

HS2_NAME = re.compile(r"^serverUri=127\.0\.0\.1:\d+;version=[^;]+;sequence=\d{10}$")
KYUUBI_NAME = re.compile(r"^serviceUri=127\.0\.0\.1:\d+;version=[^;]+;(refId=[^;]+;)?sequence=\d{10}$")
HSI_NAME = re.compile(r"^instance-\d{10}$")
BINARY_KEYS = {
    "hive.server2.thrift.bind.host", "hive.server2.instance.uri", "hive.server2.transport.mode",
    "hive.server2.thrift.port", "hive.server2.thrift.sasl.qop", "hive.server2.authentication", "hive.server2.use.SSL",
}
HTTP_KEYS = (BINARY_KEYS - {"hive.server2.thrift.port", "hive.server2.thrift.sasl.qop"}) | {
    "hive.server2.thrift.http.port", "hive.server2.thrift.http.path",
}
QUIET = {"connection_retry": {"max_tries": 1, "delay": 0.05}}


@contextlib.contextmanager
def kazoo(hosts, start_timeout=10.0, **kwargs):
    kwargs.setdefault("timeout", 4.0)
    client = KazooClient(hosts=hosts, **kwargs)
    try:
        client.start(timeout=start_timeout)
        yield client
    finally:
        client.stop()
        client.close()


def parse_published(data):
    return dict(item.split("=", 1) for item in data.decode("utf-8").split(";"))


def processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                if text.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def port_is_closed(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def negotiated_timeout(server, client):
    """Session timeout the server granted, from the ``cons`` four-letter word."""
    text = server.four_letter_word("cons")
    match = re.search(r"sid=0x%x,.*?to=(\d+)" % client.client_id[0], text)
    assert match, text
    return int(match.group(1))


# ----------------------------------------------------------------------------------------------------------- waiting
def test_wait_until_returns_the_value_and_times_out_with_the_message():
    calls = []
    assert wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "done"), timeout=2) == "done"
    with pytest.raises(WaitTimeout, match="still false") as info:
        wait_until(lambda: False, timeout=0.05, message=lambda: "still %s" % "false")
    assert isinstance(info.value, AssertionError) and isinstance(info.value, TimeoutError)
    with pytest.raises(TimeoutError) as info:  # ignored exceptions count as "not yet" and are chained
        wait_until(lambda: {}["missing"], timeout=0.05, ignore=KeyError)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ZeroDivisionError):  # others propagate at once
        wait_until(lambda: 1 / 0, timeout=5)


def test_free_port_gives_distinct_bindable_ports():
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


# ------------------------------------------------------------------------------------------------------- standalone
@pytest.mark.zookeeper
def test_standalone_start_stop_leaves_nothing_behind():
    server = ZooKeeperServer()
    with server:
        port, directory, config, pid = server.port, server.dir, server.config_file, server.pid
        assert server.mode() == "standalone"
        assert four_letter_word(server.port, "ruok") == "imok"
        assert "zk_server_state\tstandalone" in server.four_letter_word("mntr")
        assert processes_mentioning(config), "java process not found"
        with kazoo(server.hosts) as client:
            client.create("/x", b"1")
            assert client.get("/x")[0] == b"1"
        assert os.path.exists(os.path.join(directory, "zookeeper.log"))
    assert port_is_closed(port)
    assert not processes_mentioning(config), "java process left behind"
    assert pid not in processes_mentioning(config)
    assert not os.path.exists(directory)
    server.stop()  # idempotent


def test_session_timeout_bounds(zk_server):
    for asked, granted in ((1.0, 1000), (2.5, 2500), (0.3, 400), (120.0, 60000)):
        with kazoo(zk_server.hosts, timeout=asked) as client:
            assert negotiated_timeout(zk_server, client) == granted


def test_kill_and_restart_keep_data_and_sessions(zk_server_factory):
    server = zk_server_factory(name="zk-restart")
    port = server.port
    states = []
    # A session long enough to outlive two restarts on a loaded machine (kazoo's reconnect backoff grows).
    with kazoo(server.hosts, timeout=30.0) as client:
        client.add_listener(states.append)
        session = client.client_id[0]
        client.create("/persistent", b"p")
        client.create("/ephemeral", b"e", ephemeral=True)

        server.kill()
        assert not server.running and port_is_closed(port)
        wait_until(lambda: KazooState.SUSPENDED in states, message="client did not notice ZooKeeper going down")
        server.start()
        assert server.port == port
        wait_until(lambda: client.connected, timeout=15)
        assert client.client_id[0] == session  # the session survived a short outage
        assert client.get("/persistent")[0] == b"p" and client.exists("/ephemeral")

        server.restart()  # graceful stop + start, same ports and data
        wait_until(lambda: client.connected and client.exists("/ephemeral"), timeout=15, ignore=KazooException)
        assert KazooState.LOST not in states


# ---------------------------------------------------------------------------------------------------------- ensemble
@pytest.mark.slow
def test_ensemble_leader_killed_client_keeps_working(zk_ensemble):
    assert len(zk_ensemble.hosts.split(",")) == 3
    assert sorted(zk_ensemble.modes()) == ["follower", "follower", "leader"]
    old = zk_ensemble.leader()
    with kazoo(zk_ensemble.hosts, timeout=8.0) as client:
        client.create("/ha", b"1")
        zk_ensemble.kill(old)
        new = zk_ensemble.wait_for_leader(timeout=20)
        assert new != old
        wait_until(lambda: client.set("/ha", b"2"), timeout=20, ignore=(ConnectionLoss, SessionExpiredError))
        assert client.get("/ha")[0] == b"2"
        zk_ensemble.start_member(old)
        assert zk_ensemble.members[old].mode() == "follower"
        with kazoo(zk_ensemble.hosts_of(old)) as other:  # the restarted member has caught up
            assert wait_until(lambda: other.sync("/ha") and other.get("/ha")[0] == b"2")


# --------------------------------------------------------------------------------------------------------------- TLS
def test_tls_kazoo_connects_with_the_ca(zk_tls_server):
    assert zk_tls_server.secure_hosts != zk_tls_server.hosts
    with kazoo(zk_tls_server.secure_hosts, use_ssl=True, ca=zk_tls_server.ca_file, verify_certs=True) as client:
        assert isinstance(client._connection._socket, ssl.SSLSocket)
        client.create("/tls", b"secure", makepath=True)
        assert client.get("/tls")[0] == b"secure"
    # The certificate is valid for 127.0.0.1 and localhost, verified with hostname checking on.
    context = ssl.create_default_context(cafile=zk_tls_server.ca_file)
    with socket.create_connection(("127.0.0.1", zk_tls_server.secure_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version().startswith("TLS")


def test_tls_port_refuses_plain_clients_and_unknown_cas(zk_tls_server, tmp_path):
    client = KazooClient(hosts=zk_tls_server.secure_hosts, timeout=2.0, **QUIET)
    try:
        with pytest.raises(KazooTimeoutError):
            client.start(timeout=1.5)
    finally:
        client.stop()
        client.close()
    stranger = _TlsMaterial(str(tmp_path))  # another self-signed CA
    context = ssl.create_default_context(cafile=stranger.ca_file)
    with socket.create_connection(("127.0.0.1", zk_tls_server.secure_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="localhost")
    client = KazooClient(hosts=zk_tls_server.secure_hosts, use_ssl=True, ca=stranger.ca_file, timeout=2.0, **QUIET)
    try:
        with pytest.raises(KazooTimeoutError):
            client.start(timeout=1.5)
    finally:
        client.stop()
        client.close()


def test_tls_with_client_certificates(zk_server_factory):
    server = zk_server_factory(name="zk-mtls", tls=True, tls_client_auth="need")
    with kazoo(server.secure_hosts, use_ssl=True, ca=server.ca_file, certfile=server.client_cert_file,
               keyfile=server.client_key_file) as client:
        assert "zookeeper" in client.get_children("/")
    client = KazooClient(hosts=server.secure_hosts, use_ssl=True, ca=server.ca_file, timeout=2.0, **QUIET)
    try:
        with pytest.raises(KazooTimeoutError):  # no client certificate: the handshake is refused
            client.start(timeout=1.5)
    finally:
        client.stop()
        client.close()


# -------------------------------------------------------------------------------------------------------------- SASL
def test_sasl_digest_md5_login_gives_the_identity(zk_sasl_server, zk_namespace):
    hive, hue = zk_sasl_server.sasl_options("hive"), zk_sasl_server.sasl_options("hue")
    with kazoo(zk_sasl_server.hosts, sasl_options=hive) as client:
        client.create(zk_namespace, b"mine", acl=[make_acl("sasl", "hive", all=True)])
        assert client.get(zk_namespace)[0] == b"mine"
    with kazoo(zk_sasl_server.hosts, sasl_options=hue) as client:
        with pytest.raises(NoAuthError):
            client.get(zk_namespace)


# Not ("nobody", <a real user's password>): ZooKeeper 3.8.0 accepts an unknown user name together with the password of
# the last user who logged in successfully (ZOOKEEPER-4839, fixed in 3.8.5/3.9.3).
@pytest.mark.parametrize("user,password", [("hive", "wrong"), ("nobody", "nobody-pw")])
def test_sasl_wrong_credentials_fail(zk_sasl_server, user, password):
    options = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    client = KazooClient(hosts=zk_sasl_server.hosts, sasl_options=options, timeout=2.0, **QUIET)
    try:
        # kazoo reports CONNECTED before the SASL exchange, so start() may return before the failure arrives; then
        # the session goes AUTH_FAILED (KazooState.LOST) and the connection is closed.
        try:
            client.start(timeout=5)
        except (AuthFailedError, KazooTimeoutError):
            pass
        wait_until(lambda: not client.connected, timeout=5)
        with pytest.raises((AuthFailedError, ConnectionClosedError)):
            client.get_children_async("/").get(timeout=5)
        assert "failed to SASL authenticate" in zk_sasl_server.log_tail(400)
    finally:
        client.stop()
        client.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_require_sasl_refuses_sessions_without_sasl(zk_server_factory):
    server = zk_server_factory(name="zk-require-sasl", sasl_users={"hive": "pw"}, require_sasl=True)
    with kazoo(server.hosts, sasl_options=server.sasl_options()) as client:
        assert "zookeeper" in client.get_children("/")
    # kazoo 2.8 does not know the server's answer (error -124, "session requires SASL"): its connection thread dies
    # and the request never completes, so only ever wait on it with a timeout.
    client = KazooClient(hosts=server.hosts, timeout=2.0, **QUIET)
    try:
        try:
            client.start(timeout=3)
        except (KazooException, KazooTimeoutError):
            pass
        with pytest.raises((KazooException, KazooTimeoutError)):
            client.get_children_async("/").get(timeout=3)
    finally:
        client.stop()
        client.close()


# ---------------------------------------------------------------------------------------------------- expire_session
def test_expire_session_really_expires_it(zk_server, zk_namespace, zk_client):
    states, deleted = [], threading.Event()
    with kazoo(zk_server.hosts, timeout=10.0) as client:
        client.add_listener(states.append)
        session = client.client_id[0]
        node = client.create(zk_namespace, b"", ephemeral=True)
        zk_client.exists(node, watch=lambda event: deleted.set())
        assert expire_session(client) == session
        assert KazooState.LOST in states
        assert deleted.wait(5) and zk_client.exists(node) is None
        wait_until(lambda: client.connected)  # kazoo opens a new session by itself
        assert client.client_id[0] != session


# --------------------------------------------------------------------------------------------------------- registrar
def test_registrar_hs2_names_and_published_data(registrar, zk_namespace, zk_client):
    a = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    b = registrar.register("127.0.0.1", 10001, namespace=zk_namespace, version="3.1.3000.7.1.8.0-801")
    assert zk_client.exists(zk_namespace).ephemeralOwner == 0  # persistent parent
    names = zk_client.get_children(zk_namespace)
    assert sorted(names) == sorted([a.name, b.name])
    for server, port in ((a, 10000), (b, 10001)):
        assert HS2_NAME.match(server.name), server.name
        assert server.znode == "%s/%s" % (zk_namespace, server.name)
        assert server.name.startswith("serverUri=127.0.0.1:%d;version=" % port)
        data, stat = zk_client.get(server.znode)
        assert stat.ephemeralOwner == server.session_id  # each server owns its znode with its own session
        configs = parse_published(data)
        assert set(configs) == BINARY_KEYS
        assert configs["hive.server2.instance.uri"] == "127.0.0.1:%d" % port
        assert configs["hive.server2.thrift.port"] == str(port)
        assert configs["hive.server2.thrift.bind.host"] == "127.0.0.1"
        assert configs["hive.server2.transport.mode"] == "binary"
        assert configs["hive.server2.authentication"] == "NONE"
        assert configs["hive.server2.use.SSL"] == "false"
        assert configs["hive.server2.thrift.sasl.qop"] == "auth"
    assert a.session_id != b.session_id and b.sequence == a.sequence + 1
    assert ";version=3.1.3000.7.1.8.0-801;" in b.name


@pytest.mark.parametrize(
    "kwargs,expected_keys,checks",
    [
        (dict(transport_mode="http", http_path="gateway"), HTTP_KEYS,
         {"hive.server2.thrift.http.port": "10000", "hive.server2.thrift.http.path": "gateway"}),
        (dict(transport_mode="all", http_port=10001), BINARY_KEYS | HTTP_KEYS,
         {"hive.server2.thrift.port": "10000", "hive.server2.thrift.http.port": "10001"}),
        (dict(authentication="KERBEROS", principal="hive/_HOST@EXAMPLE.COM", use_ssl=True, sasl_qop="auth-conf"),
         BINARY_KEYS | {"hive.server2.authentication.kerberos.principal"},
         {"hive.server2.authentication.kerberos.principal": "hive/_HOST@EXAMPLE.COM",
          "hive.server2.use.SSL": "true", "hive.server2.thrift.sasl.qop": "auth-conf"}),
    ],
    ids=["http", "all", "kerberos-ssl"],
)
def test_registrar_hs2_transport_and_auth_variants(registrar, zk_namespace, zk_client, kwargs, expected_keys, checks):
    server = registrar.register("127.0.0.1", 10000, namespace=zk_namespace, **kwargs)
    assert server.name.startswith("serverUri=127.0.0.1:10000;")  # binary port in "all" mode, http port in http
    configs = parse_published(zk_client.get(server.znode)[0])
    assert set(configs) == expected_keys
    for key, value in checks.items():
        assert configs[key] == value
    assert configs["hive.server2.transport.mode"] == kwargs.get("transport_mode", "binary")


def test_registrar_legacy_form_shuffle_and_extra(registrar, zk_namespace, zk_client):
    legacy = registrar.register("127.0.0.1", 10001, namespace=zk_namespace, data_form="legacy")
    assert zk_client.get(legacy.znode)[0] == b"127.0.0.1:10001"
    assert HS2_NAME.match(legacy.name)
    plain = format_published(published_configs("127.0.0.1", 10002))
    seed = next(s for s in range(100) if format_published(published_configs("127.0.0.1", 10002),
                                                          random.Random(s)) != plain)
    shuffled = registrar.register("127.0.0.1", 10002, namespace=zk_namespace, shuffle=random.Random(seed))
    raw = zk_client.get(shuffled.znode)[0]
    assert raw.decode() != plain and parse_published(raw) == parse_published(plain.encode())
    odd = registrar.register("127.0.0.1", 10003, namespace=zk_namespace,
                             extra={"hive.server2.thrift.port": None, "custom.key": 7})
    configs = parse_published(zk_client.get(odd.znode)[0])
    assert "hive.server2.thrift.port" not in configs and configs["custom.key"] == "7"


def test_registrar_kyuubi_and_hsi_without_ha(registrar, zk_namespace, zk_client):
    kyuubi = registrar.register("127.0.0.1", 10009, layout="kyuubi", namespace=zk_namespace + "/kyuubi")
    with_ref = registrar.register("127.0.0.1", 10010, layout="kyuubi", namespace=zk_namespace + "/kyuubi",
                                  ref_id="e6c1")
    for server in (kyuubi, with_ref):
        assert KYUUBI_NAME.match(server.name), server.name
        assert set(parse_published(zk_client.get(server.znode)[0])) == BINARY_KEYS
    assert ";refId=e6c1;sequence=" in with_ref.name
    hsi = registrar.register("127.0.0.1", 10500, namespace=zk_namespace + "/hiveserver2-hive2")
    assert HS2_NAME.match(hsi.name) and hsi.znode.startswith(zk_namespace + "/hiveserver2-hive2/")


def test_registrar_hsi_ha_records_and_leader_flip(registrar, zk_namespace, zk_client):
    a = registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=True,
                           transport_mode="http", leader_latch=True)
    b = registrar.register("127.0.0.1", 10501, layout="hsi-ha", namespace=zk_namespace, leader_latch=True)
    assert zk_client.exists(zk_namespace + "/_LEADER") is not None
    assert sorted(zk_client.get_children(zk_namespace + "/instances")) == sorted([a.name, b.name])
    latches = zk_client.get_children(zk_namespace + "/_LEADER")
    assert len(latches) == 2 and all(re.match(r"^_c_[0-9a-f-]{36}-latch-\d{10}$", n) for n in latches)

    def record(server):
        data, stat = zk_client.get(server.znode)
        assert stat.ephemeralOwner == server.session_id
        return json.loads(data)

    def api(server):
        return [endpoint["api"] for endpoint in record(server)["internal"]]

    assert b"\n" not in zk_client.get(a.znode)[0]  # Hadoop 3 writes compact JSON
    rec = record(a)
    assert HSI_NAME.match(a.name) and a.znode == zk_namespace + "/instances/" + a.name
    assert rec["type"] == "JSONServiceRecord" and rec["external"] == []
    assert rec["internal"] == [{"api": "activeEndpoint", "addressType": "host/port", "protocolType": "hadoop/IPC",
                                "addresses": [{"host": "127.0.0.1", "port": "10500"}]}]
    assert rec["hive.server2.transport.mode"] == "http"
    assert rec["hive.server2.thrift.http.port"] == "10500" and rec["hive.server2.thrift.http.path"] == "cliservice"
    assert rec["hive.server2.instance.uri"] == "127.0.0.1:10500"
    assert rec["registry.unique.id"] == a.unique_id and rec["hive.server2.webui.port"] == "10002"
    assert all(isinstance(value, str) for key, value in rec.items() if key.startswith("hive."))
    assert record(b)["hive.server2.thrift.port"] == "10501" and api(b) == ["passiveEndpoint"]

    events = []
    zk_client.DataWatch(a.znode, lambda data, stat: events.append(("a", stat.version if stat else None)))
    registrar.make_active(b)
    assert (api(a), api(b)) == (["passiveEndpoint"], ["activeEndpoint"])
    assert (a.active, b.active) == (False, True)
    wait_until(lambda: ("a", 1) in events)  # the old leader's znode was rewritten (data watch fired)
    registrar.make_active(None)  # mid leader change: nobody active
    assert api(a) == api(b) == ["passiveEndpoint"]
    registrar.make_active(a)
    assert (api(a), api(b)) == (["activeEndpoint"], ["passiveEndpoint"])
    a.deregister()
    assert zk_client.get_children(zk_namespace + "/_LEADER") == [b.latch_znode.rsplit("/", 1)[1]]


def test_deregister_removes_the_znode_at_once(registrar, zk_namespace, zk_client):
    server = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    deleted = threading.Event()
    assert zk_client.exists(server.znode, watch=lambda event: deleted.set())
    server.deregister()
    assert zk_client.exists(server.znode) is None  # no waiting at all
    assert deleted.wait(2) and server.state == "deregistered"
    server.deregister()  # idempotent


def test_crash_leaves_the_znode_until_the_session_expires(registrar, zk_namespace, zk_client):
    server = registrar.register("127.0.0.1", 10000, namespace=zk_namespace, session_timeout=2.0)
    session = server.session_id
    started = time.monotonic()
    server.crash()
    data, stat = zk_client.get(server.znode)  # still there, still owned by the dead session
    assert stat.ephemeralOwner == session and server.state == "crashed"
    server.wait_gone(timeout=10)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 8.0, elapsed


def test_session_expiry_reregisters_like_hive_unless_disabled(registrar, zk_namespace, zk_client):
    hive_like = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    one_shot = registrar.register("127.0.0.1", 10001, namespace=zk_namespace, recreate_on_expiry=False)
    first, old_session = hive_like.znode, hive_like.session_id
    expire_session(hive_like.client)
    expire_session(one_shot.client)
    assert hive_like.recreated.wait(10)
    assert hive_like.znode != first and hive_like.sequence > one_shot.sequence and hive_like.history == [
        first, hive_like.znode]
    assert zk_client.exists(first) is None and zk_client.exists(one_shot.znode) is None
    data, stat = zk_client.get(hive_like.znode)
    assert data == hive_like.data and stat.ephemeralOwner == hive_like.session_id != old_session
    assert zk_client.get_children(zk_namespace) == [hive_like.name]


def test_register_raw_returns_the_path_with_handles(registrar, zk_namespace, zk_client):
    bad = registrar.register_raw(zk_namespace + "/serverUri=evil host:1;version=1;sequence=", b"\xff\x00")
    assert isinstance(bad, str) and re.match(r".*/serverUri=evil host:1;version=1;sequence=\d{10}$", bad)
    assert zk_client.get(bad)[0] == b"\xff\x00" and zk_client.exists(bad).ephemeralOwner == bad.server.session_id
    kept = registrar.register_raw(zk_namespace + "/static", "text", ephemeral=False, sequence=False)
    assert kept == zk_namespace + "/static" and zk_client.exists(kept).ephemeralOwner == 0
    bad.deregister()
    assert zk_client.exists(bad) is None
    registrar.close()  # deletes persistent raw nodes too
    assert zk_client.exists(kept) is None
    with pytest.raises(RuntimeError):
        registrar.client  # noqa: B018


def test_registrar_secure_acl_over_sasl(zk_sasl_server, zk_namespace, registrar_factory):
    reg = registrar_factory(zk_sasl_server.hosts, sasl_options=zk_sasl_server.sasl_options("hive"),
                            acl=hive_secure_acl())
    server = reg.register("127.0.0.1", 10000, namespace=zk_namespace)
    with kazoo(zk_sasl_server.hosts) as anonymous:  # world-readable ...
        assert parse_published(anonymous.get(server.znode)[0])["hive.server2.thrift.port"] == "10000"
        assert sorted(a.perms for a in anonymous.get_acls(server.znode)[0]) == [1, 31]
        with pytest.raises(NoAuthError):  # ... but only its creator may change it
            anonymous.delete(server.znode)
    server.deregister()


def test_registrar_over_tls_and_crash(zk_tls_server, zk_namespace, registrar_factory):
    reg = registrar_factory(zk_tls_server.secure_hosts, use_ssl=True, ca=zk_tls_server.ca_file, session_timeout=1.5)
    server = reg.register("127.0.0.1", 10000, namespace=zk_namespace)
    assert isinstance(server.client._connection._socket, ssl.SSLSocket)
    server.crash()
    assert reg.client.exists(server.znode) is not None
    server.wait_gone(timeout=10)


@pytest.mark.process
def test_registration_in_a_separate_process(zk_server, zk_namespace, zk_client):
    killed = spawn_process(zk_server.hosts, "127.0.0.1", 10000, namespace=zk_namespace, session_timeout=1.5)
    clean = spawn_process(zk_server.hosts, "127.0.0.1", 10001, namespace=zk_namespace, data_form="legacy")
    try:
        assert HS2_NAME.match(killed.znode.rsplit("/", 1)[1])
        assert zk_client.get(clean.znode)[0] == b"127.0.0.1:10001"
        clean.terminate()
        assert clean.process.returncode == 0  # SIGTERM: a clean stop, deregistered first
        assert zk_client.exists(clean.znode) is None  # clean exit: gone at once
        killed.kill()
        assert zk_client.exists(killed.znode) is not None  # SIGKILL: lingers until the session expires
        wait_until(lambda: zk_client.exists(killed.znode) is None, timeout=10)
    finally:
        killed.stop()
        clean.stop()


def test_close_deregisters_everything(zk_server, zk_namespace, zk_client):
    with Registrar(zk_server.hosts) as reg:
        servers = [reg.register("127.0.0.1", 10000 + i, namespace=zk_namespace) for i in range(3)]
        servers.append(reg.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace + "-ha"))
        assert all(isinstance(s, RegisteredServer) and s.alive for s in servers)
        assert len(zk_client.get_children(zk_namespace)) == 3
    assert zk_client.get_children(zk_namespace) == []
    assert zk_client.get_children(zk_namespace + "-ha/instances") == []
    assert all(s.state == "deregistered" for s in servers)
