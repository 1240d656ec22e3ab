"""Pure parsing of Hive registrations: every layout, both data forms, and no crash on any input."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_ha.model.values import format_hostport, split_hostport, validate_host, validate_port
from hive_ha.errors import MalformedRegistration
from hive_ha.model.registration import endpoint_from_service_record, endpoint_from_znode, parse_config_string, parse_znode_name

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
    assert (e.host, e.port, e.sequence, e.address_only) == ("hs2-b.example.com", 10005, 12, True)
    assert not endpoint_from_znode("/h", NAME, published()).address_only


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
# The generators mix valid registrations, registrations with some hostile fields, and garbage; each property test
# counts what parsed, so the "whatever parses is safe" assertions are known to run on real examples.
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
hosts = st.sampled_from(["hs2-a.example.com", "h", "10.0.0.7", "::1", "2001:db8::5", "host_with_underscore"])
ports = st.integers(1, 65535)
valid_values = {
    "hive.server2.thrift.bind.host": hosts | st.just("0.0.0.0"),
    "hive.server2.instance.uri": st.builds(format_hostport, hosts, ports),
    "hive.server2.transport.mode": st.sampled_from(["binary", "http", "all", "HTTP"]),
    "hive.server2.thrift.port": ports.map(str),
    "hive.server2.thrift.http.port": ports.map(str),
    "hive.server2.use.SSL": st.sampled_from(["true", "false", "TRUE"]),
    "hive.server2.authentication": st.sampled_from(["NONE", "NOSASL", "KERBEROS", "LDAP", "SAML"]),
    "hive.server2.thrift.sasl.qop": st.sampled_from(["auth", "auth-int", "auth-conf"]),
    "hive.server2.thrift.http.path": st.sampled_from(["cliservice", "/gateway/default/hive", "x"]),
    "hive.server2.authentication.kerberos.principal": st.sampled_from(["hive/_HOST@EXAMPLE.COM", "hive@R"]),
}
valid_configs = st.fixed_dictionaries({}, optional=valid_values)
hostile_configs = st.fixed_dictionaries({}, optional={k: v | texts for k, v in valid_values.items()})
as_data = lambda d: ";".join(f"{k}={v}" for k, v in d.items()).encode()  # noqa: E731
valid_names = st.builds(lambda h, p, s: f"serverUri={format_hostport(h, p)};version=3.1.3;sequence={s:010d}",
                        hosts, ports, st.integers(0, 9_999_999_999))
names = st.one_of(valid_names, texts,
                  st.builds(lambda h, p, s: f"serverUri={h}:{p};version=1;sequence={s}", hosts | texts, ports | texts,
                            texts))
datas = st.one_of(st.none(), st.binary(max_size=300), valid_configs.map(as_data), hostile_configs.map(as_data))


def _parses_or_malformed(fn, *args):
    try:
        e = fn(*args)
    except MalformedRegistration:
        return "malformed"
    # Whatever made it through is safe to write into a config line or a URL.
    for value in (e.host, str(e.port), e.http_path, e.principal or "", e.authentication):
        assert not any(c in value for c in "\n\r;{}\"' \t")
    assert 1 <= e.port <= 65535
    return "parsed"


def run_counting(strategies, fn, *prefix):
    """Run the property over ``strategies`` (300 examples); returns how many parsed and how many did not."""
    outcomes = {"parsed": 0, "malformed": 0}

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.tuples(*strategies))
    def check(drawn):
        outcomes[_parses_or_malformed(fn, *prefix, *drawn)] += 1

    check()
    return outcomes


def test_hs2_parser_never_raises_anything_else():
    outcomes = run_counting((names, datas), endpoint_from_znode, "/hiveserver2")
    assert outcomes["parsed"] >= 30 and outcomes["malformed"] >= 30, outcomes


@settings(max_examples=200, deadline=None)
@given(valid_names, valid_configs)
def test_valid_registrations_parse_to_what_they_publish(name, config):
    e = endpoint_from_znode("/hiveserver2", name, as_data(config))
    info = parse_znode_name(name)
    bind = config.get("hive.server2.thrift.bind.host", "")
    uri = config.get("hive.server2.instance.uri")
    expected_host = bind if bind not in ("", "0.0.0.0") else split_hostport(uri)[0] if uri else info.host
    mode = config.get("hive.server2.transport.mode", "binary").lower()
    if mode == "http":
        expected_port = int(config.get("hive.server2.thrift.http.port") or info.port)
    else:
        expected_port = int(config.get("hive.server2.thrift.port") or info.port)
    assert (e.host, e.port, e.transport_mode, e.sequence) == (expected_host, expected_port, mode, info.sequence)
    assert e.authentication == config.get("hive.server2.authentication", "NONE")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | texts,
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(texts, c, max_size=4), max_leaves=20)
valid_addresses = st.fixed_dictionaries({"host": hosts, "port": ports.map(str)})
records = st.fixed_dictionaries({"internal": st.lists(st.fixed_dictionaries({
    "api": st.sampled_from(["activeEndpoint", "passiveEndpoint", "x"]),
    "addresses": st.lists(valid_addresses | st.dictionaries(st.sampled_from(["host", "port"]), json_values | texts),
                          max_size=2),
}), max_size=3)}, optional={k: v | texts for k, v in valid_values.items()})
valid_records = st.builds(
    lambda api, address, flat: {"type": "JSONServiceRecord", "internal": [
        {"api": "webui", "addresses": [{"uri": "http://x:10502"}]},
        {"api": api, "addresses": [address]}], **flat},
    st.sampled_from(["activeEndpoint", "passiveEndpoint"]), valid_addresses, valid_configs)
record_names = st.one_of(st.integers(0, 9_999_999_999).map(lambda n: f"instance-{n:010d}"), texts)


def test_service_record_parser_never_raises_anything_else():
    data = st.one_of(st.none(), st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                     records.map(lambda v: json.dumps(v).encode()), valid_records.map(lambda v: json.dumps(v).encode()))
    outcomes = run_counting((record_names, data), endpoint_from_service_record, "/r/instances")
    assert outcomes["parsed"] >= 30 and outcomes["malformed"] >= 30, outcomes


@pytest.mark.parametrize("principal, host, expected", [
    ("hive/_HOST@EXAMPLE.COM", "HS2-A.Example.com", "hive/hs2-a.example.com@EXAMPLE.COM"),
    ("hive/_HOST", "h1", "hive/h1"),
    ("my_HOST_svc/_HOST@R", "h1", "my_HOST_svc/h1@R"),  # only the instance part is the placeholder
    ("hive/_HOSTS@R", "h1", "hive/_HOSTS@R"),
    ("hive/h0@_HOST.R", "h1", "hive/h0@_HOST.R"),
    ("_HOST@R", "h1", "_HOST@R"),
])
def test_host_placeholder_follows_hadoop(principal, host, expected):
    from hive_ha.model.addressing import resolve_principal

    assert resolve_principal(principal, host) == expected


def test_ipv6_server_principal_is_valid():
    from hive_ha.model.values import PRINCIPAL_RE
    from hive_ha.clients.jdbc_url import ConnectOptions

    e = endpoint_from_znode("/h", "serverUri=[2001:db8::5]:10000;version=3;sequence=0000000001", published(**{
        "hive.server2.thrift.bind.host": "2001:db8::5", "hive.server2.authentication": "KERBEROS",
        "hive.server2.authentication.kerberos.principal": "hive/_HOST@EXAMPLE.COM"}))
    assert e.principal == "hive/2001:db8::5@EXAMPLE.COM" and PRINCIPAL_RE.fullmatch(e.principal)
    assert ConnectOptions("zk1:2181", principal=e.principal).principal == e.principal


def test_malformed_reason_and_name_are_bounded():
    huge = b"x" * 500_000  # not key=value: the reason quotes it
    with pytest.raises(MalformedRegistration) as info:
        endpoint_from_znode("/h", NAME, huge + b"=1;" + huge)
    assert len(info.value.reason) < 300 and "characters)" in info.value.reason
    with pytest.raises(MalformedRegistration) as info:
        endpoint_from_znode("/h", "serverUri=" + "h" * 100_000 + ":1;sequence=1", b"")
    assert len(str(info.value)) < 1000
