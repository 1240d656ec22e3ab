"""The pure part of the Hue app: an Endpoint as Hue's query-server dict (no Hue needed)."""
import pickle

from hive_ha.endpoint import Endpoint
from hive_ha.layouts import Service
from hue_integration import query_server as qs

HUE = {"auth_username": "hue", "auth_password": "pw", "use_sasl": True, "close_sessions": False,
       "has_session_pool": False, "max_number_of_sessions": -1, "principal": "hive/_HOST@EXAMPLE.TEST",
       "transport_mode": "socket", "use_ssl": False, "http_path": "cliservice"}
HIVE = Service.of("hs2")
KEYS = {"server_name", "server_host", "server_port", "principal", "http_url", "transport_mode", "auth_username",
        "auth_password", "use_sasl", "close_sessions", "has_session_pool", "max_number_of_sessions", "dialect"}


def test_same_keys_and_types_as_hue():
    ep = Endpoint("hs2-a.example.com", 10000, "/hiveserver2/x")
    d = qs.build("beeswax", ep, HIVE, HUE)
    assert set(d) == KEYS
    assert d["server_name"] == d["dialect"] == "beeswax"
    assert isinstance(d["server_port"], int) and d["server_port"] == 10000
    assert d["http_url"] == "http://hs2-a.example.com:10000/cliservice"
    assert d["transport_mode"] == "socket" and d["use_sasl"] is True
    assert d["principal"] == "hive/hs2-a.example.com@EXAMPLE.TEST"  # hue.ini principal, _HOST = discovered host


def test_published_settings_win():
    ep = Endpoint("h2", 10001, "/hiveserver2/y", transport_mode="http", http_port=10001, http_path="cli2",
                  use_ssl=True, authentication="KERBEROS", principal="hive/h2@REALM")
    d = qs.build("llap", ep, HIVE, HUE)
    assert d["transport_mode"] == "http" and d["http_url"] == "https://h2:10001/cli2"
    assert d["principal"] == "hive/h2@REALM" and d["server_name"] == "beeswax"


def test_nosasl_server_turns_sasl_off_and_legacy_keeps_hue_values():
    assert qs.build("beeswax", Endpoint("h", 1, "/z", authentication="NOSASL"), HIVE, HUE)["use_sasl"] is False
    legacy = Endpoint("h", 1, "/z", published=False)
    d = qs.build("beeswax", legacy, HIVE, dict(HUE, transport_mode="http", use_ssl=True, http_path="p"))
    assert d["transport_mode"] == "http" and d["http_url"] == "https://h:1/p" and d["use_sasl"] is True


def test_hplsql_and_ipv6():
    d = qs.build("hplsql", Endpoint("::1", 10000, "/z"), HIVE, HUE)
    assert d["server_name"] == "hplsql" and d["http_url"] == "http://[::1]:10000/cliservice"


def test_slots_separate_hosts_and_services():
    a = qs.build("beeswax", Endpoint("h", 1, "/z"), HIVE, HUE)
    b = qs.build("beeswax", Endpoint("h", 2, "/z"), HIVE, HUE)
    llap = qs.build("llap", Endpoint("h", 1, "/z"), Service.of("hsi"), HUE)
    assert len({qs.slot(a), qs.slot(b), qs.slot(llap)}) == 3


def test_pickles_as_a_plain_dict():
    d = qs.build("beeswax", Endpoint("h", 1, "/z"), HIVE, HUE)
    back = pickle.loads(pickle.dumps(d))
    assert type(back) is dict and back == dict(d)
