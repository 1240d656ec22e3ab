"""hive-ha's Thrift client for one HiveServer2 registration, in place of Hue's ``PooledClient`` inside the clients
hive-ha builds (``HiveServerClient._client``).

It uses Hue's own connection pool (the same connections, transports, SASL, TLS and Kerberos as Hue's) but makes each
call itself, with the generated client's ``send_X`` and ``recv_X``, so that it knows the phase a failure happened in
(``hive_ha.core.attempts``). Hue's wrapper would instead

- retry a call three times on the same server, a timed-out one included (thrift 0.16 wraps ``socket.timeout`` in a
  ``TTransportException``, which Hue's "do not retry a timeout" test misses): a paused server held the editor for
  3 x ``server_conn_timeout``;
- end with the "could not connect" of its last try, hiding that its first try had sent the request.

Here a timeout is never retried: a call fails after one ``server_conn_timeout``. A connection that broke is checked
on a fresh connection at once (refused: the server is dead; answering: the old connection was stale); only a call that
is safe to repeat (``REPEATABLE``) is sent again on it, and a call on a pooled connection that broke before anything
was sent. Each attempt is noted in the editor call being served (``hue_integration.calls``) and reported to the
discovery as evidence; errors reach Hue as Hue's pool raises them.
"""
from __future__ import annotations

import functools
import select
import socket
import time
from typing import TYPE_CHECKING, Any, Optional, Tuple

from hive_ha.core.attempts import EXECUTE, Attempt, Phase
from hive_ha.core.health import Evidence, State
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hue_integration import calls, sessions
from hue_integration.late_replies import LateReplies

if TYPE_CHECKING:  # pragma: no cover
    from desktop.lib.thrift_util import ConnectionConfig, PooledClient, SuperClient

    from hive_ha.core.discovery import Discovery

#: Calls that change nothing when sent twice (a status poll, metadata, a session that is opened twice): sent again on
#: a fresh connection when the first one broke after sending. Not FetchResults or GetLog (they advance a cursor), not
#: ExecuteStatement.
REPEATABLE = frozenset({
    "OpenSession", "GetInfo", "GetOperationStatus", "GetResultSetMetadata", "CancelOperation", "GetSchemas",
    "GetTables", "GetColumns", "GetCatalogs", "GetTableTypes", "GetTypeInfo", "GetFunctions", "GetPrimaryKeys",
    "GetCrossReference", "GetQueryId",
})
#: Seconds per wait for a free pooled connection: between waits the server's health is looked at again, so nobody
#: queues behind calls stuck on a server that stopped answering.
POOL_WAIT_STEP = 1.0


class HAClient:
    """A transparent stand-in for Hue's pooled Thrift client, bound to the registration it talks to."""

    def __init__(self, pooled: PooledClient, service: Service, endpoint: Endpoint, discovery: Discovery,
                 late: LateReplies) -> None:
        self._pooled, self._service, self._endpoint, self._discovery = pooled, service, endpoint, discovery
        self._late = late

    @property
    def conf(self) -> ConnectionConfig:
        return self._pooled.conf

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name[:1].isupper():
            return getattr(self._pooled, name)  # conf, transport, get_coordinator_host & co: Hue's, no RPC
        return functools.partial(self._rpc, name)

    # -- one RPC ----------------------------------------------------------------------------------
    def _rpc(self, name: str, *args: Any, **kwargs: Any) -> Any:  # a Thrift request and reply, passed through
        from desktop.lib import thrift_util

        statement = getattr(args[0], "statement", None) if name == EXECUTE and args else None
        conf = self._pooled.conf
        pool = thrift_util._connection_pool  # noqa: SLF001 - Hue's pool, checked at start-up (touchpoints)
        try:
            superclient = self._checkout(pool, conf)
        except socket.timeout as exc:
            self._settle(Attempt(self._endpoint, name, Phase.OPEN, exc, statement))
            raise _as_hue_error(exc) from exc
        set_aside = False
        try:
            attempt, result = self._attempt(superclient, name, args, kwargs, statement, fresh=False)
            if _late_reply(attempt, superclient):  # keep the connection (and the session it may have opened)
                set_aside = True
                self._late.wait_for(superclient, name, lambda: pool.return_client(conf, superclient))
            if attempt.failed and attempt.evidence is Evidence.BROKEN:
                # The connection broke: look again on a fresh one (refused: dead; answering: this connection was
                # stale). The request is sent again only when that changes nothing.
                resend = name in REPEATABLE or not attempt.reached
                again, again_result = self._attempt(superclient, name, args, kwargs, statement, fresh=True,
                                                    open_only=not resend)
                if resend:
                    self._note(attempt)
                    attempt, result = again, again_result
                else:  # the request's fate stays unknown: the RPC failed; what the server is, the fresh try says
                    self._note(attempt, final=True)
                    self._note(again)
                    if again.failed:
                        self._report(again)
                    raise _as_hue_error(attempt.error) from attempt.error  # type: ignore[arg-type]
        finally:
            if not set_aside:
                pool.return_client(conf, superclient)
        self._settle(attempt)
        if attempt.error is not None:
            raise _as_hue_error(attempt.error) from attempt.error
        if isinstance(result, _ServerError):
            raise _as_hue_error(result.error) from result.error
        if name == "OpenSession":  # Hue stores the reply's configuration as the new Session row's properties
            sessions.mark_reply(getattr(result, "configuration", None), self._endpoint)
        return result

    def _checkout(self, pool: Any, conf: ConnectionConfig) -> SuperClient:
        """A connection from Hue's pool; waits as Hue does (up to the call timeout) unless the server stopped
        answering meanwhile."""
        deadline = time.monotonic() + (conf.timeout_seconds or 0)
        while True:
            try:
                return pool.get_client(conf, get_client_timeout=max(0.0, min(POOL_WAIT_STEP,
                                                                             deadline - time.monotonic())))
            except socket.timeout:
                suspect = self._discovery.health(self._service, self._endpoint).state is not State.UP
                if suspect or time.monotonic() >= deadline:
                    raise

    def _attempt(self, superclient: SuperClient, name: str, args: Tuple[Any, ...], kwargs: Any,
                 statement: Optional[str], *, fresh: bool, open_only: bool = False) -> Tuple[Attempt, Any]:
        from thrift.Thrift import TApplicationException

        transport = superclient.transport
        phase = Phase.OPEN
        method = "(connect)" if open_only else name
        if open_only:
            statement = None
        try:
            if transport.isOpen() and (fresh or self._closed_by_peer(superclient)):
                transport.close()  # a fresh connection, or the server closed this one while it sat in the pool
            if not transport.isOpen():
                transport.open()
            superclient.set_timeout(self._pooled.conf.timeout_seconds)
            if open_only:
                return Attempt(self._endpoint, method, Phase.OPEN), None
            phase = Phase.SEND
            client = superclient.wrapped
            getattr(client, "send_" + name)(*args, **kwargs)
            phase = Phase.RECV
            result = getattr(client, "recv_" + name)()
        except TApplicationException as exc:  # the server answered, with an error of its own
            return Attempt(self._endpoint, method, phase, None, statement), _ServerError(exc)
        except Exception as exc:  # noqa: BLE001 - decided by the caller from the attempt
            attempt = Attempt(self._endpoint, method, phase, exc, statement)
            if not _late_reply(attempt, superclient):
                transport.close()  # its state is unknown: a late reply would be read as the next call's
            return attempt, None
        return Attempt(self._endpoint, method, Phase.RECV, None, statement), result

    @staticmethod
    def _closed_by_peer(superclient: SuperClient) -> bool:
        """The pooled socket is readable before anything was sent: the server closed it (or the protocol is out of
        step). Not for HTTP, which keeps no socket of its own between calls."""
        from desktop.lib import thrift_util

        try:
            sock = thrift_util._grab_transport_from_wrapper(superclient.transport).handle  # noqa: SLF001
        except Exception:  # noqa: BLE001 - HTTP transports have no handle
            return False
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    # -- what was learnt ---------------------------------------------------------------------------
    def _note(self, attempt: Attempt, final: bool = False) -> None:
        call = calls.current()
        if call is not None:
            call.note(attempt, final)

    def _settle(self, attempt: Attempt) -> None:
        """Note the attempt as what the RPC came to and report what it says about the server."""
        self._note(attempt, final=True)
        self._report(attempt)

    def _report(self, attempt: Attempt) -> None:
        evidence = attempt.evidence
        if evidence is None:
            return
        if evidence is Evidence.ANSWERED and \
                self._discovery.health(self._service, self._endpoint).state is State.UP:
            return  # the common case: nothing to report
        detail = f"{attempt.method}: {type(attempt.error).__name__}: {attempt.error}"[:300] if attempt.error else ""
        call = calls.current()
        self._discovery.report(self._service, self._endpoint, evidence, call.user if call else None, detail)


def _late_reply(attempt: Attempt, superclient: SuperClient) -> bool:
    """The request went out over a binary connection and its reply is late: worth waiting for (late_replies)."""
    return (attempt.phase is Phase.RECV and attempt.evidence is Evidence.SLOW
            and getattr(getattr(superclient, "transport", None), "isOpen", lambda: False)()
            and not _is_http(superclient))


def _is_http(superclient: SuperClient) -> bool:
    from desktop.lib import thrift_util

    try:
        return getattr(thrift_util._grab_transport_from_wrapper(superclient.transport), "handle", None) is None  # noqa: SLF001
    except Exception:  # noqa: BLE001 - not a transport Hue wraps: treat as HTTP (close it)
        return True


class _ServerError:
    """A reply that is an exception of the server's (``TApplicationException``): raised once the connection is back
    in the pool."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _as_hue_error(error: BaseException) -> BaseException:
    """What Hue's pooled client raises for ``error`` (its callers' messages and retries depend on the types)."""
    from desktop.lib.exceptions import StructuredException, StructuredThriftTransportException
    from thrift.Thrift import TApplicationException
    from thrift.transport.TTransport import TTransportException

    if isinstance(error, TApplicationException):
        return StructuredException("THRIFTAPPLICATION", str(error), data=None, error_code=502)
    if isinstance(error, OSError):
        return StructuredException("THRIFTSOCKET", str(error), data=None, error_code=502)
    if isinstance(error, TTransportException):
        return StructuredThriftTransportException(error, error_code=502)
    return error
