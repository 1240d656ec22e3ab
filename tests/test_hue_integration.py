"""hue_integration against the Hue 4.11 stand-in, a real ZooKeeper and real HiveServer2-protocol servers."""
import importlib

import pytest

from beeswax import conf as beeswax_conf
from beeswax.server import dbms
from hive_ha.selection import PerUser
from hive_ha.testing.waiting import wait_until
from hue_integration import hue_settings, install
from notebook.connectors.hiveserver2 import HS2Api
from tests._hue_fixtures import enable_discovery, notebook_for, run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hue")]


@pytest.fixture
def installed():
    """Install from the current (set_for_testing) hue.ini values; always uninstalled afterwards."""
    made = []

    def make():
        made.append(install.install_if_enabled())
        return made[-1]

    yield make
    install.uninstall()


def names_bound_to(function_name):
    modules = install.GET_QUERY_SERVER_CONFIG_COPIES if function_name == "get_query_server_config" \
        else install.RESET_HA_COPIES
    out = {}
    for name in modules + (install.DBMS,):
        try:
            out[name] = getattr(importlib.import_module(name), function_name)
        except ImportError:
            continue
    return out


def test_nothing_happens_until_switched_on(hue, installed):
    before = names_bound_to("get_query_server_config")
    assert installed() is None
    assert names_bound_to("get_query_server_config") == before
    hue(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
    hue(__import__("hue_integration.conf").conf.ENABLED, "false")  # our master switch wins
    assert installed() is None


def test_installed_everywhere_idempotent_and_undone(hue, zk_server, zk_namespace, installed):
    originals = names_bound_to("get_query_server_config")
    original_resets = names_bound_to("reset_ha")
    enable_discovery(hue, zk_server, zk_namespace)
    integration = installed()
    assert integration is installed()  # idempotent
    replaced = names_bound_to("get_query_server_config")
    assert len(replaced) >= 7 and all(f == integration.get_query_server_config for f in replaced.values())
    assert all(f == integration.reset_ha for f in names_bound_to("reset_ha").values())
    assert dbms.get == integration.get
    install.uninstall()
    assert names_bound_to("get_query_server_config") == originals
    assert names_bound_to("reset_ha") == original_resets


def test_hive_dict_from_what_the_server_published(hue, zk_server, zk_namespace, registrar, installed):
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    registrar.register("127.0.0.2", 10001, namespace=zk_namespace, transport_mode="http", http_port=10011,
                       http_path="hs2http")
    enable_discovery(hue, zk_server, zk_namespace)
    installed()
    qs = dbms.get_query_server_config()
    assert (qs["server_name"], qs["server_host"], qs["server_port"], qs["transport_mode"]) == \
        ("beeswax", "127.0.0.1", 10000, "socket")
    assert dbms.get_query_server_config(name="hplsql")["server_name"] == "hplsql"
    # Hue's original still answers everything that is not Hive/LLAP discovery.
    with pytest.raises(NotImplementedError):
        dbms.get_query_server_config(name="impala")


def test_llap_layouts(hue, zk_server, zk_namespace, registrar, installed):
    registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=False)
    registrar.register("127.0.0.2", 10501, layout="hsi-ha", namespace=zk_namespace, active=True)
    hue(beeswax_conf.HIVE_DISCOVERY_LLAP, "true")
    hue(beeswax_conf.HIVE_DISCOVERY_LLAP_HA, "true")
    hue(beeswax_conf.HIVE_DISCOVERY_LLAP_ZNODE, zk_namespace)
    from libzookeeper import conf as zk_conf
    hue(zk_conf.ENSEMBLE, zk_server.hosts)
    installed()
    qs = dbms.get_query_server_config(name="llap")
    assert (qs["server_host"], qs["server_port"]) == ("127.0.0.2", 10501)  # the active one, its own port


def test_hsi_without_ha(hue, zk_server, zk_namespace, registrar, installed):
    registrar.register("127.0.0.1", 10500, namespace=zk_namespace)
    hue(beeswax_conf.HIVE_DISCOVERY_LLAP, "true")
    hue(beeswax_conf.HIVE_DISCOVERY_LLAP_ZNODE, zk_namespace)
    from libzookeeper import conf as zk_conf
    hue(zk_conf.ENSEMBLE, zk_server.hosts)
    installed()
    assert dbms.get_query_server_config(name="llap")["server_port"] == 10500


def test_no_endpoint_is_a_popup_with_our_message(hue, zk_server, zk_namespace, installed):
    from desktop.lib.exceptions_renderable import PopupException
    enable_discovery(hue, zk_server, zk_namespace)
    installed()
    with pytest.raises(PopupException, match="no HiveServer2 endpoint available"):
        dbms.get_query_server_config()


def test_bad_hue_ini_value_names_the_key(hue, zk_server, zk_namespace, installed):
    from hive_ha.errors import ConfigError
    from hue_integration import conf as our_conf
    enable_discovery(hue, zk_server, zk_namespace)
    hue(our_conf.SELECTION_POLICY, "round_robin")
    with pytest.raises(ConfigError, match=r"\[hive_ha\] selection_policy"):
        hue_settings.load()


def test_client_slot_follows_the_endpoint_and_services_never_share(hue, users, zk_server, zk_namespace, registrar,
                                                                   hs2_server_factory, installed):
    a, b = hs2_server_factory("hs2-a", host="127.0.0.1"), hs2_server_factory("hs2-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    enable_discovery(hue, zk_server, zk_namespace)
    integration = installed()
    alice = users[0]
    first = dbms.get(alice)
    assert dbms.get(alice) is first  # cached per user and endpoint
    integration.report_failure(integration.config.hive_service, integration.discovery.endpoint(
        integration.config.hive_service))
    second = dbms.get(alice)
    assert second is not first and second.client.query_server["server_host"] == "127.0.0.2"
    assert len(dbms.DBMS_CACHE[alice.id]) == 1  # the client for the dead server is gone
    del reg_a


def test_per_user_policy_spreads_users(hue, django_user_model, zk_server, zk_namespace, registrar, installed):
    from hue_integration import conf as our_conf
    for port in (10000, 10001, 10002):
        registrar.register("127.0.0.1", port, namespace=zk_namespace)
    enable_discovery(hue, zk_server, zk_namespace)
    hue(our_conf.SELECTION_POLICY, "per_user")
    installed()
    users = [django_user_model.objects.create_user(username=f"user{i}", password="x") for i in range(12)]
    ports = {u.username: dbms.get(u).client.query_server["server_port"] for u in users}
    assert len(set(ports.values())) > 1
    integration = install.active()
    snapshot = integration.discovery.endpoints(integration.config.hive_service)
    expected = {u.username: PerUser().pick(snapshot.endpoints, u.username).port for u in users}
    assert ports == expected  # the same rendezvous choice every Hue process makes


def test_failover_through_the_editor_reaches_every_user(hue, users, zk_server, zk_namespace, registrar,
                                                        hs2_server_factory, installed):
    """Hue 4.11: after A dies only the next caller per reset recovers, and that first call silently
    returns None. With hive-ha the first failure moves every user and is retried: nobody sees an error,
    both users' next queries run on hs2-b, and there is exactly one reselection."""
    a = hs2_server_factory("hs2-a", host="127.0.0.1")
    b = hs2_server_factory("hs2-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    enable_discovery(hue, zk_server, zk_namespace)
    integration = installed()
    alice, bob = (HS2Api(user) for user in users)
    notebooks = [notebook_for(api.create_session(lang="hive")) for api in (alice, bob)]
    assert [run(api, nb, "select current_server()") for api, nb in zip((alice, bob), notebooks)] == \
        [[["hs2-a"]], [["hs2-a"]]]

    a.kill()
    reg_a.crash()  # a hard crash: the znode lingers, ZooKeeper does not know yet
    assert run(alice, notebooks[0], "select current_server()") == [["hs2-b"]]
    assert run(bob, notebooks[1], "select current_server()") == [["hs2-b"]]
    assert integration.discovery.cache.generation(integration.config.hive_service) == 1
    wait_until(lambda: len(integration.discovery.endpoints(integration.config.hive_service).endpoints) == 1,
               timeout=15)
