"""``hive-ha check``: diagnose a deployment item by item.

Each probe does one piece of I/O (ZooKeeper connect and auth, the namespace, the registrations, a TCP
connect, a real OpenSession/CloseSession with the authentication the server published) and returns
``Finding`` records; ``run_check`` strings them together and ``hive_ha.cli.check`` prints them. Every failed
item carries a hint saying what to check next. Passwords never appear in a finding.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import shutil
import socket
import subprocess
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple

import hive_ha.extras as extras
from hive_ha.clients.probe import session_round_trip
from hive_ha.clients.tls import TlsSettings, verification_error
from hive_ha.clients.transport import thrift_transport
from hive_ha.errors import ZooKeeperAuthFailed
from hive_ha.io import kerberos
from hive_ha.io.registry import candidate_paths, locate, read_all
from hive_ha.io.zookeeper import ZkSettings, new_client, ticket_in_use
from hive_ha.model.addressing import service_name
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.values import PASSWORD_AUTHS, Authentication, TransportMode
from hive_ha.redact import scrub

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "fail"
STATUSES = (OK, WARN, SKIP, FAIL)
_MAX_PARALLEL = 8


@dataclasses.dataclass(frozen=True)
class Finding:
    """One checked item: ``item`` says what kind (zookeeper, namespace, znode, leader, tcp, session),
    ``subject`` which one (hosts, path, address), ``hint`` what to check next when it is not ok."""

    item: str
    status: str
    subject: str
    detail: str
    hint: str = ""
    elapsed_ms: Optional[float] = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Who opens the test sessions, and how servers publishing TLS are verified (``tls``, on by default). The password
    (LDAP/PAM/CUSTOM) is kept out of ``repr``."""

    user: str
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    tls: TlsSettings = TlsSettings()


@dataclasses.dataclass(frozen=True)
class Report:
    service: Service
    zk_hosts: str
    findings: Tuple[Finding, ...]

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    def healthy(self, strict: bool = False) -> bool:
        """No failure (and, when ``strict``, no warning either)."""
        bad = (FAIL, WARN) if strict else (FAIL,)
        return not any(f.status in bad for f in self.findings)

    def as_dict(self, strict: bool = False) -> dict:
        return {
            "zookeeper": self.zk_hosts, "layout": self.service.layout.name, "namespace": self.service.namespace,
            "healthy": self.healthy(strict), "summary": {s: self.count(s) for s in STATUSES},
            "findings": [f.as_dict() for f in self.findings],
        }


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


# -- ZooKeeper ---------------------------------------------------------------------------------------------------
def describe_auth(settings: ZkSettings) -> str:
    """How we authenticate to ZooKeeper, in words (never the password)."""
    if settings.auth_scheme == "digest":
        auth = f"digest as {settings.digest_user}"
    elif settings.auth_scheme == "sasl":
        who = settings.sasl_username or settings.sasl_principal or "the Kerberos ticket"
        auth = f"SASL {settings.sasl_mechanism} as {who}"
    else:
        auth = "no authentication"
    return auth + (", TLS" if settings.use_ssl else ", no TLS")


def probe_zookeeper(settings: ZkSettings, timeout: float):
    """Connect (and authenticate) with a client of our own; returns ``(client or None, Finding)``.

    Not the shared client of ``hive_ha.io.zookeeper.POOL``: the check must tell refused credentials from an
    unreachable ensemble within ``timeout`` and report each (a pooled client reconnects in the background for ever,
    and kazoo reports CONNECTED before a login is refused), must not share a session with a ``Discovery`` of the same
    process nor leave a client with bad credentials in the pool, and closes its client when done. It is built by the
    same factory (the same kazoo arguments and Kerberos login); only its reconnect backoff is capped at 1 s, so the
    wait is not spent sleeping."""
    from kazoo.exceptions import AuthFailedError
    from kazoo.protocol.states import KazooState, KeeperState

    settled = threading.Event()
    start = time.monotonic()
    auth = describe_auth(settings)
    client = None
    try:
        client = new_client(settings, connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0})
        client.add_listener(lambda state: settled.set() if state in (KazooState.CONNECTED, KazooState.LOST) else None)
        client.start_async()
        settled.wait(timeout)
    except ZooKeeperAuthFailed as exc:  # the Kerberos login (kinit from the keytab) failed
        return None, Finding("zookeeper", FAIL, settings.hosts, f"cannot log in ({auth}): {exc}",
                             "check the keytab and the principal (klist -k <keytab>) and that the KDC is reachable")
    except Exception as exc:  # noqa: BLE001 - bad TLS files and the like surface here
        if client is not None:
            _close(client)
        return None, Finding("zookeeper", FAIL, settings.hosts, f"cannot start a client ({auth}): {exc}",
                             "check the TLS CA/certificate files and the connect string")
    refused = False
    if client.connected:  # kazoo reports CONNECTED before a SASL login is refused: try one request
        refused = isinstance(_first_operation(client, timeout), AuthFailedError)
    if client.connected and not refused:
        session = f"0x{client.client_id[0]:x}" if client.client_id else "?"
        return client, Finding("zookeeper", OK, settings.hosts, f"connected, session {session} ({auth})",
                               elapsed_ms=_ms(start))
    refused = refused or client.client_state == KeeperState.AUTH_FAILED
    _close(client)
    if refused:
        return None, Finding("zookeeper", FAIL, settings.hosts, f"ZooKeeper refused the credentials ({auth})",
                             "check the user and the password in --zk-password-env, or the SASL JAAS/Kerberos "
                             "setup of the ensemble")
    return None, Finding("zookeeper", FAIL, settings.hosts, f"not connected within {timeout:g} s ({auth})",
                         "is ZooKeeper running and reachable on those host:port pairs (firewall)? With TLS: is it "
                         "the secure client port, and does --zk-tls-ca sign its certificate?")


def _first_operation(client, timeout: float) -> Optional[BaseException]:
    try:
        client.exists_async("/").get(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the caller only needs to know which
        return exc
    return None


def _close(client) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # noqa: BLE001 - best effort
        pass


def probe_namespace(client, service: Service) -> Tuple[Optional[str], Finding]:
    """The children path of the first root that exists; ``(None, failure)`` when none does."""
    from kazoo.exceptions import KazooException, NoAuthError

    paths = candidate_paths(service)
    try:
        found = locate(client, service)
        if found is not None:
            return found.path, Finding("namespace", OK, found.path, f"present, {found.stat.numChildren} children")
    except NoAuthError:
        return None, Finding("namespace", FAIL, paths[0], "not authorised to read it",
                             "authenticate as a user the znode ACL allows (--zk-sasl-user / --zk-digest-user)")
    except KazooException as exc:
        return None, Finding("namespace", FAIL, paths[0], f"ZooKeeper error: {exc!r}", "retry; see ZooKeeper's log")
    tried = " nor ".join(paths)
    return None, Finding("namespace", FAIL, paths[0], f"neither {tried} exists" if len(paths) > 1 else "does not exist",
                         "is hive.server2.support.dynamic.service.discovery=true, and does --namespace match "
                         "hive.server2.zookeeper.namespace (or the HA registry namespace)? Is --layout right?")


def read_registrations(client, service: Service, path: str) -> Tuple[List[Endpoint], List[Finding]]:
    """Parse every child of ``path``; malformed and unreadable ones become warnings naming the znode."""
    reading = read_all(client, service, path)
    endpoints = list(reading.endpoints)
    skipped = [(exc.znode, Finding("znode", WARN, exc.znode, f"malformed registration, skipped: {exc.reason}",
                                   "fix or remove this znode; clients ignore it")) for exc in reading.malformed]
    skipped += [(znode, Finding("znode", WARN, znode, "not authorised to read it",
                                "authenticate as a user the znode ACL allows")) for znode in reading.unreadable]
    findings: List[Finding] = [finding for _, finding in sorted(skipped, key=lambda pair: pair[0])]
    if not endpoints:
        findings.append(Finding("registrations", FAIL, path, "no server registered",
                                "are the HiveServer2s running? A server's znode disappears when its ZooKeeper "
                                "session ends; see the HiveServer2 log for ZooKeeper errors"))
    else:
        findings.insert(0, Finding("registrations", OK, path, f"{len(endpoints)} server(s) registered"))
    return endpoints, findings


def leader_finding(service: Service, path: str, endpoints: Sequence[Endpoint]) -> Optional[Finding]:
    """Active/Passive HA only: exactly one instance should publish an activeEndpoint."""
    if not service.layout.ha or not endpoints:
        return None
    active = [e for e in endpoints if e.active]
    if len(active) == 1:
        return Finding("leader", OK, path, f"{active[0].address} is active, {len(endpoints) - 1} passive")
    if not active:
        return Finding("leader", FAIL, path, "no instance publishes an activeEndpoint",
                       "a leader election may be under way; if it lasts, check the HSI instances' leader latch "
                       "under _LEADER and their logs")
    return Finding("leader", WARN, path, f"{len(active)} instances claim to be active: "
                   + ", ".join(e.address for e in active), "clients may reach either; check the leader latch")


# -- endpoints ---------------------------------------------------------------------------------------------------
def probe_tcp(endpoint: Endpoint, timeout: float) -> Finding:
    start = time.monotonic()
    address = endpoint.address
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            pass
    except socket.timeout:
        return Finding("tcp", FAIL, address, f"no TCP answer within {timeout:g} s",
                       "a firewall may drop the packets, or the host is down")
    except OSError as exc:
        return Finding("tcp", FAIL, address, f"TCP connect failed: {exc.strerror or exc}",
                       f"is HiveServer2 running and listening on {address}? Its znode stays until its ZooKeeper "
                       "session expires, so a crashed server is still listed for a while")
    return Finding("tcp", OK, address, "TCP connect", elapsed_ms=_ms(start))


def _kerberos_ticket_missing() -> Optional[str]:
    """A reason when there is visibly no Kerberos ticket in the cache this thread uses, else None (not a FILE cache
    and klist absent: we cannot tell)."""
    ccache = kerberos.current_ccache()
    if kerberos.file_path(ccache) is not None:
        problem = kerberos.ticket_state("process", "", ccache, None).problem
        return f"no valid Kerberos ticket: {problem}" if problem else None
    klist = shutil.which("klist")
    if klist is None:
        return None
    if subprocess.run([klist, "-s", "-c", ccache], stdin=subprocess.DEVNULL, capture_output=True,
                      timeout=10).returncode != 0:
        return f"no valid Kerberos ticket in {ccache}"
    return None


def kerberos_finding(state: kerberos.TicketState, now: Optional[float] = None) -> Finding:
    """The ticket the check (and hive-ha with these settings) uses: whose, renewed by whom, until when."""
    now = time.time() if now is None else now
    who = state.principal or state.expected or "(no principal)"
    what = {"keytab": "hive-ha's keytab login", "hue": "Hue's ticket cache", "cache": "the kerberos_ccache given",
            "process": "the process's ticket cache"}[state.source]
    detail = f"ticket of {who} from {what}, renewed by {state.renewed_by}"
    if state.ends:
        detail += f"; valid until {_utc(state.ends)} ({_ago(state.ends - now)})"
    if state.starts:
        detail += f", last renewed {_utc(state.starts)} ({_ago(state.starts - now)})"
    if state.problem:
        return Finding("kerberos", FAIL, who, f"{detail}: {state.problem}",
                       "in a Kerberized Hue: is 'hue kt_renewer' running ([desktop] [[kerberos]])? Else kinit, or set "
                       "[hive_ha] kerberos_keytab; 'klist' shows the cache")
    return Finding("kerberos", OK, who, detail)


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _ago(seconds: float) -> str:
    return f"in {seconds:.0f} s" if seconds >= 0 else f"{-seconds:.0f} s ago"


def _transport(endpoint: Endpoint, creds: Credentials, timeout: float):
    """An unopened thrift transport speaking what ``endpoint`` published."""
    http = endpoint.transport_mode == TransportMode.HTTP
    transport, _ = thrift_transport(
        endpoint.host, (endpoint.http_port or endpoint.port) if http else endpoint.port,
        auth=endpoint.authentication, timeout=timeout, user=creds.user, password=creds.password,
        kerberos_service=service_name(endpoint.principal), http_path=endpoint.http_path if http else None,
        tls=creds.tls if endpoint.use_ssl else None)
    return transport


def _how(endpoint: Endpoint, creds: Credentials) -> str:
    """The transport and authentication tried, in words."""
    tls = ""
    if endpoint.use_ssl:
        tls = " TLS" if creds.tls.verify else " TLS (certificate NOT verified: --tls-no-verify)"
    return f"{endpoint.transport_mode}{tls}, auth {endpoint.authentication}"


def probe_session(endpoint: Endpoint, creds: Credentials, timeout: float) -> Finding:
    """A real OpenSession + CloseSession with the transport and authentication the server published."""
    address, auth = endpoint.address, endpoint.authentication
    how = _how(endpoint, creds)
    if auth in PASSWORD_AUTHS and creds.password is None:
        return Finding("session", SKIP, address, f"not tried: {how} needs a user and a password",
                       "pass --user USER and --password-env VAR (the variable holding the password)")
    if auth not in (Authentication.NOSASL, Authentication.NONE, Authentication.KERBEROS) + PASSWORD_AUTHS:
        return Finding("session", SKIP, address, f"not tried: check cannot speak {how}", "test it with beeline")
    needed = ("dbapi", "kerberos") if auth == Authentication.KERBEROS else ("dbapi",)
    absent = extras.missing(*needed)
    if absent:  # a plain install checks ZooKeeper and TCP; a session needs the HiveServer2 client libraries
        return Finding("session", SKIP, address, f"not tried ({how}): {', '.join(absent)} not installed",
                       f"{extras.install_hint(*needed)}, then check again")
    if auth == Authentication.KERBEROS:
        missing = _kerberos_ticket_missing()
        if missing:
            return Finding("session", SKIP, address, f"not tried ({how}): {missing}",
                           f"kinit as a user {endpoint.principal or 'HiveServer2'} accepts, then check again")
    start = time.monotonic()
    transport = None
    try:
        from TCLIService import ttypes

        transport = _transport(endpoint, creds, timeout)
        response = session_round_trip(transport, creds.user)
        if response.status.statusCode not in (ttypes.TStatusCode.SUCCESS_STATUS,
                                              ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS):
            return Finding("session", FAIL, address,
                           f"OpenSession refused ({how}): {scrub(response.status.errorMessage or '', creds.password)}",
                           "check the user's rights (impersonation, hive.server2.enable.doAs) and the server log")
        elapsed = _ms(start)
    except ImportError as exc:
        return Finding("session", SKIP, address, f"not tried ({how}): {exc}", extras.install_hint(*needed))
    except Exception as exc:  # noqa: BLE001 - every driver/transport error becomes a finding
        untrusted = verification_error(exc, address, endpoint.host, creds.tls, fix="--tls-ca PEM",
                                       opt_out="--tls-no-verify") if endpoint.use_ssl else None
        if untrusted is not None:
            return Finding("session", FAIL, address, f"TLS certificate not verified ({how}): {untrusted.reason} "
                                                     f"(CAs trusted: {untrusted.ca})", untrusted.fix)
        status = getattr(transport, "code", None)  # THttpClient: the HTTP status of the last reply
        text = f"HTTP {status}, " if status not in (None, 200) else ""
        text = scrub(f"{text}{type(exc).__name__}: {exc}", creds.password)
        return Finding("session", FAIL, address, f"OpenSession failed ({how}): {text}", _session_hint(endpoint, text))
    return Finding("session", OK, address, f"OpenSession + CloseSession as {creds.user} ({how})", elapsed_ms=elapsed)


def _session_hint(endpoint: Endpoint, text: str) -> str:
    lowered = text.lower()
    if "validating the login" in lowered or "401" in lowered or "bad status: 3" in lowered:
        return "the server refused the credentials: check --user and the password in --password-env"
    if "kerberos" in lowered or "gss" in lowered:
        return f"check the Kerberos ticket (klist) and that the principal {endpoint.principal} is right for this host"
    if "timed out" in lowered:
        return ("the port accepts TCP but nothing answers: a hung server, or a transport/TLS mismatch with what it "
                "published")
    return (f"the server does not speak what it published ({endpoint.transport_mode}, "
            f"{endpoint.authentication}{', TLS' if endpoint.use_ssl else ''}): compare hive-site.xml with the znode "
            "data, and see the HiveServer2 log")


def probe_endpoint(endpoint: Endpoint, creds: Credentials, timeout: float) -> List[Finding]:
    tcp = probe_tcp(endpoint, timeout)
    if tcp.status != OK:
        return [tcp]
    return [tcp, probe_session(endpoint, creds, timeout)]


# -- the whole check ---------------------------------------------------------------------------------------------
def run_check(settings: ZkSettings, service: Service, creds: Credentials, *, zk_timeout: float = 10.0,
              probe_timeout: float = 5.0,
              endpoint_probe: Callable[[Endpoint, Credentials, float], List[Finding]] = probe_endpoint,
              hue_kerberos: Optional[kerberos.HueKerberos] = None) -> Report:
    """Run every probe in order; later probes are skipped when an earlier one makes them meaningless. With Kerberos,
    the sessions are opened with the ticket hive-ha uses toward ZooKeeper (``hue_kerberos``: the Kerberized Hue's
    own login, when the settings came from its hue.ini)."""
    findings: List[Finding] = []
    client, zk = probe_zookeeper(settings, zk_timeout)
    findings.append(zk)
    ticket = ticket_in_use(settings, hue_kerberos)
    if ticket is not None:
        findings.append(kerberos_finding(ticket))
    if client is None:
        return Report(service, settings.hosts, tuple(findings))
    try:
        path, namespace = probe_namespace(client, service)
        findings.append(namespace)
        if path is None:
            return Report(service, settings.hosts, tuple(findings))
        endpoints, registrations = read_registrations(client, service, path)
        findings.extend(registrations)
        leader = leader_finding(service, path, endpoints)
        if leader is not None:
            findings.append(leader)
    finally:
        _close(client)
    if endpoints:
        if ticket is None and any(e.authentication == Authentication.KERBEROS for e in endpoints):
            findings.append(kerberos_finding(kerberos.ticket_state(
                "process", "not hive-ha: the process's ticket cache (KRB5CCNAME)", kerberos.process_ccache(), None)))

        def probe(endpoint: Endpoint) -> List[Finding]:
            with kerberos.thread_ccache(settings.ticket_cache):  # the same ticket as toward ZooKeeper
                return endpoint_probe(endpoint, creds, probe_timeout)

        with concurrent.futures.ThreadPoolExecutor(min(_MAX_PARALLEL, len(endpoints))) as pool:
            for result in pool.map(probe, endpoints):
                findings.extend(result)
    return Report(service, settings.hosts, tuple(findings))
