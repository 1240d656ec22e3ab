"""Discovery against a real ZooKeeper: watches, failover, security, outages, every Hive layout."""
import logging
import multiprocessing
import threading

import pytest

from hive_ha.core.health import Evidence
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from hive_ha import Discovery, NoEndpointAvailable, RegistryUnavailable, Service, ZkSettings
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import expire_session
from hive_ha.io.zookeeper import ClientPool


@pytest.fixture
def pool():
    p = ClientPool()
    yield p
    p.close_all()


@pytest.fixture
def make_discovery(pool):
    made = []

    def make(hosts, **kw):
        settings = {k: kw.pop(k) for k in list(kw) if k in ZkSettings.__dataclass_fields__}
        settings.setdefault("connect_timeout", 10)
        settings.setdefault("session_timeout", 4)
        d = Discovery(ZkSettings(hosts=hosts, **settings), pool=pool, debounce=kw.pop("debounce", 0.02), **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def addresses(snapshot):
    return sorted(e.address for e in snapshot.endpoints)


def wait_members(discovery, service, expected, timeout=10):
    return wait_until(lambda: addresses(discovery.snapshot(service)) == sorted(expected), timeout=timeout,
                      message=lambda: f"members {addresses(discovery.snapshot(service))} != {sorted(expected)}")


def test_picks_up_the_zookeeper_list_and_follows_it(zk_server, zk_namespace, registrar, make_discovery):
    servers = [registrar.register("127.0.0.1", 10000 + i, namespace=zk_namespace) for i in range(3)]
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000  # oldest, like Hue
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001", "127.0.0.1:10002"])
    registrar.register("127.0.0.1", 10003, namespace=zk_namespace)
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003"])
    servers[0].deregister()  # clean stop: znode gone at once
    wait_members(d, service, ["127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003"])
    assert d.endpoint(service).port == 10001


def test_both_data_forms_and_published_settings(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace, data_form="legacy")
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace, transport_mode="http", http_port=10011,
                       http_path="cliservice", authentication="KERBEROS", principal="hive/_HOST@EXAMPLE.TEST")
    d = make_discovery(zk_server.hosts)
    snap = wait_until(lambda: (s := d.snapshot(Service.of("hs2", zk_namespace))) and len(s.endpoints) == 2 and s)
    legacy, http = snap.endpoints
    assert (legacy.port, legacy.transport_mode) == (10000, "binary")
    assert (http.port, http.transport_mode, http.principal) == (10011, "http", "hive/127.0.0.1@EXAMPLE.TEST")


def test_malformed_znodes_skipped_with_one_warning(zk_server, zk_namespace, registrar, make_discovery, caplog):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    bad = registrar.register_raw(f"{zk_namespace}/serverUri=evil host:1;version=1;sequence=", b"", sequence=True)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    with caplog.at_level(logging.WARNING, logger="hive_ha"):
        assert d.endpoint(service).port == 10000
        registrar.register("127.0.0.1", 10001, namespace=zk_namespace)  # another change: no second warning
        wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001"])
    warnings = [r.getMessage() for r in caplog.records if "evil host" in r.getMessage()]
    assert len(warnings) == 1 and bad in warnings[0]
    assert d.snapshot(service).malformed[0][0] == bad


HIDDEN_ACL = [make_digest_acl("hive", "hivepw", all=True)]  # only "hive" may read it; the watchers are anonymous


def test_an_unreadable_child_is_skipped_with_one_warning_and_the_service_still_follows(
        zk_server, zk_namespace, registrar, make_discovery, caplog):
    """One znode whose ACL denies reads must not freeze the service: it is reported like a malformed one (once), and
    a server that dies afterwards is still removed."""
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    dying = registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001"])
    with caplog.at_level(logging.WARNING, logger="hive_ha"):
        hidden = registrar.register_raw(f"{zk_namespace}/serverUri=127.0.0.1:10002;version=1;sequence=", b"",
                                        acl=HIDDEN_ACL)
        wait_until(lambda: d.snapshot(service).malformed, 10, message="the unreadable znode was not reported")
        dying.crash()  # killed: its znode goes when its session expires
        wait_members(d, service, ["127.0.0.1:10000"], timeout=20)
        registrar.register("127.0.0.1", 10003, namespace=zk_namespace)  # more passes: still one warning
        wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10003"])
    snapshot = d.snapshot(service)
    assert not snapshot.stale
    assert [(znode, "not authorised" in why) for znode, why in snapshot.malformed] == [(hidden, True)]
    status = next(s for s in d.status()["services"] if s["path"] == zk_namespace)
    assert [m["znode"] for m in status["malformed"]] == [hidden]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("hive_ha")]
    assert len(warnings) == 1 and hidden in warnings[0] and "not authorised" in warnings[0], warnings


def test_an_unreadable_child_is_read_again_once_its_acl_allows_it(zk_server, zk_namespace, registrar, zk_client):
    """An ACL change fires no watch: the watcher tries an unreadable child again every ``unreadable_recheck`` s."""
    from hive_ha.core.cache import EndpointCache
    from hive_ha.io.watcher import RegistryWatcher

    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    hidden = registrar.register_raw(f"{zk_namespace}/serverUri=127.0.0.1:10002;version=1;sequence=", b"",
                                    acl=HIDDEN_ACL)
    service = Service.of("hs2", zk_namespace)
    cache = EndpointCache()
    w = RegistryWatcher(zk_client, service, zk_server.hosts, cache.update, lambda stale: None, debounce=0,
                        unreadable_recheck=0.2).start()
    try:
        wait_until(lambda: (s := cache.snapshot(service)) is not None and s.malformed, 10)
        assert [e.port for e in cache.snapshot(service).endpoints] == [10000]
        admin = KazooClient(hosts=zk_server.hosts, auth_data=[("digest", "hive:hivepw")])
        admin.start()
        try:
            admin.set_acls(hidden, [make_digest_acl("hive", "hivepw", all=True),
                                    *zk_client.get_acls(zk_namespace)[0]])
        finally:
            admin.stop()
            admin.close()
        wait_until(lambda: [e.port for e in cache.snapshot(service).endpoints] == [10000, 10002], 10,
                   message=lambda: cache.snapshot(service))
        assert cache.snapshot(service).malformed == () and w.last_error is None
    finally:
        w.stop()


def test_an_unreadable_namespace_is_one_warning_until_it_is_readable_again(zk_server, zk_namespace, zk_client,
                                                                           caplog):
    """A namespace whose ACL denies reads fails every pass (retried every ``retry_delay``): one warning, not one per
    retry; once it is readable, one INFO line and the service is followed."""
    from hive_ha.core.cache import EndpointCache
    from hive_ha.io.watcher import RegistryWatcher

    admin = KazooClient(hosts=zk_server.hosts, auth_data=[("digest", "hive:hivepw")])
    admin.start()
    try:
        admin.create(zk_namespace, acl=HIDDEN_ACL, makepath=True)
        admin.create(f"{zk_namespace}/serverUri=127.0.0.1:10000;version=1;sequence=", b"", sequence=True)
        service = Service.of("hs2", zk_namespace)
        cache = EndpointCache()
        w = RegistryWatcher(zk_client, service, zk_server.hosts, cache.update, lambda stale: None, debounce=0,
                            retry_delay=0.05)
        with caplog.at_level(logging.DEBUG, logger="hive_ha.io.watcher"):
            w.start()
            try:
                retries = lambda: [r for r in caplog.records if "not authorised to read" in r.getMessage()]
                wait_until(lambda: len(retries()) >= 5, 10, message="the unreadable namespace was not retried")
                assert [r.levelno for r in retries()].count(logging.WARNING) == 1
                admin.set_acls(zk_namespace, [*HIDDEN_ACL, *zk_client.get_acls("/")[0]])
                wait_until(lambda: (s := cache.snapshot(service)) is not None and [e.port for e in s.endpoints]
                           == [10000], 10, message=lambda: cache.snapshot(service))
                assert w.last_error is None
            finally:
                w.stop()
        assert any(r.levelno == logging.INFO and "reading the registry again" in r.getMessage()
                   for r in caplog.records)
    finally:
        admin.stop()
        admin.close()


class VanishingClient:
    """A real kazoo client whose first read of a child deletes that child first (the list/read race)."""

    def __init__(self, client, victim):
        self._client, self._victim = client, victim

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get(self, path, watch=None):
        if path.endswith(self._victim) and self._victim:
            self._client.delete(path)
            self._victim = None
        return self._client.get(path, watch=watch)


def test_child_vanishing_between_list_and_read_is_normal(zk_server, zk_namespace, registrar):
    from hive_ha.core.cache import EndpointCache
    from hive_ha.io.watcher import RegistryWatcher

    keep = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    gone = registrar.register_raw(f"{zk_namespace}/serverUri=127.0.0.1:10001;version=1;sequence=", b"",
                                  ephemeral=False, sequence=True)
    client = KazooClient(hosts=zk_server.hosts)
    client.start()
    try:
        service = Service.of("hs2", zk_namespace)
        cache = EndpointCache()
        w = RegistryWatcher(VanishingClient(client, gone.rsplit("/", 1)[1]), service, zk_server.hosts,
                            cache.update, lambda stale: None, debounce=0).start()
        wait_until(lambda: cache.snapshot(service) is not None)
        assert [e.znode for e in cache.snapshot(service).endpoints] == [keep.znode]
        assert w.alive and w.last_error is None
        w.stop()
    finally:
        client.stop()
        client.close()


def test_namespace_created_later_is_picked_up(zk_server, zk_namespace, registrar, make_discovery):
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    with pytest.raises(NoEndpointAvailable, match="does not exist"):
        d.endpoint(service)
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    assert wait_until(lambda: d.snapshot(service).endpoints)[0].port == 10000


def test_single_user_failover_with_real_servers(zk_server, zk_namespace, registrar, make_discovery, hs2_server_factory):
    from pyhive import hive

    a, b = hs2_server_factory("hs2-a", auth="NOSASL"), hs2_server_factory("hs2-b", auth="NOSASL")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace, authentication="NOSASL")
    registrar.register(b.host, b.port, namespace=zk_namespace, authentication="NOSASL")
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)

    def query():
        endpoint = d.endpoint(service, "alice")
        with hive.connect(endpoint.host, endpoint.port, auth="NOSASL", username="alice") as conn:
            cur = conn.cursor()
            cur.execute("select current_server()")
            return cur.fetchall()[0][0]

    assert query() == "hs2-a"
    a.kill()
    reg_a.crash()  # its znode lingers until the session expires: the client must react on its own
    from thrift.transport.TTransport import TTransportException
    endpoint = d.endpoint(service, "alice")
    with pytest.raises(TTransportException):
        hive.connect(endpoint.host, endpoint.port, auth="NOSASL")
    assert d.report_failure(service, endpoint, "alice").port == b.port
    assert query() == "hs2-b"


def test_no_server_left_gives_the_clear_error(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    refused = Evidence.REFUSED  # nothing listens on either port
    d.report_failure(service, d.endpoint(service), evidence=refused, detail="connection refused")
    assert d.report_failure(service, d.endpoint(service), evidence=refused, detail="connection refused") is None
    with pytest.raises(NoEndpointAvailable) as info:
        d.endpoint(service)
    msg = str(info.value)
    for part in (zk_server.hosts, zk_namespace, "127.0.0.1:10000 (dead: connection refused)",
                 "127.0.0.1:10001 (dead: connection refused)"):
        assert part in msg


def test_concurrent_users_failover_exactly_one_reselection(zk_server, zk_namespace, registrar, make_discovery):
    for i in range(3):
        registrar.register("127.0.0.1", 10000 + i, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001", "127.0.0.1:10002"])
    dead = d.endpoint(service)
    barrier = threading.Barrier(128)
    seen, errors = [], []

    def user(i):
        try:
            barrier.wait()
            got = d.endpoint(service, f"user{i}")
            if got.address == dead.address:
                got = d.report_failure(service, got, f"user{i}")
            seen.append(got.address)
            seen.append(d.endpoint(service, f"user{i}").address)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(128)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors
    assert set(seen) == {"127.0.0.1:10001"}  # everybody agrees; the new choice is never overwritten
    # A broken connection makes the server suspect (a detour); the prober's probe, on its own thread, finds the port
    # refused and makes it dead: then exactly one reselection.
    wait_until(lambda: d.cache.generation(service) >= 1, message=lambda: d.cache.failovers())
    assert d.cache.generation(service) == 1 and len(d.cache.failovers()) == 1


def test_hsi_without_ha(zk_server, registrar, make_discovery):
    registrar.register("127.0.0.1", 10500, namespace="hiveserver2-hive2", layout="hs2")
    d = make_discovery(zk_server.hosts)
    assert d.endpoint(Service.of("hsi")).port == 10500


def test_hsi_ha_leader_flip_after_one_watch_event(zk_server, zk_namespace, registrar, make_discovery):
    a = registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=True)
    b = registrar.register("127.0.0.1", 10501, layout="hsi-ha", namespace=zk_namespace, active=False)
    d = make_discovery(zk_server.hosts, debounce=0)
    service = Service.of("hsi-ha", zk_namespace)
    assert d.endpoint(service).port == 10500
    published = d._watchers[service].published
    registrar.make_active(b)
    wait_until(lambda: d.endpoint(service).port == 10501, timeout=5)
    # The flip rewrites two znodes; one debounced re-read per data event at most.
    assert d._watchers[service].published - published <= 2
    assert not d.snapshot(service).candidates[0].active is False
    del a


def test_hsi_ha_waits_for_leader_then_clear_error(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=False)
    d = make_discovery(zk_server.hosts, leader_wait=0.3)
    with pytest.raises(NoEndpointAvailable, match="activeEndpoint"):
        d.endpoint(Service.of("hsi-ha", zk_namespace))


def test_hsi_ha_root_suffix_resolved(zk_server, registrar, make_discovery):
    registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace="hs2ActivePassiveHA-unsecure", active=True)
    d = make_discovery(zk_server.hosts)
    assert d.endpoint(Service.of("hsi-ha", "hs2ActivePassiveHA")).port == 10500


def test_zookeeper_down_serves_last_known(zk_server_factory, registrar_factory, make_discovery):
    zk_server = zk_server_factory()
    registrar_factory(zk_server.hosts).register("127.0.0.1", 10000, namespace="/hiveserver2", session_timeout=30)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2")
    assert d.endpoint(service).port == 10000
    zk_server.kill()
    try:
        wait_until(lambda: d.snapshot(service).stale, timeout=10)
        assert d.endpoint(service).port == 10000
        assert d.cache.status()[0]["stale"] is True
    finally:
        zk_server.restart()
    wait_until(lambda: not d.snapshot(service).stale, timeout=15)


def test_unreachable_and_nothing_known(make_discovery):
    from hive_ha.sandbox.zookeeper import free_port
    d = make_discovery(f"127.0.0.1:{free_port()}", connect_timeout=0.5)
    waits = []
    lookup = d.cache.get
    d.cache.get = lambda *args, **kwargs: ("wait" in kwargs and waits.append(kwargs["wait"])) or lookup(*args, **kwargs)
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        d.endpoint(Service.of("hs2"))
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        d.endpoint(Service.of("hs2"))
    assert len(waits) == 2 and waits[0] > 0 and waits[1] == 0  # the first caller waited; later ones fail fast


def recorded_waits(cache, method):
    """Wrap ``cache.<method>`` (a real EndpointCache) to record the ``wait``/``timeout`` each call was given."""
    waits, real = [], getattr(cache, method)

    def recording(service, *args, **kwargs):
        waits.append(kwargs.get("wait", args[0] if args else None) if method == "get" else args[0])
        return real(service, *args, **kwargs)

    setattr(cache, method, recording)
    return waits


def test_snapshot_of_a_stopped_zookeeper_fails_fast_once_the_budget_is_spent_and_recovers(
        zk_server_factory, registrar_factory, make_discovery):
    server = zk_server_factory(name="zk-stopped")
    server.terminate()  # its port refuses connections until it starts again
    d = make_discovery(server.hosts, connect_timeout=0.5)
    service = Service.of("hs2")
    waits = recorded_waits(d.cache, "wait_snapshot")
    errors = []
    for _ in range(3):
        with pytest.raises(RegistryUnavailable, match="unreachable") as caught:
            d.snapshot(service)
        errors.append(str(caught.value))
    assert waits[0] > 0 and waits[1:] == [0, 0]  # the first caller waited; later ones were given no wait at all
    assert len(set(errors)) == 1  # the same clear error each time
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        d.snapshot(service, timeout=0.2)
    assert waits[-1] == 0.2  # a caller's own timeout is honoured
    server.start()
    registrar_factory(server.hosts).register("127.0.0.1", 10000)

    def recovered():
        try:
            return addresses(d.snapshot(service)) == ["127.0.0.1:10000"]
        except RegistryUnavailable:
            return False

    wait_until(recovered, 30, message="no reading after ZooKeeper came back")
    assert d.endpoint(service).port == 10000


def test_session_expiry_rearms_watches(zk_server, zk_namespace, registrar, make_discovery, pool):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    expire_session(pool.get(d.settings))
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001"], timeout=15)
    registrar.register("127.0.0.1", 10002, namespace=zk_namespace)  # and the re-armed watch keeps firing
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001", "127.0.0.1:10002"])


@pytest.mark.slow
def test_ensemble_leader_killed_discovery_goes_on(zk_ensemble, registrar_factory, make_discovery):
    registrar = registrar_factory(zk_ensemble.hosts)
    registrar.register("127.0.0.1", 10000, namespace="/hiveserver2", session_timeout=10)
    d = make_discovery(zk_ensemble.hosts, session_timeout=10)
    service = Service.of("hs2")
    assert d.endpoint(service).port == 10000
    zk_ensemble.kill(zk_ensemble.leader())
    zk_ensemble.wait_for_leader()
    registrar.register("127.0.0.1", 10001, namespace="/hiveserver2", session_timeout=10)
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001"], timeout=20)


def test_digest_acl(zk_server, zk_namespace, make_discovery):
    admin = KazooClient(hosts=zk_server.hosts, auth_data=[("digest", "hive:hivepw")])
    admin.start()
    try:
        acl = [make_digest_acl("hive", "hivepw", all=True), make_digest_acl("hue", "huepw", read=True)]
        admin.create(zk_namespace, acl=acl)
        admin.create(f"{zk_namespace}/serverUri=127.0.0.1:10000;version=1;sequence=", b"", acl=acl,
                     ephemeral=True, sequence=True)
        d = make_discovery(zk_server.hosts, auth_scheme="digest", digest_user="hue", digest_password="huepw")
        assert d.endpoint(Service.of("hs2", zk_namespace)).port == 10000
        anonymous = make_discovery(zk_server.hosts, connect_timeout=1.5)
        with pytest.raises(RegistryUnavailable, match="not authorised"):
            anonymous.endpoint(Service.of("hs2", zk_namespace))
    finally:
        admin.stop()
        admin.close()


def test_sasl_digest_md5(zk_sasl_server, make_discovery, registrar_factory):
    user, password = next(iter(zk_sasl_server.sasl_users.items()))
    sasl = {"sasl_options": {"mechanism": "DIGEST-MD5", "username": user, "password": password}}
    registrar_factory(zk_sasl_server.hosts, **sasl).register("127.0.0.1", 10000, namespace="/hiveserver2")
    d = make_discovery(zk_sasl_server.hosts, auth_scheme="sasl", sasl_mechanism="DIGEST-MD5",
                       sasl_username=user, sasl_password=password)
    assert d.endpoint(Service.of("hs2")).port == 10000
    assert password not in repr(d.settings)


def test_tls(zk_tls_server, make_discovery, registrar_factory):
    registrar_factory(zk_tls_server.hosts).register("127.0.0.1", 10000, namespace="/hiveserver2")
    d = make_discovery(zk_tls_server.secure_hosts, use_ssl=True, ssl_ca=zk_tls_server.ca_file)
    assert d.endpoint(Service.of("hs2")).port == 10000


def test_chroot(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10000, namespace=f"{zk_namespace}/hiveserver2")
    d = make_discovery(f"{zk_server.hosts}{zk_namespace}")
    assert d.endpoint(Service.of("hs2")).port == 10000


def _child_lookup(discovery, service, queue):
    import os
    endpoint = discovery.endpoint(service)
    client = discovery._pool.get(discovery.settings)
    wait_until(lambda: client.connected, timeout=10)
    queue.put((os.getpid(), endpoint.address, id(client), client.connected))


def test_fork_gets_its_own_client_and_parent_keeps_working(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    parent_client = d._pool.get(d.settings)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_lookup, args=(d, service, queue))
    proc.start()
    pid, address, client_id, connected = queue.get(timeout=20)
    proc.join(10)
    assert proc.exitcode == 0 and address == "127.0.0.1:10000" and connected
    assert client_id != id(parent_client)
    # The parent's session survived the child (nobody closed it over the shared socket).
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    wait_members(d, service, ["127.0.0.1:10000", "127.0.0.1:10001"])
    assert parent_client.connected


def _child_follows_the_registry(discovery, service, go, queue):
    """In a forked child: wait for the parent to change the registry, then see what this process knows of it, with no
    lookup made here first."""
    go.wait(20)
    try:
        wait_until(lambda: addresses(discovery.cache.snapshot(service)) == ["127.0.0.1:10001"], timeout=10)
        queue.put(("read", discovery.endpoint(service).address, discovery.cache.snapshot(service).stale))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("failed", repr(exc), addresses(discovery.cache.snapshot(service))))


def test_a_forked_child_reads_the_registry_itself_before_its_first_lookup(zk_server, zk_namespace, registrar,
                                                                          make_discovery):
    """A gunicorn worker is forked at start-up and may serve its first call much later: the registry it uses then is
    its own reading, not the parent's at fork time (a server that left since, chosen; a server that came since,
    unknown to a running query's calls)."""
    first = registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    ctx = multiprocessing.get_context("fork")
    go, queue = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_child_follows_the_registry, args=(d, service, go, queue))
    proc.start()
    try:
        registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
        first.deregister()  # a rolling restart: it leaves ZooKeeper
        go.set()
        assert queue.get(timeout=30) == ("read", "127.0.0.1:10001", False)
    finally:
        proc.join(10)
        if proc.exitcode is None:
            proc.kill()
    assert proc.exitcode == 0


def test_bursts_are_debounced(zk_server, zk_namespace, registrar, make_discovery):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts, debounce=0.3)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    before = d._watchers[service].published
    for i in range(1, 21):  # a rolling restart's worth of registrations in one burst
        registrar.register_raw(f"{zk_namespace}/serverUri=127.0.0.1:{10000 + i};version=1;sequence=", b"")
    wait_until(lambda: len(d.snapshot(service).endpoints) == 21, timeout=10)
    assert d._watchers[service].published - before <= 3


def test_namespace_deleted_and_recreated_is_followed(zk_server, zk_namespace, registrar, make_discovery, zk_client):
    """``deleteall`` of the namespace (a common clean-up of stale registrations), then a new server registers."""
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    d = make_discovery(zk_server.hosts)
    service = Service.of("hs2", zk_namespace)
    assert d.endpoint(service).port == 10000
    zk_client.delete(zk_namespace, recursive=True)
    wait_until(lambda: not d.snapshot(service).exists, timeout=10, message="the deletion was not seen")
    registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    wait_until(lambda: addresses(d.snapshot(service)) == ["127.0.0.1:10001"], timeout=10,
               message=lambda: f"blind watcher: {d.snapshot(service)}")
    assert d.endpoint(service).port == 10001 and not d.snapshot(service).stale
