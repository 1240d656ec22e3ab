"""Connection settings for ``hive_ha.connect`` and the two URL forms that carry them (pure, no I/O).

* The Hive JDBC form: ``[jdbc:]hive2://zk1:2181,zk2:2181[/db][;key=value...][?hiveconf=v;...][#hivevar=v;...]``
  with ``serviceDiscoveryMode=zooKeeper|zooKeeperHA`` (required) and ``zooKeeperNamespace``.
* The SQLAlchemy form: ``hive+zookeeper://[user[:password]@]zk1,zk2[:port]/db?key=value&...`` with the same keys
  as query parameters (``serviceDiscoveryMode`` defaults to ``zooKeeper`` there), plus ``zooKeeperQuorum`` for
  ensembles whose members use different ports (SQLAlchemy's URL parser accepts only one port).

Every bad value raises ``ConfigError`` naming the part, the value and what is allowed; passwords are never echoed.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from hive_ha.clients.tls import TlsSettings
from hive_ha.core.selection import POLICIES
from hive_ha.errors import ConfigError
from hive_ha.model.layouts import Service, normalize_path
from hive_ha.model.values import (CLIENT_AUTHS, CLIENT_TRANSPORTS, HIVE_BOOLEANS, HTTP_PATH_RE, PRINCIPAL_RE,
                                  Authentication, Qop, choice, format_hostport, parse_bool, split_hostport)
from hive_ha.redact import hide_if_secret

ZK_DEFAULT_PORT = 2181
#: Seconds each step of opening a connection may wait (TCP connect, TLS/SASL handshake, OpenSession): past it the
#: server counts as unreachable and the next one is tried.
CONNECT_TIMEOUT = 10.0
#: Seconds any later call on an open connection may wait for the server (Hue's server_conn_timeout default).
SOCKET_TIMEOUT = 120.0
DRIVERS = ("pyhive", "impyla")
# serviceDiscoveryMode (compared case-insensitively, as the JDBC driver does) -> layout
DISCOVERY_MODES = {"zookeeper": "hs2", "zookeeperha": "hsi-ha"}

_DATABASE = re.compile(r"[A-Za-z0-9_]{1,128}")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_USER = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_CONF_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,256}")


@dataclasses.dataclass(frozen=True)
class ConnectOptions:
    """Validated settings of one ``hive_ha.connect`` call.

    ``None`` means "take what the chosen server published" (``auth``, ``transport_mode``, ``http_path``, ``ssl``,
    ``sasl_qop``, ``principal``), exactly where the Hive JDBC driver lets published settings fill in the URL.
    ``ssl_ca``, ``ssl_cert``, ``ssl_key``, ``ssl_verify``: how TLS is verified wherever it is used (``tls``).
    """

    zookeeper: str
    namespace: Optional[str] = None  # None: the layout's default
    layout: str = "hs2"
    database: str = "default"
    auth: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    kerberos_service_name: Optional[str] = None
    principal: Optional[str] = None
    transport_mode: Optional[str] = None
    http_path: Optional[str] = None
    ssl: Optional[bool] = None
    sasl_qop: Optional[str] = None
    ssl_ca: Optional[str] = None
    ssl_cert: Optional[str] = None
    ssl_key: Optional[str] = None
    ssl_verify: bool = True
    retries: int = 1
    policy: str = "random"
    driver: str = "pyhive"
    configuration: Tuple[Tuple[str, str], ...] = ()
    connect_timeout: float = CONNECT_TIMEOUT
    socket_timeout: float = SOCKET_TIMEOUT

    def __post_init__(self) -> None:
        def set_(key: str, value: object) -> None:  # frozen: normalise fields in place
            object.__setattr__(self, key, value)

        set_("zookeeper", normalize_zookeeper(self.zookeeper))
        set_("layout", choice("layout", self.layout, ("hs2", "hsi", "hsi-ha")))
        if self.namespace is not None:
            set_("namespace", normalize_path(self.namespace))
        if not isinstance(self.database, str) or not _DATABASE.fullmatch(self.database):
            raise ConfigError("database", self.database, "a database name of letters, digits and _")
        if self.auth is not None:
            set_("auth", normalize_auth(self.auth))
        for key in ("username", "password"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not _USER.fullmatch(value)):
                raise ConfigError(key, value, "a non-empty single line of text", secret=key == "password")
        _match("kerberos_service_name", self.kerberos_service_name, _SERVICE_NAME, "a service name such as hive")
        _match("principal", self.principal, PRINCIPAL_RE, "a Kerberos principal such as hive/_HOST@EXAMPLE.COM")
        _match("http_path", self.http_path, HTTP_PATH_RE, "a URL path such as cliservice")
        if self.transport_mode is not None:
            set_("transport_mode", choice("transport_mode", self.transport_mode, CLIENT_TRANSPORTS))
        if self.ssl is not None and not isinstance(self.ssl, bool):
            set_("ssl", parse_bool("ssl", self.ssl, HIVE_BOOLEANS))
        if self.sasl_qop is not None:
            set_("sasl_qop", choice("sasl_qop", self.sasl_qop, Qop))
        if not isinstance(self.ssl_verify, bool):
            set_("ssl_verify", parse_bool("ssl_verify", self.ssl_verify, HIVE_BOOLEANS))
        _ = self.tls  # validates the TLS settings now, before any I/O
        set_("retries", parse_retries(self.retries))
        set_("policy", choice("policy", self.policy, POLICIES))
        set_("driver", choice("driver", self.driver, DRIVERS))
        set_("configuration", _configuration(self.configuration))
        set_("connect_timeout", parse_seconds("connect_timeout", self.connect_timeout, 3600))
        set_("socket_timeout", parse_seconds("socket_timeout", self.socket_timeout, 86400))

    @property
    def service(self) -> Service:
        return Service.of(self.layout, self.namespace)

    @property
    def tls(self) -> TlsSettings:
        """How a server is verified (and this client authenticated) wherever TLS is used."""
        return TlsSettings(ca=self.ssl_ca, cert=self.ssl_cert, key=self.ssl_key, verify=self.ssl_verify)


# -- the JDBC form -------------------------------------------------------------------------------
# JDBC session variable (lower-cased) -> ConnectOptions field. Keys are matched case-insensitively: the JDBC driver
# silently ignores a mis-cased key, a classic way to lose zooKeeperNamespace.
_SESSION_KEYS = {
    "servicediscoverymode": "layout",
    "zookeepernamespace": "namespace",
    "transportmode": "transport_mode",
    "httppath": "http_path",
    "ssl": "ssl",
    "sslca": "ssl_ca",
    "sslcert": "ssl_cert",
    "sslkey": "ssl_key",
    "sslverify": "ssl_verify",
    "principal": "principal",
    "saslqop": "sasl_qop",
    "auth": "auth",
    "user": "username",
    "password": "password",
    "retries": "retries",
    "kerberosservicename": "kerberos_service_name",
    "selectionpolicy": "policy",
    "connecttimeout": "connect_timeout",  # milliseconds, as in the Hive JDBC driver
    "sockettimeout": "socket_timeout",  # milliseconds, as in the Hive JDBC driver
}
_MILLISECONDS = ("connect_timeout", "socket_timeout")
_SESSION_SPELLING = ("serviceDiscoveryMode, zooKeeperNamespace, transportMode, httpPath, ssl, sslCa, sslCert, sslKey, "
                     "sslVerify, principal, saslQop, auth, user, password, retries, kerberosServiceName, "
                     "selectionPolicy, connectTimeout, socketTimeout")
#: The Hive JDBC driver's Java key and trust stores (lower-cased) -> what hive-ha takes instead: PEM files.
_JAVA_STORES = {
    "ssltruststore": "sslCa=<PEM file of the CA certificates> (keytool -exportcert -rfc exports a Java trust store's)",
    "truststorepassword": "nothing: sslCa is a PEM file, read without a password",
    "truststoretype": "nothing: sslCa is a PEM file",
    "twoway": "sslCert=<PEM client certificate>;sslKey=<PEM key> (a client certificate is sent whenever one is given)",
    "sslkeystore": "sslCert=<PEM client certificate>;sslKey=<its unencrypted PEM key>",
    "keystorepassword": "nothing: sslKey is an unencrypted PEM key",
}


def parse_jdbc_url(url: str) -> Dict[str, Any]:
    """``hive2://zk1:2181,zk2:2181/db;serviceDiscoveryMode=zooKeeper;...`` -> ``ConnectOptions`` keyword arguments."""
    if not isinstance(url, str):
        raise ConfigError("url", url, "a string such as hive2://zk1:2181/db;serviceDiscoveryMode=zooKeeper")
    rest = None
    for prefix in ("jdbc:hive2://", "hive2://"):
        if url.startswith(prefix):
            rest = url[len(prefix):]
    if rest is None:
        raise ConfigError("url scheme", url.split("//")[0] + "//", "jdbc:hive2:// or hive2://")
    rest, _, hivevars = rest.partition("#")
    rest, _, hiveconfs = rest.partition("?")
    cut = min([i for i in (rest.find("/"), rest.find(";")) if i >= 0], default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if not authority:
        raise ConfigError("url hosts", authority, "the ZooKeeper ensemble, host:port[,host:port...]")
    database, *session = path[1:].split(";") if path.startswith("/") else ("", *path.split(";"))
    fields: Dict[str, Any] = {"zookeeper": authority}
    if database:
        fields["database"] = database
    for key, value in _pairs(session, "url session variable", ";"):
        _set_session_var(fields, key, value)
    if "layout" not in fields:
        raise ConfigError("serviceDiscoveryMode", None,
                          "zooKeeper or zooKeeperHA (hive_ha.connect always discovers servers in ZooKeeper)")
    fields["configuration"] = _hive_settings(hiveconfs, hivevars)
    return fields


def _set_session_var(fields: Dict[str, Any], key: str, value: str) -> None:
    field = _SESSION_KEYS.get(key.lower())
    if field is None and key.lower() in _JAVA_STORES:  # a beeline URL: say what replaces the Java stores
        raise ConfigError(f"url parameter {key!r}", "(set)", "its hive-ha equivalent, " + _JAVA_STORES[key.lower()])
    if field is None:
        raise ConfigError(f"url parameter {key!r}", "(set)", "one of " + _SESSION_SPELLING)
    if field in fields:
        raise ConfigError(f"url parameter {key!r}", "(repeated)", "each parameter at most once")
    if field == "layout":
        layout = DISCOVERY_MODES.get(value.lower())
        if layout is None:
            raise ConfigError("serviceDiscoveryMode", value, "zooKeeper or zooKeeperHA")
        value = layout
    elif field in ("ssl", "ssl_verify"):
        value = parse_bool("ssl" if field == "ssl" else "sslVerify", value, HIVE_BOOLEANS)
    elif field in _MILLISECONDS:
        if not value.isdigit():
            raise ConfigError(key, value, "a whole number of milliseconds")
        value = int(value) / 1000.0
    fields[field] = value


def _hive_settings(hiveconfs: str, hivevars: str) -> Tuple[Tuple[str, str], ...]:
    """``?k=v;...`` are Hive settings (``set:hiveconf:k``), ``#k=v;...`` Hive variables (``set:hivevar:k``):
    the keys the Hive JDBC driver sends in OpenSession (Spark Thrift Server ignores plain keys)."""
    conf = [(f"set:hiveconf:{k}", v) for k, v in _pairs(hiveconfs.split(";"), "hiveconf", ";")]
    conf += [(f"set:hivevar:{k}", v) for k, v in _pairs(hivevars.split(";"), "hivevar", ";")]
    return tuple(conf)


def _pairs(items, where: str, sep: str):
    for item in items:
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(where, hide_if_secret(item), f"key=value pairs separated by {sep}")
        yield key.strip(), value.strip()


# -- the SQLAlchemy form -------------------------------------------------------------------------
def parse_sqlalchemy_url(host: Optional[str], port: Optional[int], username: Optional[str], password: Optional[str],
                         database: Optional[str], query: Mapping[str, Any]) -> Dict[str, Any]:
    """The parts of a ``hive+zookeeper://`` URL (as SQLAlchemy parsed them) -> ``ConnectOptions`` keyword arguments.

    ``host`` may list several hosts (``zk1,zk2,zk3``); ``port`` then applies to each. ``zooKeeperQuorum`` in the
    query replaces both (``zk1:2181,zk2:2182[/chroot]``). ``hiveconf:k=v`` / ``hivevar:k=v`` query keys become Hive
    settings / variables.
    """
    fields: Dict[str, Any] = {"layout": "hs2"}
    conf = []
    quorum = None
    for key, value in query.items():
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ConfigError(f"url parameter {key!r}", "(repeated)", "each parameter at most once")
            value = value[0]
        lowered = key.lower()
        if lowered.startswith(("hiveconf:", "hivevar:")):
            conf.append((f"set:{lowered.split(':', 1)[0]}:{key.split(':', 1)[1]}", value))
        elif lowered == "zookeeperquorum":
            quorum = value
        elif lowered == "servicediscoverymode":
            fields.pop("layout")
            _set_session_var(fields, key, value)
        else:
            _set_session_var(fields, key, value)
    if quorum is not None:
        fields["zookeeper"] = quorum
    elif host:
        hosts = host.split(",")
        fields["zookeeper"] = ",".join(f"{h}:{port}" if port and ":" not in h else h for h in hosts)
    else:
        raise ConfigError("url hosts", "", "ZooKeeper hosts (hive+zookeeper://zk1,zk2:2181/db) or zooKeeperQuorum=")
    if username:
        fields.setdefault("username", username)
    if password is not None:
        fields.setdefault("password", password)
    if database:
        fields["database"] = database
    fields["configuration"] = tuple(conf)
    return fields


# -- shared validation -----------------------------------------------------------------------------
def normalize_zookeeper(text: object) -> str:
    """``zk1,zk2:2182/chroot`` -> ``zk1:2181,zk2:2182/chroot`` (validated; kazoo's connect string)."""
    allowed = "host[:port][,host[:port]...][/chroot]"
    if not isinstance(text, str) or not text.strip() or any(c.isspace() for c in text.strip()):
        raise ConfigError("zookeeper", text, allowed)
    hosts, slash, chroot = text.strip().partition("/")
    out = []
    for item in hosts.split(","):
        try:
            if not item:
                raise ValueError("empty host")
            host, port = split_hostport(item, ZK_DEFAULT_PORT)
        except ValueError as exc:
            raise ConfigError("zookeeper", text, f"{allowed} ({exc})") from None
        out.append(format_hostport(host, port))
    root = ""
    if slash:
        try:
            root = normalize_path(chroot)
        except ConfigError:
            raise ConfigError("zookeeper chroot", "/" + chroot, "a ZooKeeper path such as /hive") from None
    return ",".join(out) + root


def normalize_auth(value: object) -> Authentication:
    """JDBC's ``auth=`` (any case; ``noSasl`` as in JDBC URLs, ``NO_SASL`` too) or the ``auth`` argument."""
    if isinstance(value, str) and value.strip().upper() == "NO_SASL":
        return Authentication.NOSASL
    return choice("auth", value, CLIENT_AUTHS, fold=str.upper,
                  allowed="one of " + ", ".join(CLIENT_AUTHS) + " (noSasl as in JDBC URLs)")


def parse_retries(value: object) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ConfigError("retries", value, "a whole number of rounds over the servers, 1 to 100")
    number = int(value)
    if not 1 <= number <= 100:
        raise ConfigError("retries", value, "a whole number of rounds over the servers, 1 to 100")
    return number


def parse_seconds(key: str, value: object, maximum: float) -> float:
    """A timeout in seconds: a number above 0 and at most ``maximum`` (there is always one)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0 < number <= maximum:
        raise ConfigError(key, value, f"a number of seconds above 0 and at most {maximum:g}")
    return number


def _match(key: str, value: object, pattern: "re.Pattern[str]", allowed: str) -> None:
    if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
        raise ConfigError(key, value, allowed)


def _configuration(value: object) -> Tuple[Tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = tuple((k, v) for k, v in items)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError("configuration", value, "a mapping of Hive setting names to string values") from None
    for key, val in pairs:
        if not isinstance(key, str) or not _CONF_KEY.fullmatch(key) or not isinstance(val, str) or "\n" in val:
            raise ConfigError("configuration", key, "Hive setting names (letters, digits, . _ : -) with one-line "
                                                    "string values")
    return pairs
