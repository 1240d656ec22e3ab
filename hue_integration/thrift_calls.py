"""What happened to the Thrift calls of one editor request: which servers they went to, which failed,
and whether a failed request had already been delivered.

``ObservedClient`` wraps the Thrift client of every HiveServer2 client hive-ha builds; it notes each
connection-level failure in the current ``CallRecord`` (a context variable) and hands it to a callback
(the reset), notes which statements may have run, and marks each new session with its server.
"Delivered" comes from a hook on the generated ``TCLIService.Client``: entering ``recv_X`` means ``send_X``
completed. It is needed because Hue's Thrift wrapper retries a broken call on a new connection: when the
server is dead the error that surfaces is "could not connect", even though the first attempt may have sent
the statement.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Type

from hive_ha.core.failover import failed_before_request, is_connection_error
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hue_integration import sessions

if TYPE_CHECKING:  # pragma: no cover
    from desktop.lib.thrift_util import PooledClient
    from TCLIService.TCLIService import Client as TCLIServiceClient

    from hue_integration.targets import Replacement


@dataclasses.dataclass(frozen=True)
class Failure:
    """A connection-level failure of one RPC."""

    service: Service
    endpoint: Endpoint
    method: str
    error: BaseException
    delivered: bool

    @property
    def before_request(self) -> bool:
        """Nothing reached the server: safe to send anywhere else."""
        return not self.delivered and failed_before_request(self.error)


@dataclasses.dataclass
class CallRecord:
    failures: List[Failure] = dataclasses.field(default_factory=list)
    answered_by: Optional[Endpoint] = None  # the server of the last RPC that succeeded
    #: The text of every ExecuteStatement that may have reached a server (answered, or failed without proof that
    #: nothing was sent): what may have run.
    may_have_run: List[str] = dataclasses.field(default_factory=list)


CURRENT: contextvars.ContextVar[Optional[CallRecord]] = contextvars.ContextVar("hive_ha_call", default=None)
_DELIVERED: contextvars.ContextVar[Optional[List[bool]]] = contextvars.ContextVar("hive_ha_delivered", default=None)


@contextlib.contextmanager
def recording() -> Iterator[CallRecord]:
    """``with recording() as record:`` collects the failures of the calls made inside."""
    record = CallRecord()
    token = CURRENT.set(record)
    try:
        yield record
    finally:
        CURRENT.reset(token)


class ObservedClient:
    """A transparent proxy for Hue's pooled Thrift client, bound to the endpoint it talks to."""

    def __init__(self, client: PooledClient, service: Service, endpoint: Endpoint,
                 on_failure: Callable[[Failure], None]) -> None:
        self._client, self._service, self._endpoint, self._on_failure = client, service, endpoint, on_failure

    def __getattr__(self, name: str) -> Any:  # whatever Hue's client has: a proxy
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_") or not name[:1].isupper():
            return attr  # get_coordinator_host & co: no RPC
        return functools.partial(self._call, name, attr)

    def _call(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # RPC, passed through
        delivered = [False]
        token = _DELIVERED.set(delivered)
        record = CURRENT.get()
        reached = True
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            if is_connection_error(exc):
                failure = Failure(self._service, self._endpoint, name, exc, delivered[0])
                reached = not failure.before_request
                if record is not None:
                    record.failures.append(failure)
                self._on_failure(failure)
            raise
        finally:
            _DELIVERED.reset(token)
            if record is not None and reached and name == "ExecuteStatement":
                record.may_have_run.append(getattr(args[0] if args else None, "statement", None) or "")
        if record is not None:
            record.answered_by = self._endpoint
        if name == "OpenSession":  # Hue stores the reply's configuration as the new Session row's properties
            sessions.mark_reply(getattr(result, "configuration", None), self._endpoint)
        return result


# -- the delivery hook on the generated client class -----------------------------------------------------
def delivery_hooks(client_class: Type[TCLIServiceClient]) -> List[Replacement]:
    """Replacements of every ``recv_*`` of ``client_class`` that note that its request was sent."""
    from hue_integration.targets import Replacement

    return [Replacement(client_class, name, attr, _noting_delivery(attr))
            for name, attr in vars(client_class).items() if name.startswith("recv_") and callable(attr)]


def _noting_delivery(recv: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(recv)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flag = _DELIVERED.get()
        if flag is not None:
            flag[0] = True
        return recv(*args, **kwargs)
    return wrapper
