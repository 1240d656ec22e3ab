"""One request to one server and what became of it: the one place that decides whether the request could have
reached the server, whether the statement it carried may have run, and what it says about the server's health.

A client that speaks Thrift notes the *phase* a request failed in, which the error alone cannot tell (Hue's Thrift
wrapper, for one, retries a broken call on a new connection, so "could not connect" can surface after the first try
had sent the statement):

- ``OPEN``: opening the connection or its TLS/SASL handshake: nothing was sent;
- ``SEND``: writing the request (over HTTP the whole exchange happens here): it reached the server unless the error
  proves the connection was never made;
- ``RECV``: waiting for the reply: it was sent, so it may have been run.

The error's types (``hive_ha.core.failover.classify``) say what it means for the server: a timeout is late, not dead
(``SLOW``); an open connection that broke is ``BROKEN``; a refused or unreachable connection is ``REFUSED``.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Optional

from hive_ha.core.failover import CONNECT, classify, evidence_of
from hive_ha.core.health import Evidence
from hive_ha.model.endpoint import Endpoint

#: The Thrift method that runs a statement.
EXECUTE = "ExecuteStatement"


class Phase(str, enum.Enum):
    OPEN = "open"
    SEND = "send"
    RECV = "recv"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One RPC (``method``) to ``endpoint``: answered when ``error`` is None, else failed in ``phase``."""

    endpoint: Endpoint
    method: str
    phase: Phase = Phase.RECV
    error: Optional[BaseException] = None
    #: The text of the statement it carried (ExecuteStatement only).
    statement: Optional[str] = None

    @property
    def answered(self) -> bool:
        return self.error is None

    @property
    def failed(self) -> bool:
        """A connection-level failure (query errors and errors of this machine are not: the server is not at fault)."""
        return self.error is not None and classify(self.error) is not None

    @property
    def reached(self) -> bool:
        """Could the request have reached the server? Only a failure that proves nothing was sent says no."""
        if self.error is None or self.phase is Phase.RECV:
            return True
        if self.phase is Phase.OPEN:
            return False
        return classify(self.error) != CONNECT

    @property
    def may_have_run(self) -> Optional[str]:
        """The statement, when this attempt may have run one (it carried one and may have reached the server)."""
        return self.statement if self.method == EXECUTE and self.reached else None

    @property
    def evidence(self) -> Optional[Evidence]:
        """What this attempt says about the server (None: nothing, e.g. a query error)."""
        return Evidence.ANSWERED if self.error is None else evidence_of(self.error)

    def describe(self) -> str:
        outcome = "answered" if self.error is None else f"failed in {self.phase} ({self.evidence})"
        return f"{self.method} on {self.endpoint.address}: {outcome}"
