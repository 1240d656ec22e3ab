"""The value rules (hive_ha.model.values), how principals and URLs are built (hive_ha.model.addressing) and secret
scrubbing (hive_ha.redact): pure, no I/O. The spelling tables say what each kind of input accepts."""
import json
import pickle

import pytest

from hive_ha.clients.jdbc_url import ConnectOptions, parse_jdbc_url
from hive_ha.core.config import from_sections
from hive_ha.errors import ConfigError, MalformedRegistration
from hive_ha.lb import validate
from hive_ha.model.addressing import (DEFAULT_HTTP_PATH, host_principal, http_url, resolve_principal, service_name,
                                      split_principal)
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.registration import endpoint_from_znode
from hive_ha.redact import HIDDEN, hide_if_secret, scrub
from hive_ha.model.values import (CLIENT_AUTHS, CLIENT_TRANSPORTS, HIVE_BOOLEANS, INI_BOOLEANS, PASSWORD_AUTHS,
                                  Authentication, Qop, TransportMode, as_bool, choice, parse_bool, split_hostport)

NAME = "serverUri=h:10000;version=1;sequence=0000000001"
TRUE_HIVE = ["true", "TRUE", "True", " true "]
FALSE_HIVE = ["false", "FALSE", "False", "\tfalse\n"]
TRUE_INI_ONLY = ["yes", "YES", "on", "On", "1"]
FALSE_INI_ONLY = ["no", "No", "off", "OFF", "0"]
NEITHER = ["", "maybe", "y", "n", "t", "f", "2", "truee", "nay", "yea"]


# -- booleans: one rule, two vocabularies ----------------------------------------------------------------------
@pytest.mark.parametrize("text", TRUE_HIVE + FALSE_HIVE)
def test_hive_spellings_are_accepted_everywhere(text):
    expected = text.strip().lower() == "true"
    assert parse_bool("k", text, HIVE_BOOLEANS) is expected
    assert parse_bool("k", text, INI_BOOLEANS) is expected
    assert _znode_ssl(text) is expected
    assert _url_ssl(text) is expected
    assert _ini(text) is expected


@pytest.mark.parametrize("text", TRUE_INI_ONLY + FALSE_INI_ONLY)
def test_ini_only_spellings_are_ini_only(text):
    """hue.ini takes Hue's words; a URL or a znode would mean something else to Hive's JDBC driver (which reads
    anything but "true" as false), so there they are refused rather than read as true."""
    expected = text in TRUE_INI_ONLY
    assert parse_bool("k", text, INI_BOOLEANS) is expected
    assert _ini(text) is expected
    assert as_bool(text, HIVE_BOOLEANS) is None
    with pytest.raises(ConfigError, match="true or false"):
        _url_ssl(text)
    with pytest.raises(MalformedRegistration, match="true or false"):
        _znode_ssl(text)


@pytest.mark.parametrize("text", NEITHER)
def test_other_spellings_are_refused_everywhere(text):
    for words in (HIVE_BOOLEANS, INI_BOOLEANS):
        with pytest.raises(ConfigError) as err:
            parse_bool("some key", text, words)
        assert (err.value.key, err.value.value, err.value.allowed) == ("some key", text, "true or false")
    with pytest.raises(ConfigError, match=r"\[hive_ha\] enabled"):
        _ini(text)
    with pytest.raises(MalformedRegistration):
        _znode_ssl(text)
    if text.strip():  # an empty URL value is not key=value
        with pytest.raises(ConfigError):
            _url_ssl(text)


def test_bools_pass_through_and_other_types_are_refused():
    assert parse_bool("k", True) is True and parse_bool("k", False, INI_BOOLEANS) is False
    assert ConnectOptions("zk1", ssl=True).ssl is True
    assert parse_bool("k", 1, INI_BOOLEANS) is True  # as str(1) == "1" in an ini file
    with pytest.raises(ConfigError):
        parse_bool("k", 1)
    with pytest.raises(ConfigError):
        parse_bool("k", None, INI_BOOLEANS)


def _znode_ssl(text):
    data = f"hive.server2.thrift.bind.host=h;hive.server2.use.SSL={text}".encode()
    return endpoint_from_znode("/hiveserver2", NAME, data).use_ssl


def _url_ssl(text):
    return ConnectOptions(**parse_jdbc_url(f"hive2://zk1/db;serviceDiscoveryMode=zooKeeper;ssl={text}")).ssl


def _ini(text):
    return from_sections({"hive_ha": {"enabled": text}}).enabled


# -- the vocabulary ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("member, value", [(TransportMode.HTTP, "http"), (Authentication.NOSASL, "NOSASL"),
                                           (Qop.AUTH_CONF, "auth-conf")])
def test_a_member_is_its_value_wherever_a_string_is(member, value):
    assert member == value and value == member and isinstance(member, str)
    assert str(member) == f"{member}" == "%s" % member == format(member, "") == value
    assert repr(member) == repr(value)
    assert hash(member) == hash(value) and {value: 1}[member] == 1 and member in {value}
    assert json.dumps({"k": member, member: [member]}) == json.dumps({"k": value, value: [value]})
    assert pickle.loads(pickle.dumps(member)) is member
    as_member, as_value = Endpoint("h", 1, "/z", transport_mode=member), Endpoint("h", 1, "/z", transport_mode=value)
    assert as_member == as_value and hash(as_member) == hash(as_value) and repr(as_member) == repr(as_value)


def test_lookup_folds_case_and_nothing_else():
    assert TransportMode("HTTP") is TransportMode.find("Http") is TransportMode.HTTP
    assert Authentication("nosasl") is Authentication.find("NoSasl") is Authentication.NOSASL
    assert Qop("AUTH-INT") is Qop.AUTH_INT
    assert TransportMode.find(" http") is None and Authentication.find("NO_SASL") is None
    assert Qop.find(None) is None and TransportMode.find(1) is None
    with pytest.raises(ValueError):
        TransportMode("smtp")


def test_the_subsets_and_their_spelling():
    assert TransportMode.spelled() == "binary, http, all"
    assert Qop.spelled() == "auth, auth-int, auth-conf"
    assert Authentication.spelled() == "NONE, NOSASL, KERBEROS, LDAP, PAM, CUSTOM, SAML, JWT"
    assert CLIENT_TRANSPORTS == ("binary", "http")
    assert CLIENT_AUTHS == ("NOSASL", "NONE", "LDAP", "CUSTOM", "KERBEROS")
    assert PASSWORD_AUTHS == ("LDAP", "PAM", "CUSTOM")


def test_parsed_endpoints_carry_members_and_unknown_authentications_as_published():
    data = (b"hive.server2.thrift.bind.host=h;hive.server2.transport.mode=HTTP;hive.server2.thrift.http.port=10001;"
            b"hive.server2.authentication=ldap;hive.server2.thrift.sasl.qop=AUTH-CONF")
    e = endpoint_from_znode("/hiveserver2", NAME, data)
    assert e.transport_mode is TransportMode.HTTP and e.authentication is Authentication.LDAP
    assert e.sasl_qop is Qop.AUTH_CONF
    assert json.loads(json.dumps(e.as_dict()))["transport_mode"] == "http"
    future = endpoint_from_znode("/hiveserver2", NAME, b"hive.server2.thrift.bind.host=h;"
                                                       b"hive.server2.authentication=oauth2")
    assert future.authentication == "OAUTH2" and type(future.authentication) is str


# -- one of these -----------------------------------------------------------------------------------------------
def test_choice_folds_strips_and_returns_the_option():
    assert choice("k", " HTTP ", CLIENT_TRANSPORTS) is TransportMode.HTTP
    assert choice("k", "Auth-Conf", Qop) is Qop.AUTH_CONF
    assert choice("k", "gssapi", ("DIGEST-MD5", "GSSAPI"), fold=str.upper) == "GSSAPI"
    assert choice("k", "tcp", ("http", "tcp"), fold=None) == "tcp"


@pytest.mark.parametrize("value, options, fold", [
    ("all", CLIENT_TRANSPORTS, str.lower),  # a server mode, not one a client dials
    ("TCP", ("http", "tcp"), None),  # fold=None: exactly as given
    (" tcp", ("http", "tcp"), None),
    (None, ("a",), str.lower),
    (3, ("3",), str.lower),
])
def test_choice_refuses_with_the_options_named(value, options, fold):
    with pytest.raises(ConfigError) as err:
        choice("the key", value, options, fold=fold)
    assert err.value.key == "the key" and err.value.value == value
    assert err.value.allowed == "one of " + ", ".join(options)


def test_choice_message_can_be_given():
    with pytest.raises(ConfigError, match=r"expected one of NOSASL, NONE, LDAP, CUSTOM, KERBEROS \(noSasl"):
        ConnectOptions("zk1", auth="PAM")
    assert ConnectOptions("zk1", auth="noSasl").auth is Authentication.NOSASL
    assert ConnectOptions("zk1", auth="no_sasl").auth is Authentication.NOSASL


# -- hosts and ports --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("h", ("h", 2181)), ("h:1", ("h", 1)), ("[::1]", ("::1", 2181)), ("[::1]:5", ("::1", 5)),
    ("2001:db8::5:10000", ("2001:db8::5", 10000)), (" h ", ("h", 2181)),
])
def test_split_hostport_with_a_default_port(text, expected):
    assert split_hostport(text, 2181) == expected


@pytest.mark.parametrize("text", ["[abc", "h]", "[[::1]]", "::1", "h:", ":1", "", "h:0", "a b"])
def test_split_hostport_refusals(text):
    with pytest.raises(ValueError):
        split_hostport(text, 2181)


def test_without_a_default_the_port_is_required():
    with pytest.raises(ValueError, match="no port"):
        split_hostport("h")
    with pytest.raises(ValueError, match=r"not \[host\]:port"):
        split_hostport("[::1]")


def test_load_balancer_inputs_use_the_same_rule_but_refuse_surrounding_space():
    assert validate.hostport("--server", "h", 10000) == ("h", 10000)
    assert validate.hostport("--server", "[::1]", 10000) == ("::1", 10000)
    with pytest.raises(ConfigError):
        validate.hostport("--server", " h:1", 10000)  # no stripping in what ends up in a config line
    with pytest.raises(ConfigError):
        validate.hostport("--server", "h")


# -- principals and URLs ----------------------------------------------------------------------------------------
def test_one_host_rule_for_placeholders_and_the_principal_a_client_asks_for():
    assert host_principal("hive", "HS2-A.Example.COM") == "hive/hs2-a.example.com"
    assert resolve_principal("hive/_HOST@R", "HS2-A.Example.COM") == host_principal("hive", "HS2-A.Example.COM") + "@R"
    assert resolve_principal("hive/_HOST@", "h") == "hive/h@" and resolve_principal("", "h") is None


def test_a_principal_given_with_host_placeholder_names_the_server_dialled():
    from hive_ha.clients.dbapi import resolve

    endpoint = Endpoint("HS2-A.example.com", 10000, "/z", authentication="KERBEROS", principal="hive/other@R")
    target = resolve(endpoint, ConnectOptions("zk1", principal="impala/_HOST@R"))
    assert target.principal == "impala/hs2-a.example.com@R" and target.kerberos_service_name == "impala"
    assert resolve(endpoint, ConnectOptions("zk1")).principal == "hive/other@R"


@pytest.mark.parametrize("principal, parts, service", [
    ("hive/h@R", ("hive", "h", "R"), "hive"), ("impala@R", ("impala", "", "R"), "impala"),
    ("hive/h", ("hive", "h", ""), "hive"), (None, None, "hive"), ("", None, "hive"),
])
def test_principal_parts_and_service_name(principal, parts, service):
    if parts is not None:
        assert split_principal(principal) == parts
    assert service_name(principal) == service
    assert service_name(principal, None) == (service if principal else None)


def test_http_url_defaults_stated_once():
    assert DEFAULT_HTTP_PATH == "cliservice" and Endpoint("h", 1, "/z").http_path == DEFAULT_HTTP_PATH
    assert http_url("h", 10001) == "http://h:10001/cliservice"
    assert http_url("::1", 1, ssl=True, path="/gw/hive") == "https://[::1]:1/gw/hive"
    assert http_url("h", 1, path="cliservice/") == "http://h:1/cliservice/"  # PyHive's own path, kept as given
    e = Endpoint("h", 10000, "/z", http_port=10001, use_ssl=True, http_path="/p")
    assert e.http_url == http_url("h", 10001, ssl=True, path="p") == "https://h:10001/p"


# -- secrets ----------------------------------------------------------------------------------------------------
def test_scrub_hides_every_secret_everywhere():
    assert scrub("pw1 then pw2 and pw1", "pw1", "pw2") == f"{HIDDEN} then {HIDDEN} and {HIDDEN}"
    assert scrub("nothing to hide", None, "") == "nothing to hide"
    assert scrub("", "pw") == ""


def test_secret_settings_and_url_parts_are_hidden():
    assert ConfigError("password", "s3cret", "x", secret=True).value == HIDDEN
    assert hide_if_secret("Password") == HIDDEN and hide_if_secret("ssl") == "ssl"
    with pytest.raises(ConfigError) as err:
        parse_jdbc_url("hive2://zk1/db;serviceDiscoveryMode=zooKeeper?password-s3cret")
    assert "s3cret" not in str(err.value) and HIDDEN in str(err.value)
