"""Kerberos end to end: a real MIT KDC, ZooKeeper requiring SASL GSSAPI, HiveServer2-protocol servers accepting
GSSAPI, and hive-ha's discovery, auth-failure diagnosis and principal handling on top (docs/kerberos.md)."""
import dataclasses
import os
import shutil
import threading

import pytest
from kazoo.exceptions import NoAuthError

import hive_ha
from hive_ha.io import kerberos
from hive_ha.core.config import load_config
from hive_ha.core.discovery import Discovery
from hive_ha.errors import ConfigError, KerberosLoginFailed, ZooKeeperAuthFailed
from hive_ha.model.layouts import Service
from hive_ha.testing.waiting import wait_until
from hive_ha.io.zookeeper import ClientPool, ZkSettings

pytest.importorskip("kerberos", reason="pip install 'hive-ha[kerberos]'")


def gssapi_settings(hosts, principal=None, **kw):
    return ZkSettings(hosts=hosts, auth_scheme="sasl", sasl_mechanism="GSSAPI", sasl_principal=principal,
                      connect_timeout=kw.pop("connect_timeout", 20.0), session_timeout=10.0, **kw)


@pytest.fixture
def pool():
    pool = ClientPool()
    yield pool
    pool.close_all()


def register(registrar, namespace, port, **kw):
    kw.setdefault("authentication", "KERBEROS")
    kw.setdefault("principal", "hive/_HOST@EXAMPLE.TEST")
    return registrar.register("localhost", port, namespace=namespace.strip("/"), **kw)


# -- discovery over a Kerberized ZooKeeper -----------------------------------------------------------------------
def test_discovery_reads_secure_registrations_and_others_cannot_write(krb_rig, krb_zk_hosts, krb_registrar,
                                                                       zk_namespace, pool):
    server = register(krb_registrar, zk_namespace, 10000)
    hue = krb_rig.principal("hue")
    discovery = Discovery(gssapi_settings(krb_zk_hosts, hue), pool=pool)
    try:
        endpoint = discovery.endpoint(Service.of("hs2", zk_namespace))
        assert (endpoint.host, endpoint.port) == ("localhost", 10000)
        assert endpoint.authentication == "KERBEROS"
        assert endpoint.principal == "hive/localhost@EXAMPLE.TEST"  # _HOST resolved for this endpoint
        client = pool.get(discovery.settings)
        acls, _ = client.get_acls(server.znode)
        assert {(a.id.scheme, a.id.id) for a in acls} == {("world", "anyone"), ("sasl", krb_rig.hive_principal)}
        with pytest.raises(NoAuthError):  # Hive's secure ACL: only the server identity writes
            client.set(server.znode, b"hijacked")
        with pytest.raises(NoAuthError):
            client.delete(server.znode)
        server.deregister()
        wait_until(lambda: not discovery.snapshot(Service.of("hs2", zk_namespace)).endpoints, timeout=20,
                   message="deregistration not seen over the Kerberized session")
    finally:
        discovery.close()


def auth_failure(settings, namespace, pool):
    """The text of the ZooKeeperAuthFailed a first lookup raises."""
    discovery = Discovery(settings, pool=pool)
    try:
        with pytest.raises(ZooKeeperAuthFailed) as info:
            discovery.endpoint(Service.of("hs2", namespace))
    finally:
        discovery.close()
    return str(info.value)


def test_no_ticket_is_one_clear_error(krb_rig, krb_zk_hosts, krb_identity, zk_namespace, pool):
    os.environ["KRB5CCNAME"] = "MEMORY:empty"  # no keytab, no ticket
    text = auth_failure(gssapi_settings(krb_zk_hosts), zk_namespace, pool)
    assert krb_zk_hosts in text and "'zookeeper'" in text
    assert "No Kerberos credentials available" in text and "kinit" in text and "kerberos_keytab" in text


# kazoo's connection thread dies of pykerberos' error: that is the failure under test, so its warning is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_wrong_client_principal_does_not_leave_a_dead_client(krb_rig, krb_zk_hosts, krb_identity, zk_namespace,
                                                             krb_registrar, pool):
    register(krb_registrar, zk_namespace, 10001)
    krb_identity("hue")
    settings = gssapi_settings(krb_zk_hosts, krb_rig.principal("alice"))  # the ticket cache only has hue
    discovery = Discovery(settings, pool=pool)
    try:
        with pytest.raises(ZooKeeperAuthFailed) as info:
            discovery.endpoint(Service.of("hs2", zk_namespace))
        assert "alice@EXAMPLE.TEST" in str(info.value)
        assert "no ticket for alice@EXAMPLE.TEST" in str(info.value)
        # A later lookup reports the same error at once instead of waiting on a dead connection thread ...
        with pytest.raises(ZooKeeperAuthFailed):
            discovery.endpoint(Service.of("hs2", zk_namespace))
        # ... and once alice's keys are there the restarted client logs in and the watcher works.
        krb_identity("hue", "alice")
        wait_until(lambda: _found(discovery, zk_namespace), timeout=60, message="client never recovered")
    finally:
        discovery.close()


def _found(discovery, namespace):
    try:
        return discovery.endpoint(Service.of("hs2", namespace)).port == 10001
    except ZooKeeperAuthFailed:
        return False


def test_ip_address_connect_string_explains_canonicalisation(krb_rig, krb_zk, krb_identity, zk_namespace, pool):
    krb_identity("hue")
    text = auth_failure(gssapi_settings(krb_zk.hosts, krb_rig.principal("hue")), zk_namespace, pool)  # 127.0.0.1
    assert "zookeeper/127.0.0.1" in text and "not found in Kerberos database" in text
    assert "'localhost' rather than '127.0.0.1'" in text


def test_keytab_login_from_config_and_bad_keytab(krb_rig, krb_zk_hosts, krb_registrar, zk_namespace, tmp_path, pool):
    register(krb_registrar, zk_namespace, 10002)
    os.environ["KRB5CCNAME"] = "MEMORY:nothing-here"
    os.environ.pop("KRB5_CLIENT_KTNAME")
    ccache = tmp_path / "hue.ccache"
    ini = tmp_path / "hue.ini"
    ini.write_text("[libzookeeper]\n  ensemble=%s\n  principal_name=zookeeper\n[hive_ha]\n  zookeeper_auth=sasl\n"
                   "  zookeeper_sasl_mechanism=gssapi\n  zookeeper_sasl_principal=hue@EXAMPLE.TEST\n"
                   "  kerberos_keytab=%s\n  kerberos_ccache=%s\n" % (krb_zk_hosts, krb_rig.keytab("hue"), ccache))
    settings = load_config(str(ini)).zookeeper
    assert (settings.sasl_service, settings.kerberos_keytab) == ("zookeeper", krb_rig.keytab("hue"))
    discovery = Discovery(settings, pool=pool)
    try:
        assert discovery.endpoint(Service.of("hs2", zk_namespace)).port == 10002
        # The ticket is in hive-ha's cache and used by its ZooKeeper client's threads; the process's stays as it was.
        assert os.environ["KRB5CCNAME"] == "MEMORY:nothing-here"
        assert kerberos.read_cache(str(ccache)).principal == "hue@EXAMPLE.TEST"
    finally:
        discovery.close()
    bad = dataclasses.replace(settings, sasl_principal="alice@EXAMPLE.TEST")  # not in hue's keytab
    with pytest.raises(ZooKeeperAuthFailed) as info:
        pool.get(bad)
    assert "alice@EXAMPLE.TEST" in str(info.value) and krb_rig.keytab("hue") in str(info.value)
    assert "klist -k" in str(info.value)


def test_settings_validation(tmp_path):
    with pytest.raises(ConfigError, match="zookeeper_sasl_principal"):
        ZkSettings(auth_scheme="sasl", sasl_mechanism="GSSAPI", kerberos_keytab="/etc/hostname")
    with pytest.raises(ConfigError, match="kerberos_keytab"):
        ZkSettings(kerberos_keytab="/etc/hostname", sasl_principal="hue")
    with pytest.raises(ConfigError, match="kerberos_keytab"):
        ZkSettings(auth_scheme="sasl", sasl_mechanism="GSSAPI", sasl_principal="hue",
                   kerberos_keytab=str(tmp_path / "missing.keytab"))
    with pytest.raises(ConfigError, match=r"\[hive_ha\] kerberos_keytab"):
        load_config({"hive_ha": {"kerberos_keytab": str(tmp_path / "missing.keytab")}})
    # An empty zookeeper_kerberos_service keeps [libzookeeper] principal_name.
    cfg = load_config({"libzookeeper": {"principal_name": "zk"}, "hive_ha": {"zookeeper_kerberos_service": ""}})
    assert cfg.zookeeper.sasl_service == "zk"
    cfg = load_config({"libzookeeper": {"principal_name": "zk"}, "hive_ha": {"zookeeper_kerberos_service": "zoo"}})
    assert cfg.zookeeper.sasl_service == "zoo"


def test_whose_ticket_in_a_kerberized_hue(tmp_path):
    """docs/kerberos.md "Whose ticket": Hue's cache and principal unless [hive_ha] names a ticket of its own; never
    a keytab login writing Hue's cache."""
    keytab = tmp_path / "hive-ha.keytab"
    keytab.write_bytes(b"\x05\x02")
    hue_ini = {"desktop": {"kerberos": {"hue_keytab": "/etc/hue/hue.keytab", "hue_principal": "hue/h1@R",
                                        "ccache_path": "/var/run/hue/cc"}},
               "libzookeeper": {"ensemble": "zk1:2181"},
               "hive_ha": {"zookeeper_auth": "sasl", "zookeeper_sasl_mechanism": "GSSAPI"}}
    ini = tmp_path / "hue.ini"
    ini.write_text("[desktop]\n  [[kerberos]]\n    hue_keytab=/etc/hue/hue.keytab\n    hue_principal=hue/h1@R\n"
                   "    ccache_path=/var/run/hue/cc\n[libzookeeper]\n  ensemble=zk1:2181\n[hive_ha]\n"
                   "  zookeeper_auth=sasl\n  zookeeper_sasl_mechanism=GSSAPI\n")
    config = load_config(str(ini))
    assert config.hue_kerberos == kerberos.HueKerberos("hue/h1@R", "/var/run/hue/cc")
    zk = config.zookeeper
    assert (zk.sasl_principal, zk.kerberos_keytab, zk.ticket_cache) == ("hue/h1@R", None, "FILE:/var/run/hue/cc")

    def with_keys(**keys):
        return load_config([hue_ini, {"hive_ha": keys}]).zookeeper

    assert with_keys(zookeeper_sasl_principal="other@R").sasl_principal == "other@R"
    assert with_keys(kerberos_ccache="/tmp/x").ticket_cache == "FILE:/tmp/x"
    own = with_keys(kerberos_keytab=str(keytab), zookeeper_sasl_principal="hive-ha@R")  # its own login, own cache
    assert own.ticket_cache.startswith("FILE:" + kerberos.private_cache_dir())
    with pytest.raises(ConfigError, match=r"\[hive_ha\] kerberos_ccache.*hue kt_renewer writes that one"):
        with_keys(kerberos_keytab=str(keytab), zookeeper_sasl_principal="hive-ha@R", kerberos_ccache="/var/run/hue/cc")
    # Hue not Kerberized (no hue_keytab), or no GSSAPI toward ZooKeeper: nothing of Hue's is used.
    plain = load_config([dict(hue_ini, desktop={"kerberos": {"ccache_path": "/var/run/hue/cc"}})])
    assert plain.hue_kerberos is None and plain.zookeeper.ticket_cache is None
    assert load_config([dict(hue_ini, hive_ha={})]).zookeeper.ticket_cache is None
    assert kerberos.HueKerberos.from_keys({"hue_keytab": "/k"}).ccache == "/var/run/hue/hue_krb5_ccache"


def test_kinit_failure_names_principal_and_keytab(krb_rig, tmp_path):
    login = kerberos.KerberosLogin("nobody@EXAMPLE.TEST", krb_rig.keytab("hue"), str(tmp_path / "cc"))
    with pytest.raises(KerberosLoginFailed) as info:
        kerberos.kinit(login)
    assert "nobody@EXAMPLE.TEST" in str(info.value) and krb_rig.keytab("hue") in str(info.value)


# -- HiveServer2 over GSSAPI ---------------------------------------------------------------------------------------
def test_connect_kerberos_with_failover_to_the_new_servers_principal(krb_rig, krb_zk_hosts, krb_registrar,
                                                                    krb_hs2_factory, zk_namespace):
    a = krb_hs2_factory("hs2-a", process=True)
    b = krb_hs2_factory("hs2-b", process=True)
    reg_a = register(krb_registrar, zk_namespace, a.port)
    register(krb_registrar, zk_namespace, b.port)
    settings = gssapi_settings(krb_zk_hosts, krb_rig.principal("hue"))

    def query():
        conn = hive_ha.connect(zookeeper=settings, namespace=zk_namespace, auth="KERBEROS", policy="oldest")
        try:
            cursor = conn.cursor()
            cursor.execute("select current_server(), current_user()")
            return cursor.fetchall()[0]
        finally:
            conn.close()

    server, user = query()
    assert server == "hs2-a" and user.endswith("@EXAMPLE.TEST")  # the server saw a Kerberos identity
    a.kill()  # SIGKILL; its registration lingers until its session expires
    reg_a.crash()
    assert query()[0] == "hs2-b"


def test_a_keytab_login_serves_hive_ha_and_nothing_else_in_the_process(krb_rig, krb_zk_hosts, krb_registrar,
                                                                       krb_hs2_factory, zk_namespace, tmp_path):
    """hive_ha.connect and hive-ha check log in to ZooKeeper and HiveServer2 with hive-ha's ticket; the rest of the
    process, whose own cache is empty, has none."""
    from pyhive import hive

    from hive_ha.clients.deployment_check import OK, Credentials, run_check

    server = krb_hs2_factory("hs2-k", process=True)
    register(krb_registrar, zk_namespace, server.port)
    os.environ["KRB5CCNAME"] = "MEMORY:nothing-here"
    os.environ.pop("KRB5_CLIENT_KTNAME")  # no ticket for the process from here on
    settings = gssapi_settings(krb_zk_hosts, krb_rig.principal("hue"), kerberos_keytab=krb_rig.keytab("hue"),
                               kerberos_ccache=str(tmp_path / "hue.ccache"))
    conn = hive_ha.connect(zookeeper=settings, namespace=zk_namespace, auth="KERBEROS")
    try:
        cursor = conn.cursor()
        cursor.execute("select current_user()")
        assert cursor.fetchall() == [("hue@EXAMPLE.TEST",)]
    finally:
        conn.close()
    report = run_check(settings, Service.of("hs2", zk_namespace), Credentials("hue"))
    (ticket,) = [f for f in report.findings if f.item == "kerberos"]
    assert (ticket.status, ticket.subject) == (OK, "hue@EXAMPLE.TEST")
    assert "from hive-ha's keytab login, renewed by hive-ha" in ticket.detail and "valid until" in ticket.detail
    assert [f.status for f in report.findings if f.item == "session"] == [OK]
    with pytest.raises(Exception, match="No Kerberos credentials available"):
        hive.connect("localhost", server.port, auth="KERBEROS", kerberos_service_name="hive")
    assert os.environ["KRB5CCNAME"] == "MEMORY:nothing-here"


def test_clients_without_kerberos_are_refused(krb_rig, krb_zk_hosts, krb_registrar, krb_hs2_factory, zk_namespace):
    from pyhive import hive

    server = krb_hs2_factory("hs2-k")
    register(krb_registrar, zk_namespace, server.port)
    with pytest.raises(Exception, match="requires GSSAPI"):
        hive.connect("localhost", server.port, auth="NONE", username="mallory")
    os.environ["KRB5CCNAME"] = "MEMORY:empty"
    os.environ.pop("KRB5_CLIENT_KTNAME")
    with pytest.raises(Exception, match="No Kerberos credentials available"):
        hive.connect("localhost", server.port, auth="KERBEROS", kerberos_service_name="hive")


def test_principal_for_another_host_than_the_one_dialled_is_explained(krb_rig, krb_zk_hosts, krb_registrar,
                                                                      krb_hs2_factory, zk_namespace):
    server = krb_hs2_factory("hs2-ip")
    krb_registrar.register("127.0.0.1", server.port, namespace=zk_namespace.strip("/"), authentication="KERBEROS",
                           principal=krb_rig.hive_principal)  # hive/localhost, but registered by address
    settings = gssapi_settings(krb_zk_hosts, krb_rig.principal("hue"))
    with pytest.raises(ConfigError) as info:
        hive_ha.connect(zookeeper=settings, namespace=zk_namespace)
    assert "asks for hive/127.0.0.1" in str(info.value) and "principal (localhost)" in str(info.value)
    assert "not found in Kerberos database" in str(info.value.__cause__)


def test_hue_query_server_carries_the_servers_principal(krb_registrar, krb_zk_hosts, krb_rig, zk_namespace, pool):
    from hue_integration.query_server import QueryServerSettings, build

    register(krb_registrar, zk_namespace, 10003)
    discovery = Discovery(gssapi_settings(krb_zk_hosts, krb_rig.principal("hue")), pool=pool)
    try:
        service = Service.of("hs2", zk_namespace)
        qs = build("beeswax", discovery.endpoint(service), service,
                   QueryServerSettings(use_sasl=True, hive_site_principal="hive/_HOST@OTHER.REALM"))
    finally:
        discovery.close()
    assert (qs["server_host"], qs["principal"], qs["use_sasl"]) == ("localhost", "hive/localhost@EXAMPLE.TEST", True)


# -- no lock of ours across kinit ----------------------------------------------------------------------------------
@pytest.fixture
def hung_kdc_for(krb_rig, tmp_path, monkeypatch):
    """``hung_kdc_for(principal) -> (started, release)``: kinit for that principal hangs (as with a KDC that does
    not answer) until ``release()``; ``started`` exists once such a kinit runs. Other principals log in normally."""
    real, gate, started = shutil.which("kinit"), tmp_path / "kdc-hangs", tmp_path / "kinit-started"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    gate.touch()

    def release():
        if gate.exists():
            gate.unlink()

    def hang(principal):
        (bin_dir / "kinit").write_text(f'#!/bin/sh\ncase "$*" in *{principal}*) touch {started}; '
                                       f'while [ -e {gate} ]; do sleep 0.05; done;; esac\nexec {real} "$@"\n')
        (bin_dir / "kinit").chmod(0o755)
        return started, release

    yield hang
    release()


def in_thread(fn, timeout):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def test_a_hung_kinit_blocks_no_other_login_nor_client(krb_rig, krb_zk_hosts, hung_kdc_for, tmp_path, pool,
                                                        monkeypatch):
    from hive_ha.sandbox.zookeeper import free_port

    monkeypatch.setenv("KRB5CCNAME", os.environ.get("KRB5CCNAME", ""))
    started, release = hung_kdc_for("hue@")
    slow = gssapi_settings(krb_zk_hosts, krb_rig.principal("hue"), kerberos_keytab=krb_rig.keytab("hue"),
                           kerberos_ccache=str(tmp_path / "hue.cc"), connect_timeout=5.0)
    blocked = threading.Thread(target=lambda: pool.get(slow), daemon=True)  # its kinit hangs
    blocked.start()
    try:
        wait_until(started.exists, message="the slow kinit did not start")
        alice = kerberos.KerberosLogin(krb_rig.principal("alice"), krb_rig.keytab("alice"), str(tmp_path / "a.cc"))
        assert in_thread(lambda: kerberos.ensure_login(alice), 20), "a login waited for another login's kinit"
        assert in_thread(lambda: pool.get(ZkSettings(f"127.0.0.1:{free_port()}")), 20), "a client waited for a kinit"
    finally:
        release()
        blocked.join(30)  # its client is in the pool before the pool fixture closes it
        kerberos.stop_logins()


def test_the_ticket_state_names_neither_the_cache_nor_the_keytab(tmp_path):
    keytab = tmp_path / "hue.keytab"
    keytab.write_bytes(b"\x05\x02")
    login = kerberos.KerberosLogin("hue@EXAMPLE.TEST", str(keytab), str(tmp_path / "hue.ccache"))
    renewer = kerberos.TicketRenewer(login)  # not started: what a failed renewal leaves behind
    renewer.last_error = str(kerberos.UnsafeTicketCache(login.principal, login.keytab, login.cache_path + ".lock",
                                                        f"made by another user; keytab {keytab}"))
    state = kerberos.ticket_state("keytab", "hive-ha", login.cache_name, login.principal, renewer)
    text = repr(state.as_dict())
    assert str(tmp_path) not in text
    assert "refusing the Kerberos ticket cache the ticket cache.lock" in state.problem and "keytab the keytab" in text
