"""The client reset at the Notebook-API level: ``HS2Api`` methods wrapped so a dead HiveServer2 never leaves a user
stuck, and never silently, and a slow one never makes a user believe their work is lost.

Slow is not dead (``hive_ha.core.health``): a call that times out makes its server *suspect*; only evidence makes it
*dead*. What the user gets after a connection-level failure depends on what the server may have done (urllib3's
connect-vs-read split and its idempotent-methods rule, decided in one place: ``hive_ha.core.attempts``) and on the
server's state, by kind of call:

==========  ==============================================  =====================================================
kind        methods                                         after a connection-level failure
==========  ==============================================  =====================================================
safe        create_session, close_session, autocomplete,    retried once on the server now chosen
            get_sample_data, explain, describe_*
statement   execute                                         retried once on the server now chosen when nothing
                                                            reached the failed one (refused, unreachable, TLS/SASL
                                                            handshake), or when every statement that may have
                                                            run only reads (``hive_ha.model.statements``); else
                                                            ``QueryError``: it may not have completed (dead) or may
                                                            still be running (late)
handle      check_status, fetch_result, fetch_result_size,  server dead: never re-run: ``QueryExpired`` naming the
            get_log, cancel, progress, get_jobs             server that went away and the one serving now.
                                                            Server late: the query is not lost. Status polls and
                                                            logs are answered with the last known state
                                                            ("running", no new log lines) while it does not answer;
                                                            other calls get an error saying it is late, not lost
close       close_statement                                 dead: nothing to close (it ended with its server);
                                                            late: not closed now, said so
==========  ==============================================  =====================================================

The reset itself (every user's clients and idle connections to a dead server dropped, its Session rows invalidated)
is the integration's, once per dead registration; this module decides what the user gets. Operation handles go back
to the server they live on (the execute reply carries it) while that server is not dead, so a reselection, a slow
server or a rolling restart never strands a running query. Before a statement, the notebook's sessions are pointed at
the server the statement goes to. Query-level errors (bad SQL, permissions) pass through to Hue's own handler
untouched.
"""
from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type, TypeVar

from hive_ha.core.attempts import Attempt
from hive_ha.core.failover import error_chain
from hive_ha.core.health import Evidence, State
from hive_ha.errors import DiscoveryError
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.statements import is_read_only
from hue_integration import calls, sessions
from hue_integration.calls import EditorCall, Pin
from hue_integration.integration import ServerGone
from hue_integration.targets import Replacement

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.models import Session
    from django.contrib.auth.models import User
    from notebook.connectors.hiveserver2 import HS2Api

    from hue_integration.integration import Integration

E = TypeVar("E", bound=BaseException)

log = logging.getLogger(__name__)

SAFE, STATEMENT, HANDLE, CLOSE = "safe", "statement", "handle", "close"


class Call(NamedTuple):
    """A wrapped ``HS2Api`` method: its kind, and the parameters the wrapper reads by name (Hue's names, checked at
    start-up by ``touchpoints``: under another name the wrapper would read nothing, and stop pinning handles)."""

    kind: str
    reads: Tuple[str, ...] = ()


CALLS: Dict[str, Call] = {
    "create_session": Call(SAFE), "close_session": Call(SAFE), "autocomplete": Call(SAFE, ("snippet",)),
    "get_sample_data": Call(SAFE, ("snippet",)), "explain": Call(SAFE, ("snippet",)),
    "describe_table": Call(SAFE, ("snippet",)), "describe_database": Call(SAFE, ("snippet",)),
    "describe_column": Call(SAFE, ("snippet",)),
    "execute": Call(STATEMENT, ("notebook", "snippet")),
    "check_status": Call(HANDLE, ("snippet",)), "fetch_result": Call(HANDLE, ("snippet",)),
    "fetch_result_size": Call(HANDLE, ("snippet",)), "get_log": Call(HANDLE, ("snippet",)),
    "cancel": Call(HANDLE, ("snippet",)), "progress": Call(HANDLE, ("snippet",)),
    "get_jobs": Call(HANDLE, ("snippet",)),
    "close_statement": Call(CLOSE, ("snippet",)),
}
#: Keys hive-ha adds to the execute reply (the server the operation lives on, as on its Session row, and its
#: registration); the editor sends them back inside the snippet's handle, and Hue keeps them in the query history.
SERVER_KEY = sessions.SERVER_KEY
REGISTRATION_KEY = sessions.REGISTRATION_KEY
#: What a poll of a late (suspect) server is answered with: the last known state, without waiting on the server.
LATE_ANSWERS: Dict[str, object] = {"check_status": {"status": "running"}, "get_log": ""}
# Snippet/session type -> the ``name`` Hue passes to get_query_server_config.
QUERY_SERVER_NAMES = {"hive": "beeswax", "llap": "llap", "hplsql": "hplsql"}


def replacements(api_class: Type[HS2Api], integration: Integration) -> List[Replacement]:
    """The wrapped methods of Hue's ``HS2Api`` (``touchpoints`` checked them first). A method Hue wraps in its
    ``query_error_handler`` gets ours inside Hue's handler: connection failures are decided before Hue's handler
    could swallow them, and query-level errors still get Hue's mapping. Others (``describe_*``) get ours around."""
    import sys

    hue_handler = getattr(sys.modules[api_class.__module__], "query_error_handler", None)
    out = []
    for name, call in CALLS.items():
        original = vars(api_class)[name]
        inner = undecorated(original, name)
        if inner is not None and hue_handler is not None:
            new = hue_handler(_wrap(integration, inner, name, call.kind))
        else:
            new = _wrap(integration, original, name, call.kind)
        out.append(Replacement(api_class, name, original, new))
    return out


def _wrap(integration: Integration, func: Callable[..., Any], name: str, kind: str) -> Callable[..., Any]:
    """``func`` is an ``HS2Api`` method; its arguments and its result pass through untouched (hence Any)."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def call(api: HS2Api, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind_partial(api, *args, **kwargs).arguments
        return _Call(integration, api, name, kind, arguments).run(func, args, kwargs)
    return call


class _Call:
    """One editor call: run it; after a connection-level failure decide between a retry, an answer for a late
    server, and a clear error."""

    def __init__(self, integration: Integration, api: HS2Api, method: str, kind: str,
                 arguments: Mapping[str, object]) -> None:
        self.integration, self.api, self.method, self.kind = integration, api, method, kind
        self.user: User = api.user
        # The editor's JSON, as the wrapped method got it (a dict when the editor sent one).
        self.notebook: object = arguments.get("notebook")
        self.snippet: object = arguments.get("snippet")
        self.call = EditorCall(self.user.username, kind, self._pin())

    def run(self, func: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        from notebook.connectors.base import QueryError, QueryExpired

        with calls.serving(self.call):
            self.integration.invalidator.run_deferred()  # sqlite: a death seen off any request, marked in this one
            late = self._late_server()
            if late is not None and self.method in LATE_ANSWERS:  # not answering: say so without waiting on it
                return LATE_ANSWERS[self.method]
            for attempt in (1, 2):
                self.call.new_try()
                try:
                    if self.kind == STATEMENT:
                        self._point_sessions_at_target()
                    result, error = func(self.api, *args, **kwargs), None
                except Exception as exc:  # decided below; re-raised unless it is ours to handle
                    result, error = None, exc
                gone = _find(error, ServerGone)
                if gone is not None:  # the operation's server is dead or no longer serves: nothing to re-run there
                    if self.kind == CLOSE:
                        return {"status": -1, "message": _closed_message(gone.address)}
                    raise QueryExpired(self._lost_message(gone.service, gone.address)) from error
                failures = self.call.failures
                if not failures:
                    if error is None:
                        return self._tag(result)
                    discovery_error = _find(error, DiscoveryError)
                    if discovery_error is not None:  # nothing left to try: say why, in the editor
                        raise QueryError(str(discovery_error)) from error
                    raise error
                failure = failures[0]  # raised, or swallowed by Hue's own code (create_session)
                service = self._service_of(failure)
                dead = self.integration.discovery.health(service, failure.endpoint).state is State.DEAD
                self.call.skip.add(failure.endpoint.key)  # a retry goes elsewhere, even to a server merely late
                now = self._now_serving(service)
                if attempt == 1 and now is not None and self._may_retry():
                    log.info("hive-ha: %s for %s failed on %s (%s, %s); retrying on %s", failure.method, self.user,
                             failure.endpoint.address, failure.evidence,
                             "after the request" if failure.reached else "before the request", now.address)
                    continue
                log.info("hive-ha: %s for %s: %s", self.method, self.user,
                         "; ".join(a.describe() for a in self.call.attempts))
                if self.kind == HANDLE and not dead and self.method in LATE_ANSWERS:
                    return LATE_ANSWERS[self.method]
                if self.kind == CLOSE:
                    return {"status": -1, "message": _closed_message(failure.endpoint.address) if dead
                            else _late_message(failure, "the statement was not closed now")}
                if self.kind == HANDLE:
                    if dead:
                        raise QueryExpired(self._lost_message(service, failure.endpoint.address, now)) from error
                    raise QueryError(_late_message(failure, "the query is not lost: try again in a moment")) \
                        from error
                raise QueryError(self._failed_message(failure, dead, now)) from error
            raise AssertionError("unreachable")  # pragma: no cover

    # -- decisions ----------------------------------------------------------------------------------------
    def _may_retry(self) -> bool:
        if self.kind == SAFE:
            return True
        if self.kind == STATEMENT:  # nothing reached the server, or what may have run only reads (Hue's USE first)
            return all(is_read_only(statement) for statement in self.call.may_have_run)
        return False

    def _late_server(self) -> Optional[Tuple[Service, str]]:
        """The pinned server, when it is suspect (late: not answering now, not lost)."""
        pin = self.call.pin
        if pin is None:
            return None
        try:
            pinned = self.integration.pinned(self._query_server_name(), pin)
        except ServerGone:
            return None  # the call itself will say so
        return (pin.service, pin.address) if pinned.state is State.SUSPECT else None

    def _pin(self) -> Optional[Pin]:
        if self.kind not in (HANDLE, CLOSE) or not isinstance(self.snippet, dict):
            return None
        handle = (self.snippet.get("result") or {}).get("handle") or {}
        if not isinstance(handle, dict):
            return None
        address, znode = handle.get(SERVER_KEY), handle.get(REGISTRATION_KEY)
        service = self.integration.service_for(self._query_server_name())
        if not isinstance(address, str) or not address or service is None:
            return None
        return Pin(service, address, znode if isinstance(znode, str) and znode else None)

    def _service_of(self, failure: Attempt) -> Service:
        for service in self.integration.services():
            if self.integration.discovery.cache.serving(service, failure.endpoint.address,
                                                        failure.endpoint.znode) is not None:
                return service
        return self.integration.service_for(self._query_server_name()) or self.integration.services()[0]

    def _tag(self, result: object) -> object:
        """The execute reply says where the operation lives; the editor sends it back with the handle."""
        executed_on = self.call.executed_on
        if self.kind == STATEMENT and isinstance(result, dict) and executed_on is not None:
            result[SERVER_KEY] = executed_on.address
            result[REGISTRATION_KEY] = executed_on.znode
        return result

    def _point_sessions_at_target(self) -> None:
        """The notebook's sessions, on the server this statement goes to: one new HiveServer2 session per user
        after a failover, not one per statement, and no round trip with a session the new server never had."""
        integration = self.integration

        def target(session_type: str) -> Optional[str]:
            service = integration.service_for(QUERY_SERVER_NAMES[session_type])
            now = self._now_serving(service) if service is not None else None
            return now.address if now is not None else None

        def open_for(session_type: str) -> Session:
            dbms = integration.dbms
            query_server = dbms.get_query_server_config(name=QUERY_SERVER_NAMES[session_type])
            return dbms.get(self.user, query_server=query_server).open_session(self.user)

        types = [t for t, name in QUERY_SERVER_NAMES.items() if integration.service_for(name) is not None]
        sessions.replace_in_notebook(self.notebook, self.user, types, target, open_for)

    def _query_server_name(self) -> str:
        snippet_type = self.snippet.get("type") if isinstance(self.snippet, dict) else None
        return QUERY_SERVER_NAMES.get(snippet_type or "hive", "beeswax")

    def _now_serving(self, service: Service) -> Optional[Endpoint]:
        try:
            return self.integration.discovery.endpoint(service, self.user.username, skip=self.call.skip)
        except DiscoveryError:
            return None

    # -- what the user reads ------------------------------------------------------------------------------
    def _lost_message(self, service: Service, address: str, now: Optional[Endpoint] = None) -> str:
        now = now if now is not None else self._now_serving(service)
        serving = f"{now.address} serves it now" if now else "no other server is available right now"
        return (f"The query ran on HiveServer2 {address}, which went away ({service}); {serving}. "
                f"Its results are lost: run the query again.")

    def _failed_message(self, failure: Attempt, dead: bool, now: Optional[Endpoint]) -> str:
        serving = f"now on {now.address}" if now else "no other server is available right now"
        address = failure.endpoint.address
        if self.kind == STATEMENT and failure.evidence is Evidence.SLOW and not dead:
            return (f"HiveServer2 {address} did not answer in time while running this statement ({serving}). "
                    f"It may still be running it: check its effect before running it again.")
        if self.kind == STATEMENT:
            return (f"HiveServer2 {address} went away while running this statement ({serving}). "
                    f"It may not have completed: check its effect before running it again.")
        if not dead:
            return _late_message(failure, f"{serving}; try again")
        return f"HiveServer2 {address} went away ({serving}): {failure.error}"


def _closed_message(address: str) -> str:
    return f"Nothing to close: HiveServer2 {address} went away and its queries ended with it."


def _late_message(failure: Attempt, then: str) -> str:
    return f"HiveServer2 {failure.endpoint.address} is not answering right now (slow or paused, not lost): {then}."


def undecorated(method: object, name: str) -> Optional[Callable[..., Any]]:
    """The function inside Hue's ``query_error_handler`` (a closure over it; Hue does not use functools.wraps), or
    None when ``method`` is not that."""
    cells = getattr(method, "__closure__", None) or ()
    inner = [c.cell_contents for c in cells if inspect.isfunction(c.cell_contents)]
    if len(inner) == 1 and inner[0].__name__ == name and getattr(method, "__name__", None) != name:
        return inner[0]
    return None


def _find(error: Optional[BaseException], kind: Type[E]) -> Optional[E]:
    return next((err for err in error_chain(error) if isinstance(err, kind)), None)
