"""``hive_ha.connect``: a PEP 249 connection to a HiveServer2 found in ZooKeeper, for any Python program.

::

    conn = hive_ha.connect(zookeeper="zk1:2181,zk2:2181", namespace="hiveserver2", username="alice")
    conn = hive_ha.connect("hive2://zk1:2181,zk2:2181/db;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=hiveserver2")

Unlike the Hive JDBC driver (a new ZooKeeper client per connection), every call in a process shares one
``Discovery`` per ZooKeeper settings and selection policy: one session, one watch, lookups from memory.
What the chosen server published is applied as the JDBC driver applies it (``resolve``); a server that
cannot be opened is reported (so the cache excludes it) and the next one is tried, for ``retries``
rounds, ending in ``AllServersFailed`` naming every server tried.

The driver (PyHive, or impyla with ``driver="impyla"``) is imported only when a connection is opened.
"""
from __future__ import annotations

import base64
import dataclasses
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .discovery import Discovery
from .endpoint import Endpoint, format_hostport
from .errors import AllServersFailed, ConfigError, NoEndpointAvailable
from .failover import FailoverPolicy, is_connection_error, with_failover
from .jdbc_url import ConnectOptions, parse_jdbc_url
from .zkclient import ZkSettings

__all__ = ["connect", "connect_options", "resolve", "pyhive_kwargs", "impyla_kwargs", "Target", "close_discoveries"]

# Published hive.server2.authentication -> the driver-neutral mode used when the caller gave no ``auth``.
_PUBLISHED_AUTH = {"NOSASL": "NOSASL", "NONE": "NONE", "LDAP": "LDAP", "PAM": "LDAP", "CUSTOM": "CUSTOM",
                   "KERBEROS": "KERBEROS"}
_IMPYLA_AUTH = {"NOSASL": "NOSASL", "NONE": "PLAIN", "LDAP": "LDAP", "CUSTOM": "LDAP", "KERBEROS": "GSSAPI"}


@dataclasses.dataclass(frozen=True)
class Target:
    """What to dial for one endpoint: the registration with the caller's explicit settings applied."""

    host: str
    port: int
    transport_mode: str  # binary | http
    http_path: str
    ssl: bool
    auth: str  # NOSASL | NONE | LDAP | CUSTOM | KERBEROS
    sasl_qop: Optional[str]
    principal: Optional[str]
    kerberos_service_name: Optional[str]

    @property
    def address(self) -> str:
        return format_hostport(self.host, self.port)


def resolve(endpoint: Endpoint, options: ConnectOptions) -> Target:
    """Apply the JDBC driver's precedence: host and port always come from ZooKeeper; transport, http path,
    SSL and QOP from the registration only where the caller set none; the principal unless given."""
    mode = options.transport_mode or ("http" if endpoint.transport_mode == "http" else "binary")
    if mode == "http":
        port = endpoint.http_port or endpoint.port
    else:  # a binary port is published in binary/all mode; otherwise the driver keeps the znode's port, too
        port = endpoint.port
    published = endpoint.authentication
    auth = options.auth or _PUBLISHED_AUTH.get(published)
    if auth is None:
        raise ConfigError("hive.server2.authentication", published,
                          f"one of {', '.join(_PUBLISHED_AUTH)} (published by {endpoint.address}; "
                          "pass auth= to override)")
    if auth in ("LDAP", "CUSTOM") and options.password is None:
        raise ConfigError("password", None, f"a password: {endpoint.address} uses hive.server2.authentication="
                                            f"{published} (auth {auth})")
    qop = options.sasl_qop or endpoint.sasl_qop
    principal = options.principal or endpoint.principal
    service_name = options.kerberos_service_name
    if auth == "KERBEROS" and not service_name:
        service_name = _service_of(principal) or "hive"
    return Target(
        host=endpoint.host, port=port, transport_mode=mode,
        http_path=(options.http_path if options.http_path is not None else endpoint.http_path).strip("/"),
        ssl=options.ssl if options.ssl is not None else endpoint.use_ssl,
        auth=auth, sasl_qop=qop, principal=principal,
        kerberos_service_name=service_name if auth == "KERBEROS" else None,
    )


def _service_of(principal: Optional[str]) -> Optional[str]:
    """``hive/host@REALM`` -> ``hive``."""
    if not principal:
        return None
    return principal.split("@", 1)[0].split("/", 1)[0] or None


def _kerberos_host_error(exc: BaseException, target: Target) -> Optional[ConfigError]:
    """PyHive and impyla ask the KDC for ``<service>/<host they dial>``; when that principal does not exist (a
    server registered by IP address while its principal names a host), say so instead of a bare GSS error."""
    if target.auth != "KERBEROS" or "not found in kerberos database" not in str(exc).lower():
        return None
    wanted = f"{target.kerberos_service_name}/{target.host}"
    instance = (target.principal or "").split("@", 1)[0].partition("/")[2]
    fix = (f"register the server under the host name of its principal ({instance}), as Hive does with "
           "hive.server2.thrift.bind.host" if instance else "dial the host name of the server's principal")
    return ConfigError("principal", target.principal or wanted,
                       f"a principal the KDC knows: the client dials {target.address} and so asks for {wanted}, which "
                       f"the KDC does not know (host names are used as dialled, not canonicalised); {fix}")


def _require_auth_qop(target: Target, driver: str) -> None:
    if target.sasl_qop not in (None, "auth") and target.transport_mode == "binary" and target.auth != "NOSASL":
        raise ConfigError("sasl_qop", target.sasl_qop, f"auth: {driver} cannot negotiate SASL integrity or "
                                                       f"confidentiality ({target.address} asks for it)")


def pyhive_kwargs(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """Keyword arguments for ``pyhive.hive.connect`` (PyHive 0.7)."""
    _require_auth_qop(target, "PyHive")
    kw: Dict[str, Any] = {"host": target.host, "port": target.port, "username": options.username,
                          "database": options.database}
    if options.configuration:
        kw["configuration"] = dict(options.configuration)
    if target.transport_mode == "binary":
        if target.ssl:
            raise ConfigError("ssl", True, "false with driver='pyhive' over binary transport (PyHive 0.7 has no "
                                           "TLS socket); use driver='impyla' or transportMode=http")
        kw["auth"] = target.auth
        kw.update(_credentials(target, options))
        return kw
    if target.http_path != "cliservice":  # PyHive 0.7 always posts to /cliservice/: bring our own transport
        if target.auth == "KERBEROS":
            raise ConfigError("http_path", target.http_path, "cliservice for Kerberos over HTTP with driver='pyhive' "
                                                             "(PyHive 0.7 fixes that path); or use driver='impyla'")
        del kw["host"], kw["port"]
        kw["thrift_transport"] = _http_transport(target, options)
        return kw
    kw["scheme"] = "https" if target.ssl else "http"
    if target.auth == "KERBEROS":
        kw.update(auth="KERBEROS", kerberos_service_name=target.kerberos_service_name)
    elif options.password is not None:
        kw.update(auth="BASIC", password=options.password)  # PyHive's HTTP branch sends it as Basic credentials
    else:
        kw["auth"] = "NOSASL" if target.auth == "NOSASL" else "NONE"
    return kw


def _http_transport(target: Target, options: ConnectOptions):
    """A THttpClient for a non-default HTTP path (constructing it does no I/O); HTTP Basic as PyHive sends it."""
    import ssl

    from thrift.transport.THttpClient import THttpClient

    scheme = "https" if target.ssl else "http"
    context = ssl.create_default_context() if target.ssl else None
    transport = THttpClient(f"{scheme}://{target.address}/{target.http_path}", ssl_context=context)
    if target.auth != "NOSASL":
        credentials = f"{options.username or 'user'}:{options.password or 'pass'}".encode("utf-8")
        transport.setCustomHeaders({"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")})
    return transport


def impyla_kwargs(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """Keyword arguments for ``impala.dbapi.connect``."""
    _require_auth_qop(target, "impyla")
    kw: Dict[str, Any] = {
        "host": target.host, "port": target.port, "database": options.database, "user": options.username,
        "auth_mechanism": _IMPYLA_AUTH[target.auth], "use_ssl": target.ssl,
        "use_http_transport": target.transport_mode == "http",
    }
    if target.transport_mode == "http":
        kw["http_path"] = target.http_path
    kw.update(_credentials(target, options))
    return kw


def _credentials(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """The password or Kerberos service name the server's authentication needs (same for both drivers)."""
    if target.auth in ("LDAP", "CUSTOM"):
        return {"password": options.password}
    if target.auth == "KERBEROS":
        return {"kerberos_service_name": target.kerberos_service_name}
    return {}


# -- process-wide discoveries ------------------------------------------------------------------------
_lock = threading.Lock()
_discoveries: Dict[Tuple, Discovery] = {}


def _discovery(settings: ZkSettings, policy: str) -> Discovery:
    key = (settings.cache_key(), policy)
    with _lock:
        discovery = _discoveries.get(key)
        if discovery is None:
            discovery = _discoveries[key] = Discovery(settings, policy=policy)
        return discovery


def close_discoveries() -> None:
    """Stop the watchers ``connect`` started (the shared ZooKeeper clients stay with ``zkclient.POOL``)."""
    with _lock:
        discoveries = list(_discoveries.values())
        _discoveries.clear()
    for discovery in discoveries:
        discovery.close()


# -- connect ---------------------------------------------------------------------------------------------
_KWARGS = ("namespace", "layout", "database", "auth", "username", "password", "kerberos_service_name", "principal",
           "transport_mode", "http_path", "ssl", "sasl_qop", "retries", "policy", "driver", "configuration")


def connect_options(url: Optional[str] = None, *, zookeeper: Optional[str] = None, **kwargs: Any) -> ConnectOptions:
    """Validated options from a JDBC URL and/or keyword arguments (explicit arguments win over the URL)."""
    unknown = sorted(set(kwargs) - set(_KWARGS))
    if unknown:
        raise ConfigError(f"argument {unknown[0]!r}", "(set)", "one of zookeeper, " + ", ".join(_KWARGS))
    fields: Dict[str, Any] = parse_jdbc_url(url) if url is not None else {}
    if zookeeper is not None:
        fields["zookeeper"] = zookeeper
    fields.update({k: v for k, v in kwargs.items() if v is not None})
    if "zookeeper" not in fields:
        raise ConfigError("zookeeper", None, "the ZooKeeper ensemble (zookeeper='zk1:2181,zk2:2181') or a "
                                             "hive2:// URL")
    return ConnectOptions(**fields)


def connect(
    url: Optional[str] = None,
    *,
    zookeeper: Union[str, ZkSettings, None] = None,
    namespace: Optional[str] = None,
    layout: Optional[str] = None,
    database: Optional[str] = None,
    auth: Optional[str] = None,
    username: Optional[str] = None,
    password: Optional[str] = None,
    kerberos_service_name: Optional[str] = None,
    principal: Optional[str] = None,
    transport_mode: Optional[str] = None,
    http_path: Optional[str] = None,
    ssl: Optional[bool] = None,
    sasl_qop: Optional[str] = None,
    retries: Optional[int] = None,
    policy: Optional[str] = None,
    driver: Optional[str] = None,
    configuration: Optional[Mapping[str, str]] = None,
    driver_args: Optional[Mapping[str, Any]] = None,
):
    """Open a PEP 249 connection to a HiveServer2 registered in ZooKeeper.

    ``zookeeper``: the ensemble (``"zk1:2181,zk2:2181[/chroot]"``) or a ``ZkSettings`` (for ZooKeeper
    auth/TLS/timeouts); or give a JDBC ``url`` instead. ``layout``: ``hs2`` (default), ``hsi`` or ``hsi-ha``.
    ``auth``: NOSASL, NONE, LDAP, CUSTOM or KERBEROS; None takes what the server published. ``retries``:
    rounds over the registered servers (JDBC's meaning, default 1). ``policy``: random (default, like JDBC),
    oldest or per_user (by ``username``). ``driver``: ``pyhive`` (default) or ``impyla``. ``driver_args`` go
    to the driver's connect unchanged. Raises ``ConfigError``, ``NoEndpointAvailable``/``RegistryUnavailable``
    (nothing to try) or ``AllServersFailed`` (every server tried failed; the driver's error is its cause);
    a driver's non-connection error (bad credentials in the session, unknown database) propagates as is.
    """
    settings = zookeeper if isinstance(zookeeper, ZkSettings) else None
    options = connect_options(
        url, zookeeper=settings.hosts if settings else zookeeper, namespace=namespace, layout=layout,
        database=database, auth=auth, username=username, password=password,
        kerberos_service_name=kerberos_service_name, principal=principal, transport_mode=transport_mode,
        http_path=http_path, ssl=ssl, sasl_qop=sasl_qop, retries=retries, policy=policy, driver=driver,
        configuration=configuration,
    )
    if settings is None or settings.hosts != options.zookeeper:
        settings = dataclasses.replace(settings, hosts=options.zookeeper) if settings else ZkSettings(options.zookeeper)
    return connect_with(options, settings, driver_args)


def connect_with(options: ConnectOptions, settings: Optional[ZkSettings] = None,
                 driver_args: Optional[Mapping[str, Any]] = None):
    """``connect`` for already validated options (the SQLAlchemy dialect's entry)."""
    settings = settings or ZkSettings(options.zookeeper)
    open_fn = _opener(options, dict(driver_args or {}))
    discovery = _discovery(settings, options.policy)
    service = options.service
    candidates = discovery.endpoints(service).candidates
    failures: List[Tuple[str, str]] = []

    def exhausted(history, error):
        failures.extend((address, _scrub(text, options.password)) for _, address, text in history)
        return error  # the last driver error; AllServersFailed is raised below, after any further rounds

    # Round one through the cache: each failure is reported, so the cache excludes that server and offers the next.
    try:
        return with_failover(discovery, service, open_fn, user=options.username,
                             policy=FailoverPolicy(connect=max(0, len(candidates) - 1)), exhausted=exhausted)
    except NoEndpointAvailable as exc:
        if not candidates:
            raise  # nothing registered (or no HA leader): nothing to try
        last: BaseException = exc  # every registered server is still excluded from earlier failures
    except Exception as exc:
        if not failures:
            raise  # not a connection failure (bad settings, refused credentials in the session, ...)
        last = exc
    # Further rounds (JDBC's retries), or the only one when all were excluded: every registered server again.
    for _ in range(options.retries - (1 if failures else 0)):
        for endpoint in discovery.endpoints(service).candidates:
            try:
                return open_fn(endpoint)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                failures.append((endpoint.address, _scrub(f"{type(exc).__name__}: {exc}", options.password)))
                last = exc
    raise AllServersFailed(settings.hosts, service.namespace, failures) from last


def _opener(options: ConnectOptions, driver_args: Dict[str, Any]) -> Callable[[Endpoint], Any]:
    if options.driver == "impyla":
        try:
            from impala import dbapi as impyla
        except ImportError:
            raise ConfigError("driver", "impyla", "pyhive, or install impyla: impala.dbapi cannot be imported (not "
                                                  "installed, or shadowed by another 'impala' package such as "
                                                  "Hue's Impala app)") from None

        def open_impyla(endpoint: Endpoint):
            target = resolve(endpoint, options)
            try:
                conn = impyla.connect(**{**impyla_kwargs(target, options), **driver_args})
            except Exception as exc:
                explained = _kerberos_host_error(exc, target)
                if explained is None:
                    raise
                raise explained from exc
            try:  # impyla opens its session with the first cursor: open one so failover covers it too
                conn.cursor().close()
            except BaseException:
                conn.close()
                raise
            return conn

        return open_impyla
    from pyhive import hive

    def open_pyhive(endpoint: Endpoint):
        target = resolve(endpoint, options)
        try:
            return hive.connect(**{**pyhive_kwargs(target, options), **driver_args})
        except Exception as exc:
            explained = _kerberos_host_error(exc, target)
            if explained is None:
                raise
            raise explained from exc

    return open_pyhive


def _scrub(text: str, secret: Optional[str]) -> str:
    return text.replace(secret, "<hidden>") if secret else text
