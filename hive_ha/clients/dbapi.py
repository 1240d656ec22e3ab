"""``hive_ha.connect``: a PEP 249 connection to a HiveServer2 found in ZooKeeper, for any Python program.

::

    conn = hive_ha.connect(zookeeper="zk1:2181,zk2:2181", namespace="hiveserver2", username="alice")
    conn = hive_ha.connect("hive2://zk1:2181,zk2:2181/db;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=hiveserver2")

Unlike the Hive JDBC driver (a new ZooKeeper client per connection), every call in a process shares one
``Discovery`` per ZooKeeper settings and selection policy: one session, one watch, lookups from memory.
What the chosen server published is applied as the JDBC driver applies it (``resolve``); a server that
cannot be opened is reported (so the cache excludes it) and the next one is tried, for ``retries``
rounds, ending in ``AllServersFailed`` naming every server tried. A server publishing settings this
client cannot use (``SAML``, a TLS mode the driver lacks, ...) is skipped, not reported: it may serve
other clients. Every socket has a timeout: ``connect_timeout`` (default 10 s) for each step of opening
(TCP, TLS/SASL handshake, OpenSession; past it the server counts as unreachable, like a refusal) and
``socket_timeout`` (default 120 s) for every later call.

TLS (``ssl``, or ``hive.server2.use.SSL=true`` published) is verified by default on every path, binary and HTTP,
PyHive and impyla: the certificate must chain to ``ssl_ca`` (else the system trust store) and name the host dialled
(``hive_ha.clients.tls``); ``ssl_verify=False`` is the one way to turn that off, logged as a WARNING. A certificate
that fails verification raises ``CertificateNotVerified`` at once: no server is excluded for it.

The driver (PyHive, or impyla with ``driver="impyla"``) is imported only when a connection is opened.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from hive_ha.clients.jdbc_url import ConnectOptions, parse_jdbc_url
from hive_ha.clients.probe import ThriftProbe
from hive_ha.clients.tls import TlsSettings, check_files, handshake_error, impyla_tls_kwargs, verification_error
from hive_ha.clients.transport import thrift_transport
from hive_ha.core.discovery import Discovery
from hive_ha.core.failover import FailoverPolicy, map_connection_errors, with_failover
from hive_ha.errors import AllServersFailed, ConfigError, NoEndpointAvailable, ServerConnectionError, UnusableEndpoint
from hive_ha.io import kerberos
from hive_ha.io.zookeeper import ZkSettings
from hive_ha.model.addressing import DEFAULT_HTTP_PATH, host_principal, resolve_principal, service_name, split_principal
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.values import Authentication, Qop, TransportMode, format_hostport
from hive_ha.redact import scrub

__all__ = ["connect", "connect_options", "resolve", "pyhive_kwargs", "impyla_kwargs", "Target", "close_discoveries"]

# Published hive.server2.authentication -> the driver-neutral mode used when the caller gave no ``auth``.
_PUBLISHED_AUTH = {Authentication.NOSASL: Authentication.NOSASL, Authentication.NONE: Authentication.NONE,
                   Authentication.LDAP: Authentication.LDAP, Authentication.PAM: Authentication.LDAP,
                   Authentication.CUSTOM: Authentication.CUSTOM, Authentication.KERBEROS: Authentication.KERBEROS}
_IMPYLA_AUTH = {Authentication.NOSASL: "NOSASL", Authentication.NONE: "PLAIN", Authentication.LDAP: "LDAP",
                Authentication.CUSTOM: "LDAP", Authentication.KERBEROS: "GSSAPI"}


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
    mode = options.transport_mode or (
        TransportMode.HTTP if endpoint.transport_mode == TransportMode.HTTP else TransportMode.BINARY)
    if mode == TransportMode.HTTP:
        port = endpoint.http_port or endpoint.port
    else:  # a binary port is published in binary/all mode; otherwise the driver keeps the znode's port, too
        port = endpoint.port
    published = endpoint.authentication
    auth = options.auth or _PUBLISHED_AUTH.get(published)
    if auth is None:
        raise ConfigError("hive.server2.authentication", published,
                          f"one of {', '.join(_PUBLISHED_AUTH)} (published by {endpoint.address}; "
                          "pass auth= to override)")
    if auth in (Authentication.LDAP, Authentication.CUSTOM) and options.password is None:
        raise ConfigError("password", None, f"a password: {endpoint.address} uses hive.server2.authentication="
                                            f"{published} (auth {auth})")
    qop = options.sasl_qop or endpoint.sasl_qop
    principal = resolve_principal(options.principal, endpoint.host) or endpoint.principal  # _HOST: the host dialled
    kerberos_service = options.kerberos_service_name
    if auth == Authentication.KERBEROS and not kerberos_service:
        kerberos_service = service_name(principal)
    return Target(
        host=endpoint.host, port=port, transport_mode=mode,
        http_path=(options.http_path if options.http_path is not None else endpoint.http_path).strip("/"),
        ssl=options.ssl if options.ssl is not None else endpoint.use_ssl,
        auth=auth, sasl_qop=qop, principal=principal,
        kerberos_service_name=kerberos_service if auth == Authentication.KERBEROS else None,
    )


def _kerberos_host_error(exc: BaseException, target: Target) -> Optional[ConfigError]:
    """PyHive and impyla ask the KDC for ``<service>/<host they dial>``; when that principal does not exist (a
    server registered by IP address while its principal names a host), say so instead of a bare GSS error."""
    if target.auth != Authentication.KERBEROS or "not found in kerberos database" not in str(exc).lower():
        return None
    wanted = host_principal(target.kerberos_service_name or "", target.host)
    instance = split_principal(target.principal or "")[1]
    fix = (f"register the server under the host name of its principal ({instance}), as Hive does with "
           "hive.server2.thrift.bind.host" if instance else "dial the host name of the server's principal")
    return ConfigError("principal", target.principal or wanted,
                       f"a principal the KDC knows: the client dials {target.address} and so asks for {wanted}, which "
                       f"the KDC does not know (host names are used as dialled, not canonicalised); {fix}")


def _require_auth_qop(target: Target, driver: str) -> None:
    if (target.sasl_qop not in (None, Qop.AUTH) and target.transport_mode == TransportMode.BINARY
            and target.auth != Authentication.NOSASL):
        raise ConfigError("sasl_qop", target.sasl_qop, f"auth: {driver} cannot negotiate SASL integrity or "
                                                       f"confidentiality ({target.address} asks for it)")


def pyhive_kwargs(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """Keyword arguments for ``pyhive.hive.connect`` (PyHive 0.7)."""
    _require_auth_qop(target, "PyHive")
    kw: Dict[str, Any] = {"host": target.host, "port": target.port, "username": options.username,
                          "database": options.database}
    if options.configuration:
        kw["configuration"] = dict(options.configuration)
    if target.transport_mode == TransportMode.BINARY:  # TLS: pyhive_transport builds the socket (PyHive 0.7 has none)
        kw["auth"] = target.auth
        kw.update(_credentials(target, options))
        return kw
    if target.http_path != DEFAULT_HTTP_PATH:  # PyHive 0.7 always posts to /cliservice/: bring our own transport
        if target.auth == Authentication.KERBEROS:
            raise ConfigError("http_path", target.http_path, "cliservice for Kerberos over HTTP with driver='pyhive' "
                                                             "(PyHive 0.7 fixes that path); or use driver='impyla'")
        del kw["host"], kw["port"]
        kw["thrift_transport"] = _http_transport(target, options)
        return kw
    kw["scheme"] = "https" if target.ssl else "http"
    if target.auth == Authentication.KERBEROS:
        kw.update(auth=Authentication.KERBEROS, kerberos_service_name=target.kerberos_service_name)
    elif options.password is not None:
        kw.update(auth="BASIC", password=options.password)  # PyHive's HTTP branch sends it as Basic credentials
    else:
        kw["auth"] = Authentication.NOSASL if target.auth == Authentication.NOSASL else Authentication.NONE
    return kw


def _http_transport(target: Target, options: ConnectOptions):
    """The transport for a non-default HTTP path (constructing it opens no connection; ``pyhive_transport`` gives it
    the socket timeout)."""
    transport, _ = thrift_transport(target.host, target.port, auth=target.auth, timeout=options.connect_timeout,
                                    user=options.username, password=options.password, http_path=target.http_path,
                                    tls=options.tls if target.ssl else None)
    return transport


def impyla_kwargs(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """Keyword arguments for ``impala.dbapi.connect``."""
    _require_auth_qop(target, "impyla")
    kw: Dict[str, Any] = {
        "host": target.host, "port": target.port, "database": options.database, "user": options.username,
        "auth_mechanism": _IMPYLA_AUTH[target.auth], "use_ssl": target.ssl,
        "use_http_transport": target.transport_mode == TransportMode.HTTP,
    }
    if target.transport_mode == TransportMode.HTTP:
        kw["http_path"] = target.http_path
    if target.ssl:
        kw.update(impyla_tls_kwargs(options.tls, target.address, http=target.transport_mode == TransportMode.HTTP))
    kw.update(_credentials(target, options))
    return kw


def _credentials(target: Target, options: ConnectOptions) -> Dict[str, Any]:
    """The password or Kerberos service name the server's authentication needs (same for both drivers)."""
    if target.auth in (Authentication.LDAP, Authentication.CUSTOM):
        return {"password": options.password}
    if target.auth == Authentication.KERBEROS:
        return {"kerberos_service_name": target.kerberos_service_name}
    return {}


# -- process-wide discoveries ------------------------------------------------------------------------
_lock = threading.Lock()
_discoveries: Dict[Tuple, Discovery] = {}
_probes: Dict[Tuple, ThriftProbe] = {}


def _discovery(settings: ZkSettings, policy: str) -> Tuple[Discovery, ThriftProbe]:
    """The process-wide discovery for these settings, and its prober's probe (a real Thrift round trip, made the way
    the latest ``connect`` through it connects)."""
    key = (settings.cache_key(), policy)
    with _lock:
        discovery = _discoveries.get(key)
        if discovery is None or discovery.closed:
            probe = _probes[key] = ThriftProbe()
            discovery = _discoveries[key] = Discovery(settings, policy=policy, probe=probe)
        return discovery, _probes[key]


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by a thread the child does not have
    for probe in _probes.values():
        probe.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def close_discoveries() -> None:
    """Stop the watchers ``connect`` started (the shared ZooKeeper clients stay with ``hive_ha.io.zookeeper.POOL``)."""
    with _lock:
        discoveries = list(_discoveries.values())
        _discoveries.clear()
    for discovery in discoveries:
        discovery.close()


# -- connect ---------------------------------------------------------------------------------------------
_KWARGS = ("namespace", "layout", "database", "auth", "username", "password", "kerberos_service_name", "principal",
           "transport_mode", "http_path", "ssl", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify", "sasl_qop", "retries",
           "policy", "driver", "configuration", "connect_timeout", "socket_timeout")


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
    ssl_ca: Optional[str] = None,
    ssl_cert: Optional[str] = None,
    ssl_key: Optional[str] = None,
    ssl_verify: Optional[bool] = None,
    sasl_qop: Optional[str] = None,
    retries: Optional[int] = None,
    policy: Optional[str] = None,
    driver: Optional[str] = None,
    configuration: Optional[Mapping[str, str]] = None,
    driver_args: Optional[Mapping[str, Any]] = None,
    connect_timeout: Optional[float] = None,
    socket_timeout: Optional[float] = None,
):
    """Open a PEP 249 connection to a HiveServer2 registered in ZooKeeper.

    ``zookeeper``: the ensemble (``"zk1:2181,zk2:2181[/chroot]"``) or a ``ZkSettings`` (for ZooKeeper
    auth/TLS/timeouts); or give a JDBC ``url`` instead. ``layout``: ``hs2`` (default), ``hsi`` or ``hsi-ha``.
    ``auth``: NOSASL, NONE, LDAP, CUSTOM or KERBEROS; None takes what the server published. ``retries``:
    rounds over the registered servers (JDBC's meaning, default 1). ``policy``: random (default, like JDBC),
    oldest or per_user (by ``username``). ``driver``: ``pyhive`` (default) or ``impyla``. ``driver_args`` go
    to the driver's connect unchanged. ``connect_timeout`` (default 10 s): seconds each step of opening a
    connection may wait before the server counts as unreachable and the next one is tried; ``socket_timeout``
    (default 120 s): seconds any later call may wait (impyla has one timeout for both: ``connect_timeout``).
    TLS (``ssl``, or what the server published) is verified: ``ssl_ca`` is a PEM file of the CAs to trust (default:
    the system trust store), ``ssl_cert``/``ssl_key`` a client certificate and its unencrypted key (PyHive only),
    ``ssl_verify=False`` turns verification off (logged as a WARNING once per server).
    Raises ``ConfigError`` (``UnusableEndpoint`` when every registered server publishes settings this client
    cannot use, each reason named), ``NoEndpointAvailable``/``RegistryUnavailable`` (nothing to try) or
    ``AllServersFailed`` (every server tried failed; the driver's error is its cause), ``CertificateNotVerified`` (a
    server's certificate failed verification: raised at once, naming the server, the CAs and the fix); a driver's
    non-connection error (bad credentials in the session, unknown database) propagates as is.
    """
    settings = zookeeper if isinstance(zookeeper, ZkSettings) else None
    options = connect_options(
        url, zookeeper=settings.hosts if settings else zookeeper, namespace=namespace, layout=layout,
        database=database, auth=auth, username=username, password=password,
        kerberos_service_name=kerberos_service_name, principal=principal, transport_mode=transport_mode,
        http_path=http_path, ssl=ssl, ssl_ca=ssl_ca, ssl_cert=ssl_cert, ssl_key=ssl_key, ssl_verify=ssl_verify,
        sasl_qop=sasl_qop, retries=retries, policy=policy, driver=driver,
        configuration=configuration, connect_timeout=connect_timeout, socket_timeout=socket_timeout,
    )
    if settings is None or settings.hosts != options.zookeeper:
        settings = dataclasses.replace(settings, hosts=options.zookeeper) if settings else ZkSettings(options.zookeeper)
    return connect_with(options, settings, driver_args)


def connect_with(options: ConnectOptions, settings: Optional[ZkSettings] = None,
                 driver_args: Optional[Mapping[str, Any]] = None):
    """``connect`` for already validated options (the SQLAlchemy dialect's entry)."""
    settings = settings or ZkSettings(options.zookeeper)
    open_fn = _opener(options, dict(driver_args or {}), settings.ticket_cache)
    discovery, probe = _discovery(settings, options.policy)
    probe.use(functools.partial(_probe_transport, options=options), options.username, settings.ticket_cache)
    service = options.service
    candidates = discovery.snapshot(service).candidates
    failures: List[Tuple[str, str]] = []
    skipped: Dict[str, str] = {}  # address -> why this client cannot use it
    unusable: Dict[str, ConfigError] = {}  # the same, from the later rounds

    def exhausted(history, error):
        for kind, address, text in history:
            if kind == "skipped":
                skipped[address] = text
            else:
                failures.append((address, scrub(text, options.password)))
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
            raise  # not a connection failure (bad settings, refused credentials in the session, ...), or
        last = exc  # UnusableEndpoint: every server left publishes settings this client cannot use
    # Further rounds (JDBC's retries), or the only one when all were excluded: every registered server again.
    for _ in range(options.retries - (1 if failures else 0)):
        for endpoint in discovery.snapshot(service).candidates:
            try:
                with map_connection_errors(endpoint.address):
                    return open_fn(endpoint)
            except UnusableEndpoint as exc:
                unusable.update(exc.reasons)
            except ServerConnectionError as exc:
                failures.append((endpoint.address, scrub(f"{type(exc.error).__name__}: {exc.error}",
                                                         options.password)))
                last = exc.error
    if not failures and unusable:
        raise UnusableEndpoint(unusable)
    skipped.update((address, str(error)) for address, error in unusable.items())
    tried = failures + [(address, scrub(f"skipped: {why}", options.password)) for address, why in skipped.items()]
    raise AllServersFailed(settings.hosts, service.namespace, tried) from last


def _probe_transport(endpoint: Endpoint, timeout: float, *, options: ConnectOptions) -> Any:
    """An unopened Thrift transport to ``endpoint`` as this client dials it (the prober's probe)."""
    target = resolve(endpoint, options)
    http = target.transport_mode == TransportMode.HTTP
    transport, _ = thrift_transport(target.host, target.port, auth=target.auth, timeout=timeout,
                                    user=options.username, password=options.password,
                                    kerberos_service=target.kerberos_service_name,
                                    http_path=target.http_path if http else None,
                                    tls=options.tls if target.ssl else None)
    return transport


def _opener(options: ConnectOptions, driver_args: Dict[str, Any],
            ticket_cache: Optional[str] = None) -> Callable[[Endpoint], Any]:
    """``open(endpoint)``: resolve what the server published (``UnusableEndpoint`` if this client cannot use it),
    then open a connection with the chosen driver, every socket with a timeout. A Kerberos handshake uses
    ``ticket_cache`` (the ticket hive-ha uses toward ZooKeeper: ``kerberos_keytab``/``kerberos_ccache``) when one is
    set, in the calling thread only; else the process's ticket cache."""
    if options.ssl_ca or options.ssl_cert:
        check_files(options.tls)  # a bad file is this client's ConfigError now, not a reason to skip every server
    if options.driver == "impyla":
        from thrift.transport.TTransport import TTransportException

        try:
            from impala import dbapi as impyla
        except ImportError:
            raise ConfigError("driver", "impyla", "pyhive, or install impyla: impala.dbapi cannot be imported (not "
                                                  "installed, or shadowed by another 'impala' package such as "
                                                  "Hue's Impala app)") from None

        def open_driver(target: Target):
            kw = {**impyla_kwargs(target, options), "timeout": options.connect_timeout, **driver_args}
            try:
                conn = impyla.connect(**kw)
            except TTransportException as exc:
                # Over TLS, thrift's TSocket logs why a handshake failed and raises a bare "Could not connect": a
                # certificate this client does not trust would be failed over like a dead server. Ask once more.
                if not (target.ssl and options.tls.verify and exc.type == TTransportException.NOT_OPEN):
                    raise
                cause = handshake_error(target.host, target.port, options.tls,
                                        min(options.connect_timeout, _HANDSHAKE_CHECK_TIMEOUT))
                if cause is None:
                    raise
                raise exc from cause
            try:  # impyla opens its session with the first cursor: open one so failover covers it too
                conn.cursor().close()
            except BaseException:
                conn.close()
                raise
            return conn
    else:
        from pyhive import hive

        _check_pyhive_tls_args(driver_args)

        def open_driver(target: Target):
            kw = {**pyhive_kwargs(target, options), **driver_args}
            transport, timed, kw = pyhive_transport(kw, options.connect_timeout, options.tls if target.ssl else None)
            conn = hive.connect(thrift_transport=transport, **kw)
            timed.setTimeout(options.socket_timeout * 1000)
            return conn

    def open_endpoint(endpoint: Endpoint):
        try:
            target = resolve(endpoint, options)
            (impyla_kwargs if options.driver == "impyla" else pyhive_kwargs)(target, options)  # validates
        except ConfigError as exc:
            raise UnusableEndpoint({endpoint.address: exc}) from exc
        try:
            with kerberos.thread_ccache(ticket_cache if target.auth == Authentication.KERBEROS else None):
                return open_driver(target)
        except Exception as exc:
            explained = _kerberos_host_error(exc, target) or (
                verification_error(exc, target.address, target.host, options.tls) if target.ssl else None)
            if explained is None:
                raise
            raise explained from exc

    return open_endpoint


#: Seconds for the handshake that finds why impyla could not connect over TLS: a certificate is refused at once, and a
#: server that does not answer must not cost a second full connect timeout.
_HANDSHAKE_CHECK_TIMEOUT = 3.0


def _check_pyhive_tls_args(driver_args: Mapping[str, Any]) -> None:
    """PyHive's own TLS arguments may only ask for what hive-ha does anyway: ``ssl_verify=False`` is the one opt-out."""
    for key, strict in (("ssl_cert", "required"), ("check_hostname", "true")):
        value = driver_args.get(key)
        if value is not None and value != strict:
            raise ConfigError(f"driver_args {key}", value, f"{strict!r} or unset: hive-ha verifies certificates and "
                                                           "host names by default; ssl_verify=False turns that off")


#: Where PyHive 0.7 posts over HTTP (it fixes the path; a server publishing another one gets our own transport).
_PYHIVE_HTTP_PATH = DEFAULT_HTTP_PATH + "/"


def pyhive_transport(kw: Dict[str, Any], timeout: float, tls: Optional[TlsSettings] = None):
    """The thrift transport PyHive 0.7 would build from ``kw`` (``hive.Connection.__init__``), built here because
    PyHive sets no timeout: ``(transport, timed, rest)`` where ``timed`` (its socket or HTTP client) has
    ``timeout`` seconds and ``rest`` is what ``hive.connect`` still takes (username, database, configuration).
    ``tls``: over TLS, verified as it says (PyHive 0.7 has no TLS for the binary transport and verifies HTTPS only when
    asked); ``scheme="https"`` without it is verified against the system trust store."""
    rest = dict(kw)
    transport = rest.pop("thrift_transport", None)
    host, port, scheme = rest.pop("host", None), rest.pop("port", None), rest.pop("scheme", None)
    auth, password = rest.pop("auth", None), rest.pop("password", None)
    service = rest.pop("kerberos_service_name", None)
    _check_pyhive_tls_args(rest)
    for key in ("check_hostname", "ssl_cert"):  # what they may ask for is done anyway
        rest.pop(key, None)
    if transport is not None:  # ours (a custom HTTP path)
        timed = transport
        timed.setTimeout(timeout * 1000)
    elif scheme in ("http", "https"):
        tls = (tls or TlsSettings()) if scheme == "https" else None
        transport, timed = thrift_transport(host, port, auth=auth, timeout=timeout, user=rest.get("username"),
                                            password=password, kerberos_service=service,
                                            http_path=_PYHIVE_HTTP_PATH, tls=tls)
    else:
        transport, timed = thrift_transport(host, port or 10000, auth=auth, timeout=timeout,
                                            user=rest.get("username"), password=password, kerberos_service=service,
                                            tls=tls)
    return transport, timed, rest
