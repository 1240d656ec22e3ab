"""What to retry after a failure, and where (urllib3 ``Retry``-style, immutable), and which errors are failures
of a server at all (by exception type, in one table, mapped at one boundary as httpx maps transport errors).

Two budgets, because what a dead server may have done differs:

- ``connect``: the failure happened before the request reached a server (refused, unreachable,
  TLS/SASL handshake, timeout while opening). Nothing ran, so it is safe to retry on another server.
- ``read``: the request was sent and the connection broke afterwards. A statement may have run (or
  still be running) on the dead server; it is never re-run unless the caller says the call is safe
  to repeat and grants a ``read`` budget.

Classification (``classify``) looks at the types in an error's chain (causes, contexts, thrift's ``inner``):

- a *local* error anywhere in it (``LOCAL_ERRORS``: a missing CA or key file, a permission, a missing module,
  a setting, a server certificate this client's trust settings do not verify) is nobody's server's fault: another
  server would fail the same way, so it is not a connection failure and no server is excluded for it;
- otherwise one error proving nothing reached a server makes it ``CONNECT`` (refused, unreachable, DNS,
  thrift's NOT_OPEN "Could not connect", a kernel connect timeout), and any other connection-level type
  ``READ`` (reset, broken pipe, EOF, a socket timeout, HTTP protocol errors, TLS errors, other thrift
  transport errors);
- anything else (a query error, a driver's own complaint) is not a connection failure.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.client
import socket
import ssl
from typing import Callable, Dict, Iterator, Optional, Tuple, TypeVar

from hive_ha.errors import (ConfigError, DiscoveryError, NoEndpointAvailable, ServerConnectionError,
                            ServerConnectionLost, ServerUnreachable, UnusableEndpoint)
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service

T = TypeVar("T")
CONNECT, READ = "connect", "read"

#: Errors of this machine, never of a server. A certificate that fails verification is one: the servers of a
#: deployment share a CA and a naming scheme, so excluding each in turn would only hide the setting to fix.
LOCAL_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ImportError, ConfigError,
                MemoryError, ssl.SSLCertVerificationError)
#: errno values meaning "nothing reached the server" (a kernel connect timeout included).
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                       errno.ETIMEDOUT, errno.EADDRNOTAVAIL}
#: errno values of a connection that broke once open.
_BROKEN_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN, errno.ESHUTDOWN}
_BROKEN_TYPES = (ConnectionError, TimeoutError, EOFError, http.client.HTTPException, ssl.SSLError)
_THRIFT_NOT_OPEN = 1  # TTransportException.NOT_OPEN: "Could not connect to ..."


@dataclasses.dataclass(frozen=True)
class FailoverPolicy:
    """Budgets for trying other servers; ``increment`` returns a new policy or raises the error when spent."""

    connect: int = 2
    read: int = 0
    history: Tuple[Tuple[str, str, str], ...] = ()  # (kind, endpoint address, error) per failure

    def increment(self, kind: str, endpoint: Endpoint, error: BaseException) -> "FailoverPolicy":
        connect, read = self.connect, self.read
        if kind == CONNECT:
            connect -= 1
        else:
            read -= 1
        if connect < 0 or read < 0:
            raise error
        history = self.history + (_entry(kind, endpoint, error),)
        return dataclasses.replace(self, connect=connect, read=read, history=history)


def classify(exc: BaseException) -> Optional[str]:
    """``CONNECT``, ``READ`` or None (not a connection-level failure of a server), by the types in the chain:
    a local error anywhere means None; else one error proving nothing reached a server means ``CONNECT``."""
    chain = list(error_chain(exc))
    if any(isinstance(err, LOCAL_ERRORS) for err in chain):
        return None
    kinds = {_kind(err) for err in chain}
    return CONNECT if CONNECT in kinds else READ if READ in kinds else None


def _kind(err: BaseException) -> Optional[str]:
    if isinstance(err, ServerConnectionError):
        return err.kind
    if isinstance(err, (ConnectionRefusedError, socket.gaierror)):
        return CONNECT
    if isinstance(err, OSError) and err.errno in _UNREACHABLE_ERRNOS:
        return CONNECT
    if _is_thrift_transport(err):
        return CONNECT if getattr(err, "type", None) == _THRIFT_NOT_OPEN else READ
    if isinstance(err, _BROKEN_TYPES) or (isinstance(err, OSError) and err.errno in _BROKEN_ERRNOS):
        return READ
    return None


def is_connection_error(exc: BaseException) -> bool:
    """True for a connection-level failure of a server (``classify``); False for query errors and local errors."""
    return classify(exc) is not None


def failed_before_request(exc: BaseException) -> bool:
    """True when the error proves the request never reached a server (safe to send elsewhere)."""
    return classify(exc) == CONNECT


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

    When no server is left to try after a failure (the budget is spent, or every registered server is
    excluded) the last failure propagates as a ``ServerConnectionError`` (the driver's error is its cause),
    or, if ``exhausted`` is given, the error it builds from the failure history (one ``(kind, address,
    error)`` per failure, the last included, then ``("skipped", address, why)`` per skipped server) and the
    last driver error, chained to it. When every server left was skipped, ``UnusableEndpoint`` names each
    reason; a lookup failing before any attempt propagates as is.
    """
    policy = policy or FailoverPolicy()
    last: Optional[ServerConnectionError] = None
    skipped: Dict[Tuple[str, str], UnusableEndpoint] = {}
    while True:
        try:
            endpoint = discovery.endpoint(service, user, skip=skipped.keys())
        except DiscoveryError as exc:
            if last is not None and exhausted is not None:
                raise exhausted(policy.history + _skipped(skipped), last.error) from last.error
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
            discovery.report_failure(service, endpoint, user)
            try:
                policy = policy.increment(CONNECT, endpoint, exc.error)
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
