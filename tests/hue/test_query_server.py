"""The query-server dict hive-ha gives Hue, checked against the one Hue's own ``get_query_server_config`` builds for
the same server, and against what each layout publishes."""
import copy
import pickle

import pytest

from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hue_integration import query_server as qs

pytestmark = pytest.mark.django_db

HIVE = Service.of("hs2")
HUE = qs.QueryServerSettings(auth_username="hue", auth_password="pw", use_sasl=True, close_sessions=False,
                              has_session_pool=False, max_number_of_sessions=-1,
                              hive_site_principal="hive/_HOST@EXAMPLE.TEST")


def test_same_keys_and_value_types_as_hues_own(hue, enable, zk_namespace, registrar):
    from beeswax import conf as beeswax_conf
    from beeswax.server import dbms

    hue(beeswax_conf.HIVE_SERVER_HOST, "127.0.0.1")
    hue(beeswax_conf.HIVE_SERVER_PORT, "10000")
    hues = copy.deepcopy(dbms.get_query_server_config())  # discovery off: Hue's own dict for 127.0.0.1:10000
    dbms.reset_ha()
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    enable(zk_namespace)
    ours = dbms.get_query_server_config()
    assert set(ours) == set(hues)
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in hues.items()}
    assert dict(ours) == hues


def test_published_settings_and_hplsql(enable, zk_namespace, registrar):
    from beeswax.server import dbms

    registrar.register("127.0.0.2", 10001, namespace=zk_namespace, transport_mode="http", http_port=10011,
                       http_path="hs2http")
    enable(zk_namespace)
    query_server = dbms.get_query_server_config()
    assert (query_server["server_host"], query_server["server_port"], query_server["transport_mode"]) == \
        ("127.0.0.2", 10011, "http")
    assert query_server["http_url"] == "http://127.0.0.2:10011/hs2http"
    assert dbms.get_query_server_config(name="hplsql")["server_name"] == "hplsql"


def test_llap_layouts(enable, zk_namespace, registrar):
    from beeswax.server import dbms

    registrar.register("127.0.0.1", 10500, layout="hsi-ha", namespace=zk_namespace, active=False)
    registrar.register("127.0.0.2", 10501, layout="hsi-ha", namespace=zk_namespace, active=True)
    enable(None, hive=False, llap=zk_namespace, llap_ha=True)
    query_server = dbms.get_query_server_config(name="llap")
    assert (query_server["server_host"], query_server["server_port"]) == ("127.0.0.2", 10501)  # the leader's own port


def test_hsi_without_ha(enable, zk_namespace, registrar):
    from beeswax.server import dbms

    registrar.register("127.0.0.1", 10500, namespace=zk_namespace)
    enable(None, hive=False, llap=zk_namespace)
    assert dbms.get_query_server_config(name="llap")["server_port"] == 10500


@pytest.mark.parametrize("connectors", [False, True], ids=["connectors off", "connectors on"])
def test_what_hive_ha_does_not_discover_stays_hues(hue, enable, zk_namespace, registrar, connectors):
    """Impala, the connectors feature and computes go to Hue's own function, by Hue's own rule; the editor's
    interpreter dict with connectors off is hive-ha's (Hue resolves it by name, too)."""
    import dataclasses

    from beeswax.server import dbms
    from desktop import conf as desktop_conf

    hue(desktop_conf.ENABLE_CONNECTORS, str(connectors).lower())
    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    integration = enable(zk_namespace)
    to_hue = []

    def hues(name="beeswax", connector=None):
        to_hue.append(name if not connector else f"{name}+{connector['type']}")
        return {"server_name": name}

    integration.originals = dataclasses.replace(integration.originals, get_query_server_config=hues)
    dbms.get_query_server_config(name="impala")
    dbms.get_query_server_config(name="beeswax", connector={"type": "hive-compute", "dialect": "hive"})
    editor = dbms.get_query_server_config(name="beeswax", connector={"type": "hive", "dialect": "hive"})
    expected = ["impala", "beeswax+hive-compute"] + (["beeswax+hive"] if connectors else [])
    assert to_hue == expected
    assert isinstance(editor, qs.QueryServer) is not connectors


def test_pure_build_ipv6_nosasl_and_legacy():
    assert qs.build("beeswax", Endpoint("::1", 10000, "/z"), HIVE, HUE)["http_url"] == \
        "http://[::1]:10000/cliservice"
    assert qs.build("beeswax", Endpoint("h", 1, "/z", authentication="NOSASL"), HIVE, HUE)["use_sasl"] is False
    legacy = qs.build("beeswax", Endpoint("h", 1, "/z", address_only=True), HIVE,
                      qs.QueryServerSettings(transport_mode="http", use_ssl=True, http_path="p"))
    assert legacy["transport_mode"] == "http" and legacy["http_url"] == "https://h:1/p"
    kerberized = qs.build("beeswax", Endpoint("hs2-a.example.com", 1, "/z"), HIVE, HUE)
    assert kerberized["principal"] == "hive/hs2-a.example.com@EXAMPLE.TEST"
    # hive-site's _HOST is the host dialled, lower-cased, as a GSSAPI client asks for it (Hue's own rule would turn
    # "localhost" into this machine's name through reverse DNS); a published principal wins.
    for host in ("localhost", "HS2-B.Example.COM"):
        assert qs.build("beeswax", Endpoint(host, 1, "/z"), HIVE, HUE)["principal"] == \
            f"hive/{host.lower()}@EXAMPLE.TEST"
    published = Endpoint("hs2-c", 1, "/z", principal="hive/hs2-c@OTHER.TEST")
    assert qs.build("beeswax", published, HIVE, HUE)["principal"] == "hive/hs2-c@OTHER.TEST"


def test_each_caller_gets_its_own_copy_that_pickles_as_a_plain_dict():
    built = qs.build("beeswax", Endpoint("h", 1, "/z"), HIVE, HUE)
    mine, yours = built.for_caller("alice"), built.for_caller("bob")
    mine["auth_username"] = "changed"
    assert yours["auth_username"] == "hue" and built["auth_username"] == "hue"
    assert (mine.endpoint, mine.service, mine.user) == (built.endpoint, HIVE, "alice")
    back = pickle.loads(pickle.dumps(mine))
    assert type(back) is dict and back == dict(mine)
