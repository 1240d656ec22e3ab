"""The client reset at the Notebook-API level: ``HS2Api`` methods wrapped so a dead HiveServer2 never
leaves a user stuck, and never silently.

What happens after a connection-level failure depends on what the dead server may have done
(urllib3's connect-vs-read split), by kind of call:

==========  ==============================================  =====================================================
kind        methods                                         after a connection-level failure
==========  ==============================================  =====================================================
safe        create_session, close_session, autocomplete,    retried once on the server now chosen
            get_sample_data, explain, describe_*
statement   execute                                         retried once only when nothing reached the server
                                                            (refused, unreachable, TLS/SASL handshake); else
                                                            ``QueryError``: run it again
handle      check_status, fetch_result, fetch_result_size,  never re-run: ``QueryExpired`` naming the server
            get_log, cancel, progress, get_jobs             that went away and the one serving now
close       close_statement                                 nothing to close (it ended with its server)
==========  ==============================================  =====================================================

The reset itself (compare-and-swap report, every user's clients and idle connections to that server
dropped, its Session rows invalidated) is done by the integration when the failure is seen; this
module only decides what the user gets. Operation handles go back to the server they live on (the
execute reply carries it) while that server is alive, so a reselection never strands a running query.
Query-level errors (bad SQL, permissions) pass through to Hue's own handler untouched.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from hive_ha.endpoint import Endpoint
from hive_ha.errors import DiscoveryError
from hive_ha.failover import error_chain
from hive_ha.layouts import Service

from . import sessions
from .thrift_calls import Failure, recording

log = logging.getLogger(__name__)

SAFE, STATEMENT, HANDLE, CLOSE = "safe", "statement", "handle", "close"
CALLS: Dict[str, str] = {
    "create_session": SAFE, "close_session": SAFE, "autocomplete": SAFE, "get_sample_data": SAFE, "explain": SAFE,
    "describe_table": SAFE, "describe_database": SAFE, "describe_column": SAFE,
    "execute": STATEMENT,
    "check_status": HANDLE, "fetch_result": HANDLE, "fetch_result_size": HANDLE, "get_log": HANDLE,
    "cancel": HANDLE, "progress": HANDLE, "get_jobs": HANDLE,
    "close_statement": CLOSE,
}
#: Key hive-ha adds to the execute reply (the server the operation lives on, as on its Session row); the
#: editor sends it back inside the snippet's handle.
SERVER_KEY = sessions.SERVER_KEY
# Snippet/session type -> the ``name`` Hue passes to get_query_server_config.
QUERY_SERVER_NAMES = {"hive": "beeswax", "llap": "llap", "hplsql": "hplsql"}

#: The server an operation lives on, per service, while one of its handle calls runs.
PINNED: contextvars.ContextVar[Optional[Tuple[Service, str]]] = contextvars.ContextVar("hive_ha_pinned", default=None)


class ServerGone(Exception):
    """The server an operation handle lives on is excluded or unregistered (raised by the lookup)."""

    def __init__(self, service: Service, address: str) -> None:
        super().__init__(address)
        self.service, self.address = service, address


class NotebookApiWrapper:
    """Installs/uninstalls the wrapped methods on Hue's ``HS2Api`` class."""

    def __init__(self, integration: Any) -> None:
        self.integration = integration
        self._originals: List[Tuple[type, str, Any]] = []

    def install(self, api_class: type) -> None:
        module = sys.modules[api_class.__module__]
        hue_handler = getattr(module, "query_error_handler", None)
        for name, kind in CALLS.items():
            original = api_class.__dict__.get(name)
            if original is None:
                continue
            inner = _undecorated(original, name)
            if inner is not None and hue_handler is not None:
                # Ours runs inside Hue's handler: connection failures are decided here before Hue's
                # handler could swallow them; query-level errors still get Hue's mapping.
                replacement = hue_handler(self._wrap(inner, name, kind))
            else:
                replacement = self._wrap(original, name, kind)
            self._originals.append((api_class, name, original))
            setattr(api_class, name, replacement)

    def uninstall(self) -> None:
        while self._originals:
            api_class, name, original = self._originals.pop()
            setattr(api_class, name, original)

    def _wrap(self, func: Callable[..., Any], name: str, kind: str) -> Callable[..., Any]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def call(api: Any, *args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind_partial(api, *args, **kwargs).arguments
            return _Call(self.integration, api, kind, arguments).run(func, args, kwargs)
        return call


class _Call:
    """One editor call: run it; after a connection-level failure decide between retry and a clear error."""

    def __init__(self, integration: Any, api: Any, kind: str, arguments: Dict[str, Any]) -> None:
        self.integration, self.api, self.kind = integration, api, kind
        self.user = api.user
        self.notebook, self.snippet = arguments.get("notebook"), arguments.get("snippet")

    def run(self, func: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        from notebook.connectors.base import QueryError, QueryExpired

        pin = self._pin()
        for attempt in (1, 2):
            with recording() as record:
                token = PINNED.set(pin)
                try:
                    if self.kind == STATEMENT:
                        self._replace_dead_sessions()
                    result, error = func(self.api, *args, **kwargs), None
                except Exception as exc:  # decided below; re-raised unless it is ours to handle
                    result, error = None, exc
                finally:
                    PINNED.reset(token)
            gone = _find(error, ServerGone)
            if gone is not None:  # the operation's server is excluded or gone: nothing to re-run there
                if self.kind == CLOSE:
                    return {"status": -1, "message": _closed_message(gone.address)}
                raise QueryExpired(self._lost_message(gone.service, gone.address)) from error
            if not record.failures:
                if error is None:
                    return self._tag(result, record.answered_by)
                discovery_error = _find(error, DiscoveryError)
                if discovery_error is not None:  # nothing left to try: say why, in the editor
                    raise QueryError(str(discovery_error)) from error
                raise error
            failure = record.failures[0]  # raised, or swallowed by Hue's own code (create_session)
            now = self._now_serving(failure.service)
            if attempt == 1 and now is not None and self._may_retry(failure):
                log.info("hive-ha: %s for %s failed on %s (%s); retrying on %s", failure.method, self.user,
                         failure.endpoint.address, "before the request" if failure.before_request else "after it",
                         now.address)
                continue
            if self.kind == CLOSE:
                return {"status": -1, "message": _closed_message(failure.endpoint.address)}
            if self.kind == HANDLE:
                raise QueryExpired(self._lost_message(failure.service, failure.endpoint.address, now)) from error
            raise QueryError(self._failed_message(failure, now)) from error
        raise AssertionError("unreachable")  # pragma: no cover

    # -- decisions ----------------------------------------------------------------------------------
    def _may_retry(self, failure: Failure) -> bool:
        if self.kind == SAFE:
            return True
        if self.kind == STATEMENT:
            return failure.before_request
        return False

    def _pin(self) -> Optional[Tuple[Service, str]]:
        if self.kind not in (HANDLE, CLOSE) or not isinstance(self.snippet, dict):
            return None
        handle = (self.snippet.get("result") or {}).get("handle") or {}
        address = handle.get(SERVER_KEY) if isinstance(handle, dict) else None
        service = self.integration.service_for(self._query_server_name())
        return (service, address) if address and service is not None else None

    def _tag(self, result: Any, answered_by: Optional[Endpoint]) -> Any:
        """The execute reply says where the operation lives; the editor sends it back with the handle."""
        if self.kind == STATEMENT and isinstance(result, dict) and answered_by is not None:
            result[SERVER_KEY] = answered_by.address
        return result

    def _replace_dead_sessions(self) -> None:
        def open_for(session_type: str) -> Any:
            name = QUERY_SERVER_NAMES[session_type]
            dbms = self.integration.dbms
            return dbms.get(self.user, query_server=dbms.get_query_server_config(name=name)).open_session(self.user)

        types = [t for t, name in QUERY_SERVER_NAMES.items() if self.integration.service_for(name) is not None]
        sessions.replace_in_notebook(self.notebook, self.user, types, open_for)

    def _query_server_name(self) -> str:
        snippet_type = self.snippet.get("type") if isinstance(self.snippet, dict) else None
        return QUERY_SERVER_NAMES.get(snippet_type or "hive", "beeswax")

    def _now_serving(self, service: Service) -> Optional[Endpoint]:
        try:
            return self.integration.discovery.endpoint(service, self.user.username)
        except DiscoveryError:
            return None

    # -- what the user reads --------------------------------------------------------------------------
    def _lost_message(self, service: Service, address: str, now: Optional[Endpoint] = None) -> str:
        now = now if now is not None else self._now_serving(service)
        serving = f"{now.address} serves it now" if now else "no other server is available right now"
        return (f"The query ran on HiveServer2 {address}, which went away ({service}); {serving}. "
                f"Its results are lost: run the query again.")

    def _failed_message(self, failure: Failure, now: Optional[Endpoint]) -> str:
        serving = f"now on {now.address}" if now else "no other server is available right now"
        if self.kind == STATEMENT:
            return (f"HiveServer2 {failure.endpoint.address} went away while running this statement "
                    f"({failure.service}; {serving}). It may not have completed: run it again.")
        return f"HiveServer2 {failure.endpoint.address} went away ({failure.service}; {serving}): {failure.error}"



def _closed_message(address: str) -> str:
    return f"Nothing to close: HiveServer2 {address} went away and its queries ended with it."


def _undecorated(method: Any, name: str) -> Optional[Callable[..., Any]]:
    """The function inside Hue's ``query_error_handler`` (a closure over it; Hue does not use
    functools.wraps), or None when ``method`` is not that."""
    cells = getattr(method, "__closure__", None) or ()
    inner = [c.cell_contents for c in cells if inspect.isfunction(c.cell_contents)]
    if len(inner) == 1 and inner[0].__name__ == name and method.__name__ != name:
        return inner[0]
    return None


def _find(error: Optional[BaseException], kind: type) -> Any:
    return next((err for err in error_chain(error) if isinstance(err, kind)), None)
