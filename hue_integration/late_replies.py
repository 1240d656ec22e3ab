"""Connections whose reply is late are set aside, not closed.

HiveServer2 (binary transport) closes the sessions a connection opened when that connection closes
(``hive.server2.close.session.on.disconnect``, on by default; Spark Thrift Server does the same). Hue pools its
connections, so the connection a call times out on may well be the one that opened the user's session: closing it
because a reply is late would end that session and the query running in it, on a server that was only paused. So a
late connection is handed here instead: a thread waits for the reply (up to ``patience`` seconds, at most
``dead_after``: a server silent that long is dead anyway), reads it and drops it, and gives the connection back to
Hue's pool in step with its server. A reply that never comes, or a connection that breaks, ends with the connection
closed and given back closed (it is reopened on its next use). Over HTTP nothing is tied to a connection: those are
simply closed.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable, Set

if TYPE_CHECKING:  # pragma: no cover
    from desktop.lib.thrift_util import SuperClient

log = logging.getLogger(__name__)


class LateReplies:
    def __init__(self, patience: float) -> None:
        self.patience = patience
        self._lock = threading.Lock()  # a leaf: the set below only
        self._waiting: Set[threading.Thread] = set()

    def wait_for(self, superclient: SuperClient, method: str, give_back: Callable[[], None]) -> None:
        """Wait (on another thread) for the reply to ``method`` on ``superclient``'s connection, then ``give_back``
        the connection, in step or closed."""
        thread = threading.Thread(target=self._drain, args=(superclient, method, give_back),
                                  name=f"hive-ha late reply {method}", daemon=True)
        with self._lock:
            self._waiting.add(thread)
        thread.start()

    def waiting(self) -> int:
        """Connections waiting for a late reply now."""
        with self._lock:
            return len(self._waiting)

    def after_fork_in_child(self) -> None:
        """The parent's waiting threads are not in the child, and a lock one of them held at the fork would stay
        held (the integration's at-fork hook calls this)."""
        self._lock, self._waiting = threading.Lock(), set()

    def _drain(self, superclient: SuperClient, method: str, give_back: Callable[[], None]) -> None:
        from thrift.Thrift import TApplicationException

        try:
            try:
                superclient.set_timeout(self.patience)
                getattr(superclient.wrapped, "recv_" + method)()
                log.info("hive-ha: the late reply to %s arrived; its connection is back in the pool", method)
            except TApplicationException:
                pass  # a reply all the same: in step
            except Exception as exc:  # noqa: BLE001 - whatever it is, the connection is no longer in step
                log.info("hive-ha: no reply to %s (%s: %s); its connection is closed", method, type(exc).__name__, exc)
                superclient.transport.close()
        finally:
            try:
                give_back()
            finally:
                with self._lock:
                    self._waiting.discard(threading.current_thread())
