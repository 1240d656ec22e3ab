"""hive_ha.connect: the published-settings mapping (pure) and real connections through ZooKeeper to HS2 test servers."""
import os
import signal
import sys
import threading

import pytest
from thrift.transport.TTransport import TTransportException

import hive_ha
from hive_ha.clients import dbapi
from hive_ha.model.endpoint import Endpoint
from hive_ha.errors import AllServersFailed, ConfigError, NoEndpointAvailable, RegistryUnavailable, UnusableEndpoint
from hive_ha.clients.jdbc_url import ConnectOptions
from hive_ha.testing.waiting import wait_until
from hive_ha.io.zookeeper import POOL, ZkSettings

# -- the mapping, pure -------------------------------------------------------------------------------


def ep(**kw):
    return Endpoint(**{"host": "hs2-a.example.com", "port": 10000, "znode": "/hiveserver2/x", **kw})


def opts(**kw):
    return ConnectOptions("zk1:2181", **kw)


def pyhive(endpoint, **kw):
    options = opts(**kw)
    return dbapi.pyhive_kwargs(dbapi.resolve(endpoint, options), options)


def impyla(endpoint, **kw):
    options = opts(**kw)
    return dbapi.impyla_kwargs(dbapi.resolve(endpoint, options), options)


BASE = {"host": "hs2-a.example.com", "port": 10000, "username": None, "database": "default"}
HTTP = dict(transport_mode="http", port=10001, http_port=10001)


@pytest.mark.parametrize("published, given, expected", [
    ({"authentication": "NOSASL"}, {}, {"auth": "NOSASL"}),
    ({"authentication": "NONE"}, {"username": "bob"}, {"auth": "NONE", "username": "bob"}),
    ({"authentication": "LDAP"}, {"password": "pw"}, {"auth": "LDAP", "password": "pw"}),
    ({"authentication": "PAM"}, {"password": "pw"}, {"auth": "LDAP", "password": "pw"}),
    ({"authentication": "CUSTOM"}, {"password": "pw"}, {"auth": "CUSTOM", "password": "pw"}),
    ({"authentication": "KERBEROS", "principal": "hive/hs2-a.example.com@EX.COM"}, {},
     {"auth": "KERBEROS", "kerberos_service_name": "hive"}),
    ({"authentication": "KERBEROS", "principal": "hive/h@EX.COM"}, {"kerberos_service_name": "hive2"},
     {"auth": "KERBEROS", "kerberos_service_name": "hive2"}),
    ({"authentication": "KERBEROS", "principal": "hive/h@EX.COM"}, {"principal": "impala/h@EX.COM"},
     {"auth": "KERBEROS", "kerberos_service_name": "impala"}),
    ({"authentication": "LDAP"}, {"auth": "NOSASL"}, {"auth": "NOSASL"}),  # the caller's auth wins
    ({"transport_mode": "all", "http_port": 10001}, {}, {"auth": "NONE"}),  # "all": binary port
    ({**HTTP}, {}, {"port": 10001, "scheme": "http", "auth": "NONE"}),
    ({**HTTP, "use_ssl": True}, {}, {"port": 10001, "scheme": "https", "auth": "NONE"}),
    ({**HTTP, "use_ssl": True}, {"ssl": False}, {"port": 10001, "scheme": "http", "auth": "NONE"}),
    ({**HTTP, "authentication": "NOSASL"}, {}, {"port": 10001, "scheme": "http", "auth": "NOSASL"}),
    ({**HTTP, "authentication": "LDAP"}, {"password": "pw"}, {"port": 10001, "scheme": "http", "auth": "BASIC",
                                                              "password": "pw"}),
    ({"transport_mode": "all", "http_port": 10001}, {"transport_mode": "http"},
     {"port": 10001, "scheme": "http", "auth": "NONE"}),
    ({**HTTP}, {"transport_mode": "binary"}, {"port": 10000, "auth": "NONE"}),  # no thrift port published: the name's
])
def test_pyhive_kwargs(published, given, expected):
    endpoint = ep(**published)
    if "port" in published and published.get("transport_mode") == "http" and given.get("transport_mode") == "binary":
        endpoint = ep(**{**published, "port": 10000})
    assert pyhive(endpoint, **given) == {**BASE, **expected}


def test_pyhive_custom_http_path_gets_its_own_transport():
    kw = pyhive(ep(**HTTP, http_path="gateway/default/hive"), username="bob", password="pw")
    transport = kw.pop("thrift_transport")
    assert kw == {"username": "bob", "database": "default"}
    assert (transport.scheme, transport.host, transport.port, transport.path) == ("http", "hs2-a.example.com", 10001,
                                                                                  "/gateway/default/hive")
    kw = pyhive(ep(**HTTP), http_path="/other/")  # the caller's path wins over the published one
    assert kw["thrift_transport"].path == "/other"


@pytest.mark.parametrize("published, given, key", [
    ({"authentication": "LDAP"}, {}, "password"),
    ({}, {"auth": "CUSTOM"}, "password"),
    ({"authentication": "SAML"}, {}, "hive.server2.authentication"),
    ({"sasl_qop": "auth-conf"}, {}, "sasl_qop"),
    ({**HTTP, "authentication": "KERBEROS", "http_path": "gw"}, {}, "http_path"),
])
def test_pyhive_unsupported_combinations_are_config_errors(published, given, key):
    with pytest.raises(ConfigError) as err:
        pyhive(ep(**published), **given)
    assert err.value.key == key


@pytest.mark.parametrize("published, given, expected", [
    ({"authentication": "NOSASL"}, {}, {"auth_mechanism": "NOSASL"}),
    ({"authentication": "NONE"}, {}, {"auth_mechanism": "PLAIN"}),
    ({"authentication": "LDAP"}, {"password": "pw"}, {"auth_mechanism": "LDAP", "password": "pw"}),
    ({"authentication": "KERBEROS", "principal": "hive/h@EX.COM"}, {},
     {"auth_mechanism": "GSSAPI", "kerberos_service_name": "hive"}),
    ({"use_ssl": True}, {"ssl_ca": "/etc/hive/ca.pem"}, {"auth_mechanism": "PLAIN", "use_ssl": True,
                                                         "ca_cert": "/etc/hive/ca.pem"}),
    ({**HTTP, "http_path": "gw/hive"}, {}, {"auth_mechanism": "PLAIN", "port": 10001, "use_http_transport": True,
                                            "http_path": "gw/hive"}),
])
def test_impyla_kwargs(published, given, expected):
    base = {"host": "hs2-a.example.com", "port": 10000, "database": "default", "user": None, "use_ssl": False,
            "use_http_transport": False}
    assert impyla(ep(**published), **given) == {**base, **expected}


@pytest.mark.process
def test_import_hive_ha_does_not_import_drivers():
    import subprocess

    code = ("import sys, hive_ha; assert 'pyhive' not in sys.modules and 'impala' not in sys.modules; "
            "assert callable(hive_ha.connect); assert 'pyhive' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_bad_arguments_fail_before_any_io():
    with pytest.raises(ConfigError, match="zookeeper"):
        hive_ha.connect()
    with pytest.raises(ConfigError, match="serviceDiscoveryMode"):
        hive_ha.connect("hive2://127.0.0.1:1/db")
    with pytest.raises(ConfigError, match="argument 'host'"):
        dbapi.connect_options(zookeeper="zk1", host="x")


# -- real connections ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_discoveries():
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


@pytest.fixture
def nosasl_pair(zk_server, zk_namespace, registrar, hs2_server_factory):
    servers = [hs2_server_factory(f"hs2-{n}", auth="NOSASL") for n in "ab"]
    regs = [registrar.register(s.host, s.port, namespace=zk_namespace, authentication="NOSASL") for s in servers]
    return servers, regs


def test_connect_queries_and_reuses_one_discovery(zk_server, zk_namespace, nosasl_pair):
    (a, b), _ = nosasl_pair
    for _ in range(3):  # auth NOSASL comes from the registration: the caller gives none
        assert ask(hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest")) == "hs2-a"
    assert len(dbapi._discoveries) == 1  # noqa: SLF001 - the point: one watcher and ZK session per process
    assert b.call_count("OpenSession") == 0


def test_unreachable_zookeeper_connect_waits_once_then_fails_at_once_and_recovers(
        zk_server_factory, registrar_factory, hs2_server_factory):
    server = zk_server_factory(name="zk-stopped")
    server.terminate()  # its port refuses connections until it starts again
    # kazoo waits up to session_timeout / hosts for a handshake: with the default 30 s, one attempt that reaches the
    # ZooKeeper while it is still starting holds the reconnection for 30 s.
    settings = ZkSettings(hosts=server.hosts, connect_timeout=0.5, session_timeout=4)
    cache = dbapi._discovery(settings, "oldest")[0].cache  # the Discovery every connect with these settings shares
    waits, real = [], cache.wait_snapshot
    cache.wait_snapshot = lambda service, timeout: waits.append(timeout) or real(service, timeout)
    errors = []
    for _ in range(3):
        with pytest.raises(RegistryUnavailable, match="unreachable") as caught:
            hive_ha.connect(zookeeper=settings, policy="oldest", auth="NOSASL")
        errors.append(str(caught.value))
    assert waits[0] > 0 and waits[1:] == [0, 0] and len(set(errors)) == 1  # later calls were given no wait at all
    hs2 = hs2_server_factory("hs2-back", auth="NOSASL")
    server.start()
    registrar_factory(server.hosts).register(hs2.host, hs2.port, authentication="NOSASL")

    def connected():
        try:
            return hive_ha.connect(zookeeper=settings, policy="oldest")
        except (RegistryUnavailable, NoEndpointAvailable):
            return None

    assert ask(wait_until(connected, 30, message="no connection after ZooKeeper came back")) == "hs2-back"


def test_kill_serving_server_next_connect_lands_elsewhere(zk_server, zk_namespace, nosasl_pair):
    (a, b), _ = nosasl_pair
    kw = dict(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest")
    assert ask(hive_ha.connect(**kw)) == "hs2-a"
    a.kill()  # its znode stays: discovery still offers it, opening fails, the next server is tried
    assert ask(hive_ha.connect(**kw)) == "hs2-b"
    assert ask(hive_ha.connect(**kw)) == "hs2-b"  # a is excluded now: no second attempt on it
    discovery = next(iter(dbapi._discoveries.values()))  # noqa: SLF001
    assert [f.failed for f in discovery.cache.failovers()] == [a.address]


def test_sigkilled_server_with_crashed_registration(zk_server, zk_namespace, registrar, hs2_process_factory):
    procs = [hs2_process_factory(f"hs2-{n}", auth="NONE") for n in "ab"]
    regs = [registrar.register(p.host, p.port, namespace=zk_namespace) for p in procs]
    url = f"hive2://{zk_server.hosts}/default;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace={zk_namespace}"
    first = ask(hive_ha.connect(url, username="bob"))  # random policy: either one
    victim = 0 if first == "hs2-a" else 1
    procs[victim].kill()
    regs[victim].crash()  # the znode lingers until the session expires, as after a real crash
    assert ask(hive_ha.connect(url, username="bob")) == procs[1 - victim].name


def test_all_dead_gives_the_drivers_final_error_then_empty_registry(zk_server, zk_namespace, nosasl_pair):
    (a, b), regs = nosasl_pair
    a.kill()
    b.kill()
    with pytest.raises(AllServersFailed) as err:
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest")
    assert [address for address, _ in err.value.tried] == [a.address, b.address]
    assert "Could not open client transport for any of the Server URI's in ZooKeeper" in str(err.value)
    assert isinstance(err.value.__cause__, TTransportException) and err.value.sqlstate == "08S01"
    for reg in regs:
        reg.deregister()
    discovery = next(iter(dbapi._discoveries.values()))  # noqa: SLF001
    service = hive_ha.Service.of("hs2", zk_namespace)
    wait_until(lambda: not discovery.snapshot(service).endpoints, timeout=10, message="registrations gone")
    with pytest.raises(NoEndpointAvailable, match="nothing registered"):
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace)


def test_retries_rounds_and_recovery_while_all_are_excluded(zk_server, zk_namespace, nosasl_pair):
    (a, b), _ = nosasl_pair
    a.refuse()
    b.refuse()
    kw = dict(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest")
    with pytest.raises(AllServersFailed) as err:
        hive_ha.connect(retries=2, **kw)
    assert [address for address, _ in err.value.tried] == [a.address, b.address] * 2
    b.resume()  # both are still excluded in the cache; a new connect tries the registered servers again
    assert ask(hive_ha.connect(**kw)) == "hs2-b"


def test_ldap_users_and_published_auth(zk_server, zk_namespace, registrar, hs2_server_factory):
    server = hs2_server_factory("hs2-ldap", auth="LDAP", users={"alice": "pw-alice"})
    registrar.register(server.host, server.port, namespace=zk_namespace, authentication="LDAP")
    kw = dict(zookeeper=ZkSettings(zk_server.hosts, connect_timeout=10), namespace=zk_namespace)
    assert ask(hive_ha.connect(username="alice", password="pw-alice", **kw), "select current_user()") == "alice"
    with pytest.raises(ConfigError, match="password"):
        hive_ha.connect(username="alice", **kw)
    with pytest.raises(TTransportException) as err:  # refused credentials: the server answered "no", at once
        hive_ha.connect(username="alice", password="wrong-secret", **kw)
    assert str(err.value).startswith("Bad status: 3") and "wrong-secret" not in str(err.value)
    discovery = next(iter(dbapi._discoveries.values()))  # noqa: SLF001
    assert discovery.cache.failovers() == [] and {s["state"] for s in discovery.cache.status()[0]["servers"]} == {"up"}


def test_http_transport_published_and_custom_path(zk_server, zk_namespace, registrar, hs2_server_factory):
    plain = hs2_server_factory("hs2-http", auth="NONE", transport="http")
    gateway = hs2_server_factory("hs2-gw", auth="NONE", transport="http", http_path="gateway/hive",
                                 users={"bob": "pw"})
    registrar.register(plain.host, plain.port, namespace=zk_namespace, transport_mode="http")
    ns2 = zk_namespace + "_gw"
    registrar.register(gateway.host, gateway.port, namespace=ns2, transport_mode="http", http_path="gateway/hive",
                       authentication="LDAP")
    assert ask(hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace)) == "hs2-http"
    conn = hive_ha.connect(zookeeper=zk_server.hosts, namespace=ns2, username="bob", password="pw")
    assert ask(conn, "select current_user()") == "bob"


def test_unknown_database_is_not_failed_over(zk_server, zk_namespace, nosasl_pair):
    (a, b), _ = nosasl_pair
    with pytest.raises(Exception, match="Database does not exist"):
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest", database="nosuchdb")
    assert b.call_count("OpenSession") == 0


def test_jdbc_url_zookeeper_ha(zk_server, zk_namespace, registrar, hs2_server_factory):
    a, b = (hs2_server_factory(f"hs2i-{n}", auth="NONE") for n in "ab")
    reg_a = registrar.register(a.host, a.port, layout="hsi-ha", namespace=zk_namespace, active=True)
    reg_b = registrar.register(b.host, b.port, layout="hsi-ha", namespace=zk_namespace, active=False)
    url = (f"jdbc:hive2://{zk_server.hosts}/default;serviceDiscoveryMode=zooKeeperHA;"
           f"zooKeeperNamespace={zk_namespace.lstrip('/')}")
    assert ask(hive_ha.connect(url)) == "hs2i-a"
    registrar.make_active(reg_b)
    wait_until(lambda: ask(hive_ha.connect(url)) == "hs2i-b", timeout=10, message="connect follows the new leader")
    assert reg_a.active is False


def test_impyla_missing_is_a_config_error(monkeypatch, zk_server, zk_namespace):
    monkeypatch.setitem(sys.modules, "impala", None)  # as if impyla were not installed
    with pytest.raises(ConfigError, match="impala.dbapi cannot be imported"):
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, driver="impyla")


def in_thread(fn, timeout):
    """``fn()`` on a daemon thread: (returned, value or exception); returned is False if it still runs."""
    out = []

    def run():
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    return (not thread.is_alive()), (out[0] if out else None)


def test_a_sigstopped_server_is_late_not_dead_and_work_goes_elsewhere(zk_server, zk_namespace, registrar,
                                                                      hs2_process_factory):
    """A paused server's kernel still accepts TCP: only a real Thrift round trip (the prober's probe) tells it is not
    answering. New connections go to the other server meanwhile; when it answers again, work comes back."""
    from hive_ha.core.health import State

    a, b = (hs2_process_factory(f"hs2-{n}", auth="NOSASL") for n in "ab")
    for proc in (a, b):
        registrar.register(proc.host, proc.port, namespace=zk_namespace, authentication="NOSASL")
    kw = dict(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest", connect_timeout=1,
              socket_timeout=1)
    assert ask(hive_ha.connect(**kw)) == "hs2-a"
    open_before = hive_ha.connect(**kw)
    discovery = next(iter(dbapi._discoveries.values()))  # noqa: SLF001
    service = discovery.cache.snapshot(next(iter(discovery._watchers))).service  # noqa: SLF001
    health_of_a = lambda: discovery.cache.serving(service, a.address)[1].state  # noqa: E731
    os.kill(a.pid, signal.SIGSTOP)  # hung: the kernel still accepts TCP connections, nothing answers
    try:
        returned, answer = in_thread(lambda: ask(hive_ha.connect(**kw)), timeout=30)
        assert returned, "connect blocked on a hung server"
        assert answer == "hs2-b"
        # The prober's Thrift probe gets no answer either (a TCP connect would): suspect, not dead.
        wait_until(lambda: health_of_a() is State.SUSPECT, 15, message="the prober did not find hs2-a silent")
        assert discovery.cache.failovers() == []
        for _ in range(3):  # the prober's Thrift probes get no answer either: it stays suspect, work stays away
            assert ask(hive_ha.connect(**kw)) == "hs2-b"
        assert health_of_a() is State.SUSPECT
        returned, error = in_thread(lambda: ask(open_before), timeout=30)  # a call on an open connection
        assert returned and isinstance(error, TTransportException), error
    finally:
        os.kill(a.pid, signal.SIGCONT)
    wait_until(lambda: health_of_a() is State.UP, 15, message="the prober never saw hs2-a answer again")
    assert ask(hive_ha.connect(**kw)) == "hs2-a"


def test_timeouts_are_validated_and_read_from_the_url():
    options = dbapi.connect_options("hive2://zk1:2181/db;serviceDiscoveryMode=zooKeeper;connectTimeout=2500;"
                                    "socketTimeout=60000")
    assert (options.connect_timeout, options.socket_timeout) == (2.5, 60.0)
    assert (opts().connect_timeout, opts().socket_timeout) == (10.0, 120.0)  # the documented defaults
    for bad in (0, -1, "soon", True):
        with pytest.raises(ConfigError, match="connect_timeout"):
            opts(connect_timeout=bad)


def test_servers_with_an_authentication_this_client_cannot_use_are_skipped(zk_server, zk_namespace, registrar,
                                                                           hs2_server_factory):
    good = hs2_server_factory("hs2-good", auth="NOSASL")
    registrar.register("127.0.0.1", 1, namespace=zk_namespace, authentication="SAML")  # oldest: chosen first
    registrar.register("127.0.0.1", 2, namespace=zk_namespace, authentication="FOO")
    registrar.register(good.host, good.port, namespace=zk_namespace, authentication="NOSASL")
    for policy in ("oldest", "random", "random", "random", "random", "random", "random"):
        dbapi.close_discoveries()  # a new process-wide choice each round (random: any of the three)
        assert ask(hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, policy=policy)) == "hs2-good"
        discovery = next(iter(dbapi._discoveries.values()))  # noqa: SLF001
        assert discovery.cache.failovers() == []  # skipped, not reported: other clients may use them


def test_only_unusable_servers_left_names_each_reason(zk_server, zk_namespace, registrar):
    registrar.register("127.0.0.1", 1, namespace=zk_namespace, authentication="SAML")
    registrar.register("127.0.0.1", 2, namespace=zk_namespace, authentication="FOO")
    with pytest.raises(UnusableEndpoint) as err:
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace)
    text = str(err.value)
    assert "127.0.0.1:1" in text and "'SAML'" in text and "127.0.0.1:2" in text and "'FOO'" in text
    assert isinstance(err.value, ConfigError) and err.value.key == "hive.server2.authentication"


def test_module_locks_held_by_another_thread_at_fork_are_free_in_the_child():
    """A gunicorn worker forked while a thread of the master was inside ``hive_ha.connect`` (its registry lock) or a
    Kerberos login (the renewer table's lock): the child must not inherit those locks held for good."""
    from hive_ha.io import kerberos

    inside, release = threading.Event(), threading.Event()

    def holder():
        with dbapi._lock, kerberos._renewers_lock:  # noqa: SLF001
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert inside.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: both registries must be usable
        try:
            dbapi.close_discoveries()
            kerberos.stop_logins()
        finally:
            os._exit(0)
    release.set()
    thread.join(5)
    returned, _ = in_thread(lambda: os.waitpid(pid, 0), timeout=10)
    if not returned:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert returned, "the child blocked on a lock the parent's thread held at fork time"


def test_dead_and_unusable_servers_are_both_named(zk_server, zk_namespace, registrar, hs2_server_factory):
    dead = hs2_server_factory("hs2-dead", auth="NOSASL")
    registrar.register("127.0.0.1", 1, namespace=zk_namespace, authentication="SAML")
    registrar.register(dead.host, dead.port, namespace=zk_namespace, authentication="NOSASL")
    dead.kill()
    with pytest.raises(AllServersFailed) as err:
        hive_ha.connect(zookeeper=zk_server.hosts, namespace=zk_namespace, policy="oldest")
    tried = dict(err.value.tried)
    assert tried["127.0.0.1:1"].startswith("skipped: ") and "'SAML'" in tried["127.0.0.1:1"]
    assert "Could not connect" in tried[dead.address] and len(err.value.tried) == 2
