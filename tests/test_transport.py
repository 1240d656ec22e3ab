"""The one Thrift transport builder (hive_ha.clients.transport) and its two users, ``hive_ha.connect``'s PyHive
path and ``hive-ha check``: what each builds for each transport and authentication. Building does no I/O."""
import base64
import ssl

import pytest

pytest.importorskip("pyhive")
pytest.importorskip("thrift_sasl")

from thrift.transport.TSocket import TSocket  # noqa: E402
from thrift.transport.TTransport import TBufferedTransport  # noqa: E402
from thrift_sasl import TSaslClientTransport  # noqa: E402

from hive_ha.clients.deployment_check import Credentials, _transport  # noqa: E402
from hive_ha.clients.dbapi import pyhive_transport  # noqa: E402
from hive_ha.clients.tls import TlsSettings  # noqa: E402
from hive_ha.clients.transport import HTTP_DEFAULT_PASSWORD, HTTP_DEFAULT_USER, thrift_transport  # noqa: E402
from hive_ha.errors import ConfigError  # noqa: E402
from hive_ha.model.endpoint import Endpoint  # noqa: E402


def header(client):
    return (client._THttpClient__custom_headers or {}).get("Authorization")  # noqa: SLF001


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("auth, password, expected", [
    ("NOSASL", None, None),
    ("NONE", None, basic("bob", HTTP_DEFAULT_PASSWORD)),
    ("LDAP", "pw", basic("bob", "pw")),
    ("CUSTOM", "pw", basic("bob", "pw")),
])
def test_http_credentials_follow_the_authentication(auth, password, expected):
    client, timed = thrift_transport("h", 10001, auth=auth, timeout=2.5, user="bob", password=password,
                                     http_path="gw/hive")
    assert timed is client and (client.scheme, client.host, client.port, client.path) == ("http", "h", 10001, "/gw/hive")
    assert header(client) == expected
    assert client._THttpClient__timeout == 2.5  # noqa: SLF001


def test_https_and_pyhives_basic_credentials_by_default():
    client, _ = thrift_transport("::1", 443, auth="NONE", timeout=1, http_path="cliservice", tls=TlsSettings())
    assert client.scheme == "https" and client.host == "::1" and client.path == "/cliservice"
    assert client.context.verify_mode == ssl.CERT_REQUIRED and client.context.check_hostname
    assert header(client) == basic(HTTP_DEFAULT_USER, HTTP_DEFAULT_PASSWORD)  # what PyHive sends, and we always sent


@pytest.mark.parametrize("auth, mechanism", [("NONE", "PLAIN"), ("LDAP", "PLAIN"), ("KERBEROS", "GSSAPI")])
def test_binary_sasl(auth, mechanism):
    transport, sock = thrift_transport("h", 10000, auth=auth, timeout=3, user="bob")
    assert isinstance(transport, TSaslClientTransport) and transport.mechanism == mechanism
    assert isinstance(sock, TSocket) and not hasattr(sock, "context") and sock._timeout == 3  # noqa: SLF001


def test_binary_nosasl_and_tls():
    transport, sock = thrift_transport("h", 10000, auth="NOSASL", timeout=4)
    assert isinstance(transport, TBufferedTransport) and sock._timeout == 4  # noqa: SLF001
    _, sock = thrift_transport("h", 10000, auth="NOSASL", timeout=4, tls=TlsSettings())
    assert isinstance(sock, TSocket) and sock.context.verify_mode == ssl.CERT_REQUIRED and sock.context.check_hostname
    assert sock._timeout == 4  # noqa: SLF001 - the handshake runs within it


def test_pyhive_path_posts_to_pyhives_path_with_a_timeout():
    kw = {"host": "h", "port": 10001, "scheme": "http", "auth": "BASIC", "password": "pw", "username": "bob",
          "database": "default"}
    transport, timed, rest = pyhive_transport(kw, 7)
    assert transport is timed and transport.path == "/cliservice/" and header(transport) == basic("bob", "pw")
    assert timed._THttpClient__timeout == 7 and rest == {"username": "bob", "database": "default"}  # noqa: SLF001
    transport, timed, _ = pyhive_transport({"host": "h", "port": 10000, "auth": "NOSASL"}, 8)
    assert isinstance(transport, TBufferedTransport) and timed._timeout == 8  # noqa: SLF001


@pytest.mark.parametrize("driver_args", [{}, {"ssl_cert": "required", "check_hostname": "true"}])
def test_pyhive_https_is_verified_whatever_pyhive_would_do(driver_args):
    """PyHive 0.7 alone verifies nothing over HTTPS unless ssl_cert="required"; through hive-ha it always does."""
    kw = {"host": "h", "port": 10001, "scheme": "https", "auth": "NONE", **driver_args}
    transport, _, rest = pyhive_transport(kw, 7)
    assert transport.context.verify_mode == ssl.CERT_REQUIRED and transport.context.check_hostname
    assert "ssl_cert" not in rest and "check_hostname" not in rest


@pytest.mark.parametrize("driver_args", [{"ssl_cert": "none"}, {"ssl_cert": "optional"}, {"check_hostname": "false"}])
def test_pyhives_own_tls_arguments_cannot_turn_verification_off(driver_args):
    with pytest.raises(ConfigError, match="ssl_verify=False"):
        pyhive_transport({"host": "h", "port": 10001, "scheme": "https", "auth": "NONE", **driver_args}, 7)


def test_check_speaks_what_the_endpoint_published():
    creds = Credentials("carol", "pw")
    http = Endpoint("h", 10001, "/z", transport_mode="http", http_port=10001, http_path="p", use_ssl=True,
                    authentication="LDAP")
    client = _transport(http, creds, 5)
    assert (client.scheme, client.port, client.path) == ("https", 10001, "/p") and header(client) == basic("carol", "pw")
    assert client.context.verify_mode == ssl.CERT_REQUIRED and client.context.check_hostname
    binary = Endpoint("h", 10000, "/z", authentication="KERBEROS", principal="impala/h@R")
    transport = _transport(binary, creds, 5)
    assert isinstance(transport, TSaslClientTransport) and transport.mechanism == "GSSAPI"
