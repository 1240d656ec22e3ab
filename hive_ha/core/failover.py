"""Which errors are failures of a server at all (by exception type, in one table, mapped at one boundary as httpx
maps transport errors), and where to open a connection after one (``with_failover``, with a urllib3 ``Retry``-style
immutable budget).

Only *opening* a connection is retried on another server here: nothing was sent, so nothing ran. A request that was
sent and then lost is the caller's to decide (``hive_ha.core.attempts`` says whether it may have run;
``hive_ha.model.statements`` whether running it twice is harmless).

Classification (``classify``) looks at the types in an error's chain (causes, contexts, thrift's ``inner``):

- a *local* error anywhere in it (``LOCAL_ERRORS``: a missing CA or key file, a permission, a missing module,
  a setting, a server certificate this client's trust settings do not verify), or a SASL handshake that failed on
  this side or that the server refused (no Kerberos ticket, a wrong password), is nobody's server's fault: another
  server would fail the same way, so it is not a connection failure and no server is blamed for it;
- otherwise any error of a connection that broke once open makes it ``READ`` (reset, broken pipe, EOF, a socket
  timeout, HTTP protocol errors, TLS errors, other thrift transport errors), even when a later error of the same
  chain says a new connection was refused: a client that retried on a new connection (Hue's does) may have sent
  the request the first time. Only a chain of errors that all prove nothing reached a server is ``CONNECT``
  (refused, unreachable, DNS, thrift's NOT_OPEN "Could not connect", a kernel connect timeout);
- anything else (a query error, a driver's own complaint) is not a connection failure.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.client
import socket
import ssl
from typing import Callable, Dict, Iterator, Optional, Set, Tuple, TypeVar

from hive_ha.core.health import Evidence
from hive_ha.errors import (ConfigError, DiscoveryError, NoEndpointAvailable, ServerConnectionError,
                            ServerConnectionLost, ServerUnreachable, UnusableEndpoint)
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service

T = TypeVar("T")
CONNECT, READ = "connect", "read"  # nothing reached a server; a connection broke (or timed out) once open

#: Errors of this machine, never of a server. A certificate that fails verification is one: the servers of a
#: deployment share a CA and a naming scheme, so excluding each in turn would only hide the setting to fix.
LOCAL_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ImportError, ConfigError,
                MemoryError, ssl.SSLCertVerificationError)
#: errno values meaning "nothing reached the server" (a kernel connect timeout included).
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                       errno.ETIMEDOUT, errno.EADDRNOTAVAIL}
#: errno values of a connection that broke once open.
_BROKEN_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN, errno.ESHUTDOWN}
_BROKEN_TYPES = (ConnectionError, EOFError, http.client.HTTPException, ssl.SSLError)
_THRIFT_NOT_OPEN = 1  # TTransportException.NOT_OPEN: "Could not connect to ..."
_THRIFT_TIMED_OUT = 3  # TTransportException.TIMED_OUT
#: How thrift_sasl (PyHive's and Hue's copy) words a handshake that failed on this side or that the server refused.
_SASL_FAILURES = ("Could not start SASL", "Bad status:", "Bad SASL result")
_TIMEOUT = "timeout"


@dataclasses.dataclass(frozen=True)
class FailoverPolicy:
    """How many other servers to try when opening a connection fails; ``increment`` returns a new policy or raises
    the error when the budget is spent."""

    connect: int = 2
    history: Tuple[Tuple[str, str, str], ...] = ()  # (kind, endpoint address, error) per failure

    def increment(self, endpoint: Endpoint, error: BaseException) -> "FailoverPolicy":
        if self.connect <= 0:
            raise error
        history = self.history + (_entry(CONNECT, endpoint, error),)
        return dataclasses.replace(self, connect=self.connect - 1, history=history)


def classify(exc: BaseException) -> Optional[str]:
    """``CONNECT``, ``READ`` or None (not a connection-level failure of a server), by the types in the chain:
    a local error anywhere means None; else a broken connection anywhere means ``READ``; else ``CONNECT`` when an
    error proves nothing reached a server."""
    chain = list(error_chain(exc))
    if any(isinstance(err, LOCAL_ERRORS) or _authentication_failed(err) for err in chain):
        return None
    kinds = {_kind(err) for err in chain}
    if READ in kinds:
        return READ
    if CONNECT in kinds:
        return CONNECT
    return READ if _TIMEOUT in kinds else None  # a bare timeout: the request may have been sent


def _kind(err: BaseException) -> Optional[str]:
    if isinstance(err, ServerConnectionError):
        return err.kind
    if isinstance(err, (ConnectionRefusedError, socket.gaierror)):
        return CONNECT
    if isinstance(err, OSError) and err.errno in _UNREACHABLE_ERRNOS:
        return CONNECT
    if _is_thrift_transport(err):
        kind = getattr(err, "type", None)
        if kind is None:  # a wrapper that never ran TTransportException's __init__ (Hue's): its cause decides
            return None
        return CONNECT if kind == _THRIFT_NOT_OPEN else READ
    if isinstance(err, TimeoutError):  # says nothing of whether the request was sent: the other errors decide
        return _TIMEOUT
    if isinstance(err, _BROKEN_TYPES) or (isinstance(err, OSError) and err.errno in _BROKEN_ERRNOS):
        return READ
    return None


def _authentication_failed(err: BaseException) -> bool:
    """thrift_sasl's handshake errors: this side could not start or go on (no Kerberos ticket, a bad challenge), or
    the server answered "no" (wrong password, unknown principal). The server is there either way, and another one
    would answer the same: not a connection failure (thrift_sasl raises them as NOT_OPEN, as it does a refusal)."""
    return _is_thrift_transport(err) and str(getattr(err, "message", "") or "").startswith(_SASL_FAILURES)


def evidence_of(error: BaseException) -> Optional[Evidence]:
    """What a connection-level failure says about the server (``hive_ha.core.health``): a timeout anywhere in the
    chain is ``SLOW`` (late is not dead), else ``REFUSED`` when nothing reached it, else ``BROKEN``; None when the
    error is not a connection-level failure (query and local errors say nothing of the server)."""
    kind = classify(error)
    if kind is None:
        return None
    if any(_is_timeout(err) for err in error_chain(error)):
        return Evidence.SLOW
    return Evidence.REFUSED if kind == CONNECT else Evidence.BROKEN


def _is_timeout(err: BaseException) -> bool:
    if isinstance(err, TimeoutError) or (isinstance(err, OSError) and err.errno == errno.ETIMEDOUT):
        return True
    if _is_thrift_transport(err) and getattr(err, "type", None) == _THRIFT_TIMED_OUT:
        return True
    return "Timeout" in type(err).__name__  # requests/urllib3 (Hue's HTTP transport): ReadTimeout, ConnectTimeout


def is_connection_error(exc: BaseException) -> bool:
    """True for a connection-level failure of a server (``classify``); False for query errors and local errors."""
    return classify(exc) is not None


@contextlib.contextmanager
def map_connection_errors(address: str) -> Iterator[None]:
    """The boundary: a connection-level failure raised inside becomes ``ServerUnreachable`` or
    ``ServerConnectionLost`` for ``address`` (the original as ``__cause__``); anything else passes untouched."""
    try:
        yield
    except ServerConnectionError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            raise
        raise (ServerUnreachable if kind == CONNECT else ServerConnectionLost)(address, exc) from exc


Exhausted = Callable[[Tuple[Tuple[str, str, str], ...], BaseException], BaseException]


def with_failover(
    discovery, service: Service, open_fn: Callable[[Endpoint], T], *,
    user: Optional[str] = None, policy: Optional[FailoverPolicy] = None, exhausted: Optional[Exhausted] = None,
) -> T:
    """Call ``open_fn(endpoint)`` on the current endpoint; on a connection-level failure report it and
    try the next one while the ``connect`` budget lasts. Anything ``open_fn`` raises counts as the
    connect phase: opening a connection sends no statement. Query-level and local errors propagate untouched.
    An endpoint ``open_fn`` rejects with ``UnusableEndpoint`` (settings this client cannot use) is skipped for
    this call, without a report (it is healthy for other clients) and without spending budget.

    Each failure is reported as evidence about its server (``hive_ha.core.health``): refused makes it dead, a
    timeout suspect. When no server is left to try after a failure (the budget is spent, or every registered server
    is dead) the last failure propagates as a ``ServerConnectionError`` (the driver's error is its cause),
    or, if ``exhausted`` is given, the error it builds from the failure history (one ``(kind, address,
    error)`` per failure, the last included, then ``("skipped", address, why)`` per skipped server) and the
    last driver error, chained to it. When every server left was skipped, ``UnusableEndpoint`` names each
    reason; a lookup failing before any attempt propagates as is.
    """
    policy = policy or FailoverPolicy()
    last: Optional[ServerConnectionError] = None
    skipped: Dict[Tuple[str, str], UnusableEndpoint] = {}
    failed: Set[Tuple[str, str]] = set()  # not tried again in this call, whatever their state (a timeout is late)
    while True:
        try:
            endpoint = discovery.endpoint(service, user, skip=skipped.keys() | failed)
        except DiscoveryError as exc:
            if last is not None and exhausted is not None:
                raise exhausted(policy.history + _skipped(skipped), last.error) from last.error
            if last is not None:  # every server left was tried in this call
                raise last from last.error
            if not skipped:
                raise
            raise _with_skipped(exc, skipped) from exc
        try:
            with map_connection_errors(endpoint.address):
                return open_fn(endpoint)
        except UnusableEndpoint as exc:
            skipped[endpoint.key] = exc
            continue
        except ServerConnectionError as exc:
            failed.add(endpoint.key)
            discovery.report_failure(service, endpoint, user, evidence=evidence_of(exc.error) or Evidence.BROKEN,
                                     detail=_entry(CONNECT, endpoint, exc.error)[2])
            try:
                policy = policy.increment(endpoint, exc.error)
            except Exception as spent:  # the budget is spent: increment re-raised exc.error itself
                if spent is not exc.error:
                    raise
                if exhausted is None:
                    raise exc from exc.error
                history = policy.history + (_entry(CONNECT, endpoint, exc.error),) + _skipped(skipped)
                raise exhausted(history, exc.error) from exc.error
            last = exc


def _skipped(skipped: Dict[Tuple[str, str], UnusableEndpoint]) -> Tuple[Tuple[str, str, str], ...]:
    return tuple(("skipped", address, str(error.reasons[address])) for (address, _), error in skipped.items())


def _with_skipped(exc: DiscoveryError, skipped: Dict[Tuple[str, str], UnusableEndpoint]) -> Exception:
    """The lookup's error naming the skipped servers, or, when they were all that was left, why none is usable."""
    reasons = {a: e.reasons[a] for (a, _), e in skipped.items()}
    if isinstance(exc, NoEndpointAvailable):
        if not exc.excluded:
            return UnusableEndpoint(reasons)
        return exc.with_skipped({a: str(r) for a, r in reasons.items()})
    return exc


def _entry(kind: str, endpoint: Endpoint, error: BaseException) -> Tuple[str, str, str]:
    return (kind, endpoint.address, f"{type(error).__name__}: {error}")


def _is_thrift_transport(err: BaseException) -> bool:  # by type: thrift is an optional dependency of the core
    try:
        from thrift.transport.TTransport import TTransportException
    except ImportError:  # pragma: no cover - thrift is an optional dependency of the core
        return False
    return isinstance(err, TTransportException)


def error_chain(exc: Optional[BaseException]) -> Iterator[BaseException]:
    """The error, its causes/contexts and thrift's ``inner`` exceptions (cycle-safe; None gives nothing)."""
    seen = set()
    todo = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        todo.extend([err.__cause__, err.__context__, getattr(err, "inner", None)])
