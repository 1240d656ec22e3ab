"""Pure parsing of Hive registrations: every layout, both data forms, and no crash on any input."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_ha.endpoint import split_hostport, validate_host, validate_port
from hive_ha.errors import MalformedRegistration
from hive_ha.parsing import endpoint_from_service_record, endpoint_from_znode, parse_config_string, parse_znode_name

NAME = "serverUri=hs2-a.example.com:10000;version=3.1.3000.7.1.8.0-801;sequence=0000000012"


def published(**extra):
    base = {
        "hive.server2.thrift.bind.host": "hs2-a.example.com",
        "hive.server2.instance.uri": "hs2-a.example.com:10000",
        "hive.server2.transport.mode": "binary",
        "hive.server2.authentication": "NONE",
        "hive.server2.use.SSL": "false",
        "hive.server2.thrift.port": "10000",
        "hive.server2.thrift.sasl.qop": "auth",
    }
    base.update(extra)
    return ";".join(f"{k}={v}" for k, v in base.items()).encode()


def test_hs2_name_and_published_config():
    e = endpoint_from_znode("/hiveserver2", NAME, published())
    assert (e.host, e.port, e.transport_mode, e.sequence, e.version) == (
        "hs2-a.example.com", 10000, "binary", 12, "3.1.3000.7.1.8.0-801")
    assert e.znode == "/hiveserver2/" + NAME
    assert e.sasl_qop == "auth" and e.authentication == "NONE" and not e.use_ssl and e.active is None


def test_published_order_does_not_matter():
    data = published().split(b";")
    assert endpoint_from_znode("/h", NAME, b";".join(reversed(data))) == endpoint_from_znode("/h", NAME, published())


def test_http_mode_uses_http_port_and_path():
    e = endpoint_from_znode("/h", NAME, published(**{
        "hive.server2.transport.mode": "http", "hive.server2.thrift.http.port": "10001",
        "hive.server2.thrift.http.path": "cliservice2", "hive.server2.use.SSL": "true"}))
    assert (e.port, e.http_port, e.transport_mode, e.use_ssl) == (10001, 10001, "http", True)
    assert e.http_url == "https://hs2-a.example.com:10001/cliservice2"


def test_kerberos_principal_host_resolved():
    e = endpoint_from_znode("/h", NAME, published(**{
        "hive.server2.authentication": "KERBEROS",
        "hive.server2.authentication.kerberos.principal": "hive/_HOST@EXAMPLE.COM"}))
    assert e.principal == "hive/hs2-a.example.com@EXAMPLE.COM"
    assert e.authentication == "KERBEROS"


def test_published_host_and_port_win_over_name_like_jdbc():
    e = endpoint_from_znode("/h", NAME, published(**{
        "hive.server2.thrift.bind.host": "10.0.0.7", "hive.server2.thrift.port": "10010"}))
    assert (e.host, e.port) == ("10.0.0.7", 10010)


def test_wildcard_bind_host_falls_back_to_instance_uri():
    e = endpoint_from_znode("/h", NAME, published(**{"hive.server2.thrift.bind.host": "0.0.0.0"}))
    assert e.host == "hs2-a.example.com"


def test_legacy_host_port_data():
    e = endpoint_from_znode("/h", NAME, b"hs2-b.example.com:10005")
    assert (e.host, e.port, e.sequence, e.published) == ("hs2-b.example.com", 10005, 12, False)
    assert endpoint_from_znode("/h", NAME, published()).published


def test_empty_data_uses_name():
    e = endpoint_from_znode("/h", NAME, b"")
    assert (e.host, e.port) == ("hs2-a.example.com", 10000)


def test_kyuubi_service_uri():
    e = endpoint_from_znode("/kyuubi", "serviceUri=k1.example.com:10009;version=1.8.0;refId=abc;sequence=0000000003", b"")
    assert (e.host, e.port, e.sequence, e.version) == ("k1.example.com", 10009, 3, "1.8.0")


@pytest.mark.parametrize("uri,host", [("[::1]:10000", "::1"), ("fe80::1:10000", "fe80::1"),
                                      ("[2001:db8::5]:10000", "2001:db8::5")])
def test_ipv6_hosts(uri, host):
    e = endpoint_from_znode("/h", f"serverUri={uri};version=3;sequence=0000000001", b"")
    assert e.host == host and e.port == 10000
    assert e.address == f"[{host}]:10000"


def service_record(api="activeEndpoint", host="hsi-1.example.com", port="10500", first_other=True, **flat):
    internal = [{"api": api, "addressType": "host/port", "protocolType": "hadoop/IPC",
                 "addresses": [{"host": host, "port": port}]}]
    if first_other:  # never assume the endpoint is internal[0]
        internal.insert(0, {"api": "webui", "addresses": [{"uri": "http://x:10502"}]})
    record = {"type": "JSONServiceRecord", "external": [], "internal": internal,
              "hive.server2.transport.mode": "binary", "hive.server2.thrift.port": port,
              "hive.server2.authentication": "NONE", "hive.server2.use.SSL": "false"}
    record.update(flat)
    return json.dumps(record).encode()


def test_service_record_active_and_passive():
    a = endpoint_from_service_record("/llap0_llap/instances", "instance-0000000004", service_record())
    p = endpoint_from_service_record("/llap0_llap/instances", "instance-0000000005", service_record("passiveEndpoint", "hsi-2"))
    assert (a.host, a.port, a.active, a.sequence) == ("hsi-1.example.com", 10500, True, 4)
    assert (p.host, p.active) == ("hsi-2", False)


def test_service_record_pretty_printed_json():
    pretty = json.dumps(json.loads(service_record()), indent=2).encode()
    assert endpoint_from_service_record("/r/instances", "instance-0000000001", pretty).active is True


def test_service_record_http_mode():
    e = endpoint_from_service_record("/r/instances", "instance-0000000001", service_record(
        port="10501", **{"hive.server2.transport.mode": "http", "hive.server2.thrift.http.port": "10501",
                         "hive.server2.thrift.http.path": "cliservice"}))
    assert (e.transport_mode, e.port, e.http_port) == ("http", 10501, 10501)


@pytest.mark.parametrize("data,reason", [
    (b"{", "not JSON"),
    (b"[]", "not a JSON object"),
    (json.dumps({"internal": []}).encode(), "neither"),
    (json.dumps({"internal": [{"api": "activeEndpoint", "addresses": [{"host": "a", "port": "1"}]},
                              {"api": "passiveEndpoint", "addresses": [{"host": "b", "port": "1"}]}]}).encode(), "both"),
    (json.dumps({"internal": [{"api": "activeEndpoint", "addresses": []}]}).encode(), "no address"),
    (json.dumps({"internal": [{"api": "activeEndpoint", "addresses": [{"host": "a", "port": "99999"}]}]}).encode(), "1-65535"),
    (None, "not JSON"),
])
def test_service_record_malformed(data, reason):
    with pytest.raises(MalformedRegistration, match=reason) as info:
        endpoint_from_service_record("/r/instances", "instance-0000000001", data)
    assert info.value.znode == "/r/instances/instance-0000000001"


@pytest.mark.parametrize("name,data,reason", [
    ("garbage", b"", "not key=value"),
    ("version=1;sequence=0000000001", b"", "no serverUri"),
    ("serverUri=host;version=1;sequence=0000000001", b"", "no port"),
    ("serverUri=host:0;version=1;sequence=0000000001", b"", "1-65535"),
    ("serverUri=host:70000;version=1;sequence=0000000001", b"", "1-65535"),
    ("serverUri=bad host:1;version=1;sequence=0000000001", b"", "not a valid host"),
    ("serverUri=h:1;version=1;sequence=12x", b"", "bad sequence"),
    (NAME, b"hive.server2.thrift.port=abc", "not a number"),
    (NAME, b"hive.server2.transport.mode=smtp", "transport mode"),
    (NAME, b"hive.server2.use.SSL=maybe", "true or false"),
    (NAME, b"hive.server2.thrift.bind.host=evil\nserver x", "not a valid host"),
    (NAME, b"hive.server2.authentication.kerberos.principal=hive/x@R\ninclude evil", "invalid characters"),
    (NAME, b"hive.server2.thrift.bind.host=a;b", "not key=value"),
    (NAME, b"hive.server2.authentication.kerberos.principal=hive/x@R include evil", "invalid characters"),
    (NAME, b"hive.server2.authentication.kerberos.principal=hive/x@R; include evil", "not key=value"),
    (NAME, b"hive.server2.thrift.http.path=a b", "URL path"),
    (NAME, b"\xff\xfe", "not UTF-8"),
    (NAME, b"host:port:", "host:port data"),
])
def test_malformed_hs2(name, data, reason):
    with pytest.raises(MalformedRegistration, match=reason):
        endpoint_from_znode("/hiveserver2", name, data)


def test_config_string_tolerates_trailing_separator():
    assert parse_config_string("a=1;b=2;") == {"a": "1", "b": "2"}


@pytest.mark.parametrize("host", ["a", "hs2-a.example.com", "10.1.2.3", "::1", "host_with_underscore", "h."])
def test_valid_hosts(host):
    assert validate_host(host)


@pytest.mark.parametrize("host", ["", "a b", "a;b", "a\nb", "-a", "a-", "a..b", "999.1.1.1", "x" * 64, "{a}", "fe80::1%eth0"])
def test_invalid_hosts(host):
    with pytest.raises(ValueError):
        validate_host(host)


@pytest.mark.parametrize("port", ["0", "65536", "-1", "1e3", " 1", "", True, 3.5, "٣"])
def test_invalid_ports(port):
    with pytest.raises(ValueError):
        validate_port(port)


def test_split_hostport_brackets():
    assert split_hostport("[::1]:5") == ("::1", 5)
    with pytest.raises(ValueError):
        split_hostport("[::1]5")


def test_name_parse_exposes_fields():
    info = parse_znode_name(NAME)
    assert (info.host, info.port, info.sequence) == ("hs2-a.example.com", 10000, 12)


# -- properties: whatever ZooKeeper holds, the parser returns an Endpoint or raises MalformedRegistration --
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
keys = st.sampled_from(["hive.server2.thrift.bind.host", "hive.server2.instance.uri", "hive.server2.transport.mode",
                        "hive.server2.thrift.port", "hive.server2.thrift.http.port", "hive.server2.use.SSL",
                        "hive.server2.authentication", "hive.server2.thrift.sasl.qop", "hive.server2.thrift.http.path",
                        "hive.server2.authentication.kerberos.principal"])
config_data = st.dictionaries(keys, texts, max_size=8).map(lambda d: ";".join(f"{k}={v}" for k, v in d.items()).encode())
names = st.one_of(texts, st.builds(lambda h, p, s: f"serverUri={h}:{p};version=1;sequence={s}", texts, texts, texts))


def _parses_or_malformed(fn, *args):
    try:
        e = fn(*args)
    except MalformedRegistration:
        return
    # Whatever made it through is safe to write into a config line or a URL.
    for value in (e.host, str(e.port), e.http_path, e.principal or "", e.authentication):
        assert not any(c in value for c in "\n\r;{}\"' \t")
    assert 1 <= e.port <= 65535


@settings(max_examples=300, deadline=None)
@given(names, st.one_of(st.none(), st.binary(max_size=300), config_data))
def test_hs2_parser_never_raises_anything_else(name, data):
    _parses_or_malformed(endpoint_from_znode, "/hiveserver2", name, data)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | texts,
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(texts, c, max_size=4), max_leaves=20)
records = st.fixed_dictionaries({"internal": st.lists(st.fixed_dictionaries({
    "api": st.sampled_from(["activeEndpoint", "passiveEndpoint", "x"]),
    "addresses": st.lists(st.dictionaries(st.sampled_from(["host", "port"]), json_values | texts), max_size=2),
}), max_size=3)}, optional={"hive.server2.transport.mode": texts, "hive.server2.thrift.http.port": texts})


@settings(max_examples=300, deadline=None)
@given(texts, st.one_of(st.none(), st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                        records.map(lambda v: json.dumps(v).encode())))
def test_service_record_parser_never_raises_anything_else(name, data):
    _parses_or_malformed(endpoint_from_service_record, "/r/instances", name, data)
