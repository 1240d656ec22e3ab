"""Fixtures for tests inside the real Hue: a clean Hue process state per test, logged-in users, hive-ha switched on
with Hue's own settings objects, and a Kerberized cluster's Hue (tests/hue/kerberized.py)."""
import os

import pytest

from tests.hue.editor import DjangoTransport, Editor
from tests.hue.hue_process import HueHome
from tests.hue.kerberized import KerberizedCluster, KtRenewer, configure_hue, kt_renewer_ini

PASSWORD = "hive-ha-test-password"


@pytest.fixture
def hue():
    """``hue(config, value)`` sets a Hue setting for this test (Hue's ``set_for_testing``); afterwards every setting
    is restored, hive-ha uninstalled, and Hue's per-process caches and Thrift connection pools emptied."""
    from beeswax import hive_site
    from beeswax.server import dbms
    from desktop.lib import thrift_util
    from hive_ha.io.zookeeper import POOL
    from hue_integration import install

    undo = []

    def configure(config, value):
        undo.append(config.set_for_testing(value))

    def clean():
        hive_site.reset()
        dbms.DBMS_CACHE.clear()
        dbms.reset_ha()
        pooler = thrift_util._connection_pool
        with pooler.dictlock:
            pools, pooler.pooldict = list(pooler.pooldict.values()), {}
        for pool in pools:
            while not pool.empty():
                pool.get_nowait().transport.close()

    clean()
    yield configure
    install.uninstall()
    POOL.close_all()  # the ZooKeeper clients the test's discovery used: none outlives its servers
    for restore in reversed(undo):
        restore()
    clean()


@pytest.fixture
def enable(hue, zk_server):
    """``enable(namespace, ensemble=None, **hive_ha_keys)``: switch HiveServer2 discovery on the way a Hue admin does
    in hue.ini, then do what ``AppConfig.ready()`` does; returns the installed integration."""
    from beeswax import conf as beeswax_conf
    from hue_integration import conf as our_conf
    from hue_integration import install
    from libzookeeper import conf as zk_conf

    def switch_on(namespace, ensemble=None, llap=None, llap_ha=False, hive=True, **keys):
        hue(zk_conf.ENSEMBLE, ensemble or zk_server.hosts)
        hue(beeswax_conf.ZOOKEEPER_CONN_TIMEOUT, "10")
        if hive:
            hue(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
            hue(beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE, namespace)
        if llap:
            hue(beeswax_conf.HIVE_DISCOVERY_LLAP, "true")
            hue(beeswax_conf.HIVE_DISCOVERY_LLAP_HA, "true" if llap_ha else "false")
            hue(beeswax_conf.HIVE_DISCOVERY_LLAP_ZNODE, llap)
        for key, value in keys.items():
            hue(getattr(our_conf, key.upper()), str(value))
        return install.install_if_enabled()

    return switch_on


@pytest.fixture
def login(db):
    """``login(username, superuser=False) -> (user, django test client)``, with Hue's own test helpers: a user of
    Hue's default group, which may use the Hive editor."""
    from django.core.cache import cache

    from desktop.lib.django_test_util import make_logged_in_client
    from desktop.lib.test_utils import grant_access
    from useradmin.models import User

    def make(username, superuser=False):
        client = make_logged_in_client(username=username, password=PASSWORD, is_superuser=superuser,
                                       groupname="default")
        for app in ("beeswax", "hive", "notebook"):
            grant_access(username, "default", app)
        cache.delete("perms")  # Hue caches permission rows for an hour; a test's flushed database made new ones
        return User.objects.get(username=username), client

    return make


@pytest.fixture
def editors(login):
    """``editors(*usernames) -> [Editor]``, each logged in over Django's test client."""
    def make(*usernames, dialect="hive"):
        return [Editor(DjangoTransport(login(name)[1]), dialect=dialect) for name in usernames]
    return make


@pytest.fixture
def pair(enable, zk_namespace, registrar, hs2_server_factory):
    """``make(transport="binary", **hive_ha_keys) -> (hs2-a, hs2-b, their registrations, integration)``: two
    in-process servers registered (hs2-a the oldest, so chosen first) and hive-ha switched on."""
    def make(transport="binary", **keys):
        a = hs2_server_factory("hs2-a", host="127.0.0.1", transport=transport)
        b = hs2_server_factory("hs2-b", host="127.0.0.2", transport=transport)
        extra = {"transport_mode": "http"} if transport == "http" else {}
        reg_a, reg_b = (registrar.register(s.host, s.port, namespace=zk_namespace,
                                           **dict(extra, http_port=s.port) if extra else {}) for s in (a, b))
        return a, b, reg_a, reg_b, enable(zk_namespace, **keys)
    return make


# -- a Kerberized cluster's Hue ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kerberized_cluster():
    """KDC, ZooKeeper requiring SASL GSSAPI, principals for two host names of this machine; this Hue process gets the
    realm's krb5.conf (``KRB5_CONFIG``: what /etc/krb5.conf is on a cluster's host) while the session runs."""
    keys = ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5RCACHEDIR")
    saved = {key: os.environ.get(key) for key in keys}
    cluster = KerberizedCluster().start()
    os.environ.update(cluster.env)
    try:
        yield cluster
    finally:
        cluster.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def hue_kt_renewer(kerberized_cluster):
    """``hue kt_renewer`` for this Hue process, in its own process: it writes the ``ccache_path`` of this Hue's
    hue.ini (tests/hue/environment.py), which Hue exported as ``KRB5CCNAME`` at start-up."""
    from desktop.conf import KERBEROS

    ccache = KERBEROS.CCACHE_PATH.get()
    home = HueHome(kt_renewer_ini(kerberized_cluster, ccache))
    renewer = KtRenewer.for_home(home, ccache)
    try:
        yield renewer.start()
    finally:
        renewer.stop()
        home.stop()


@pytest.fixture
def kerberized_hue(hue, kerberized_cluster, hue_kt_renewer, zk_namespace, tmp_path, monkeypatch):
    """``switch_on(**hive_ha_keys) -> integration``: this Hue configured as a Kerberized cluster's Hue
    (``kerberized.configure_hue``) and hive-ha installed; ``hue_kt_renewer`` keeps its ticket fresh. Servers:
    ``kerberized_hs2``."""
    from desktop.conf import KERBEROS

    def switch_on(**keys):
        monkeypatch.setenv("KRB5CCNAME", KERBEROS.CCACHE_PATH.get())  # as Hue's desktop/settings.py did at start
        return configure_hue(kerberized_cluster, zk_namespace, str(tmp_path / "hive-conf"), hue, **keys)

    return switch_on


@pytest.fixture
def kerberized_hs2(kerberized_cluster, zk_namespace):
    """``make(name, host_index, **kw) -> HS2ServerProcess``: a Kerberized server on the cluster's ``hosts[i]``,
    registered under this test's namespace; stopped at the end of the test."""
    started = []

    def make(name, host_index=0, namespace=None, **kw):
        cluster = kerberized_cluster
        server = cluster.hs2(name, cluster.hosts[host_index], namespace or zk_namespace, **kw)
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()
