"""What to retry after a failure, and where (urllib3 ``Retry``-style, immutable).

Two budgets, because what a dead server may have done differs:

- ``connect``: the failure happened before the request reached a server (refused, unreachable,
  TLS/SASL handshake, timeout while opening). Nothing ran, so it is safe to retry on another server.
- ``read``: the request was sent and the connection broke afterwards. A statement may have run (or
  still be running) on the dead server; it is never re-run unless the caller says the call is safe
  to repeat and grants a ``read`` budget.
"""
from __future__ import annotations

import dataclasses
import errno
import http.client
import socket
from typing import Callable, Iterator, Optional, Tuple, TypeVar

from .endpoint import Endpoint
from .errors import DiscoveryError
from .layouts import Service

T = TypeVar("T")
CONNECT, READ = "connect", "read"

# errno values that mean "the request never reached a server".
_CONNECT_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT,
                   errno.EADDRNOTAVAIL}


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


def is_connection_error(exc: BaseException) -> bool:
    """True for socket/transport failures (the server is gone or unreachable), False for query errors."""
    for err in error_chain(exc):
        if isinstance(err, (ConnectionError, socket.timeout, EOFError, http.client.HTTPException)):
            return True
        if isinstance(err, OSError) and err.errno is not None:
            return True
        if _is_thrift_transport(err):
            return True
    return False


def failed_before_request(exc: BaseException) -> bool:
    """True when the error proves the request never reached a server (safe to send elsewhere)."""
    for err in error_chain(exc):
        if isinstance(err, ConnectionRefusedError) or (isinstance(err, OSError) and err.errno in _CONNECT_ERRNOS):
            return True
        if _is_thrift_transport(err) and getattr(err, "type", None) == 1:  # NOT_OPEN: "Could not connect to ..."
            return True
    return False


Exhausted = Callable[[Tuple[Tuple[str, str, str], ...], BaseException], BaseException]


def with_failover(
    discovery, service: Service, open_fn: Callable[[Endpoint], T], *,
    user: Optional[str] = None, policy: Optional[FailoverPolicy] = None, exhausted: Optional[Exhausted] = None,
) -> T:
    """Call ``open_fn(endpoint)`` on the current endpoint; on a connection-level failure report it and
    try the next one while the ``connect`` budget lasts. Anything ``open_fn`` raises counts as the
    connect phase: opening a connection sends no statement. Query-level errors propagate untouched.

    When no server is left to try after a failure (the budget is spent, or every registered server is
    excluded) the last driver error propagates, or, if ``exhausted`` is given, the error it builds from
    the failure history (one ``(kind, address, error)`` per failure, the last included) and that last
    driver error, chained to it. A lookup failing before any attempt always propagates as is.
    """
    policy = policy or FailoverPolicy()
    last: Optional[BaseException] = None
    while True:
        try:
            endpoint = discovery.endpoint(service, user)
        except DiscoveryError:
            if last is None or exhausted is None:
                raise
            raise exhausted(policy.history, last) from last
        try:
            return open_fn(endpoint)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            discovery.report_failure(service, endpoint, user)
            try:
                policy = policy.increment(CONNECT, endpoint, exc)
            except Exception as spent:  # the budget is spent: increment re-raised exc itself
                if spent is not exc or exhausted is None:
                    raise
                raise exhausted(policy.history + (_entry(CONNECT, endpoint, exc),), exc) from exc
            last = exc


def _entry(kind: str, endpoint: Endpoint, error: BaseException) -> Tuple[str, str, str]:
    return (kind, endpoint.address, f"{type(error).__name__}: {error}")


def _is_thrift_transport(err: BaseException) -> bool:
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
