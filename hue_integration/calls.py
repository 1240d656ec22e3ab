"""The editor call being served: who it is for, what kind of call it is, where its operation lives, and every Thrift
attempt made for it (``hive_ha.core.attempts``).

The editor wrapper (``notebook_api``) makes one ``EditorCall`` per call and hands it down explicitly where it can.
Between the wrapper and hive-ha's Thrift client run Hue's frames (``HS2Api``, ``dbms``, ``HiveServerClient``), which
take no argument of ours, so the call is also made *current* for the duration: this is the one context variable of
the app, and everything of the call lives in this one object (httpx's ``request.extensions`` carries a request's
extras to its transport in the same spirit).
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Iterator, List, Optional, Set, Tuple

from hive_ha.core.attempts import EXECUTE, Attempt
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service


@dataclasses.dataclass(frozen=True)
class Pin:
    """Where an operation lives: the server (and, when known, the registration) its handle came from."""

    service: Service
    address: str
    znode: Optional[str] = None


@dataclasses.dataclass
class EditorCall:
    user: Optional[str]
    kind: str = ""
    pin: Optional[Pin] = None
    #: Registrations (``Endpoint.key``) this call does not go back to: a retry goes elsewhere, whatever their state.
    skip: Set[Tuple[str, str]] = dataclasses.field(default_factory=set)
    #: The Thrift attempts of the current try of the wrapped method (a retry starts a new list).
    attempts: List[Attempt] = dataclasses.field(default_factory=list)
    #: The last attempt of each RPC: what it came to (a connection that broke and was replaced by a fresh one that
    #: answered is not a failure of the RPC).
    outcomes: List[Attempt] = dataclasses.field(default_factory=list)

    def new_try(self) -> None:
        self.attempts, self.outcomes = [], []

    def note(self, attempt: Attempt, final: bool = True) -> None:
        self.attempts.append(attempt)
        if final:
            self.outcomes.append(attempt)

    @property
    def failures(self) -> List[Attempt]:
        """The RPCs that failed at connection level (raised or swallowed by Hue), first first."""
        return [a for a in self.outcomes if a.failed]

    @property
    def may_have_run(self) -> List[str]:
        """Every statement that may have run on a server during this try."""
        return [a.may_have_run for a in self.attempts if a.may_have_run is not None]

    @property
    def executed_on(self) -> Optional[Endpoint]:
        """The server whose ExecuteStatement answered last: where the operation the editor gets back lives."""
        return next((a.endpoint for a in reversed(self.attempts) if a.method == EXECUTE and a.answered), None)


_CURRENT: contextvars.ContextVar[Optional[EditorCall]] = contextvars.ContextVar("hive_ha_editor_call", default=None)


def current() -> Optional[EditorCall]:
    """The editor call this thread is serving, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def serving(call: EditorCall) -> Iterator[EditorCall]:
    token = _CURRENT.set(call)
    try:
        yield call
    finally:
        _CURRENT.reset(token)
