"""The prober's probe (``hive_ha.core.prober``) for ``hive_ha.connect``: a real round trip, ``OpenSession`` and
``CloseSession``, with the transport, authentication and TLS this client uses for that server, on a fresh
connection within the probe timeout. Any reply is an answer, an error status included. Before any connection was
made, or for a server this client cannot speak to, a TCP connect is all it can do.

``session_round_trip`` is shared with ``hive-ha check``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Tuple

from hive_ha.errors import ConfigError
from hive_ha.io import kerberos
from hive_ha.io.probe import tcp_probe
from hive_ha.model.endpoint import Endpoint

#: ``(endpoint, timeout) -> unopened Thrift transport`` speaking what the client speaks to that server.
TransportFactory = Callable[[Endpoint, float], Any]


def session_round_trip(transport: Any, user: Optional[str]) -> Any:
    """Open ``transport``, open a session as ``user`` and close it; returns the OpenSession reply (its status may be
    an error: the server answered). Raises what the transport raises; always closes it."""
    from TCLIService import TCLIService, ttypes
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol

    client = TCLIService.Client(TBinaryProtocol(transport))
    try:
        transport.open()
        response = client.OpenSession(ttypes.TOpenSessionReq(
            client_protocol=ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V6, username=user))
        if response.sessionHandle is not None:
            client.CloseSession(ttypes.TCloseSessionReq(sessionHandle=response.sessionHandle))
        return response
    finally:
        try:
            transport.close()
        except Exception:  # noqa: BLE001 - closing a broken transport may fail; nothing to do about it
            pass


class ThriftProbe:
    """``probe(endpoint, timeout)`` for ``Discovery(probe=...)``; ``use`` tells it how the client connects now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a leaf
        self._how: Optional[Tuple[TransportFactory, Optional[str], Optional[str]]] = None

    def use(self, factory: TransportFactory, user: Optional[str], ticket_cache: Optional[str] = None) -> None:
        """Probe as the latest connection is made: ``factory`` builds its transport, ``user`` opens the session, and a
        Kerberos handshake uses ``ticket_cache`` (in the probing thread only; None: the process's cache)."""
        with self._lock:
            self._how = (factory, user, ticket_cache)

    def __call__(self, endpoint: Endpoint, timeout: float) -> None:
        from thrift.Thrift import TApplicationException

        with self._lock:
            how = self._how
        if how is None:
            tcp_probe(endpoint, timeout)
            return
        factory, user, ticket_cache = how
        try:
            transport = factory(endpoint, timeout)
        except ConfigError:  # this client cannot speak what that server publishes: it answers TCP, or not
            tcp_probe(endpoint, timeout)
            return
        try:
            with kerberos.thread_ccache(ticket_cache):
                session_round_trip(transport, user)
        except TApplicationException:
            pass  # the server answered, with an error of its own

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
