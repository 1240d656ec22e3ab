"""Hue's ``beeswax.models.Session`` rows and the server each one lives on.

Hue's table has no host column, so a session opened on a dead server looks valid until used, and the notebook keeps
handing its id back: Hue then opens a new HiveServer2 session for every statement. hive-ha notes in the row's
``properties`` (JSON, shared by every Hue process through the database) the server a session was opened on, so the
editor's next statement uses the user's session on the server it goes to.
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Type

from hive_ha.model.endpoint import Endpoint

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.models import Session
    from django.contrib.auth.models import User

SERVER_KEY = "hive_ha_server"  # "host:port" the session was opened on
REGISTRATION_KEY = "hive_ha_registration"  # the znode of the registration it was opened on

# TStatusCode: SUCCESS, SUCCESS_WITH_INFO, STILL_EXECUTING (the statuses Hue treats as usable); INVALID_HANDLE.
OPEN_STATUSES = (0, 1, 2)
INVALID_HANDLE_STATUS = 4
#: Rows updated per statement (SQLite's limit on the variables of one statement is 999 before 3.32).
UPDATE_BATCH = 500


def _model() -> Type[Session]:
    from beeswax.models import Session

    return Session


def mark_reply(configuration: Optional[Dict[str, str]], endpoint: Endpoint) -> None:
    """Note the server in an OpenSession reply's configuration, which Hue stores as the new row's ``properties``
    (so the row says where it lives from its first write on, with no write of ours)."""
    if isinstance(configuration, dict):
        configuration[SERVER_KEY] = endpoint.address
        configuration[REGISTRATION_KEY] = endpoint.znode


def server_of(session: Session) -> Optional[str]:
    return _property(session, SERVER_KEY)


def _property(session: Session, key: str) -> Optional[str]:
    try:
        value = session.get_properties().get(key)
    except (ValueError, AttributeError):  # properties that are not a JSON object: not one of ours
        return None
    return value if isinstance(value, str) else None


def opened_on(session: Session, endpoint: Endpoint) -> bool:
    """The row was opened on ``endpoint``'s registration (rows written before hive-ha recorded the registration:
    on its address)."""
    return server_of(session) == endpoint.address and _property(session, REGISTRATION_KEY) in (None, endpoint.znode)


def invalidate(endpoint: Endpoint) -> int:
    """Mark every open row opened on ``endpoint``'s registration invalid (every user's); returns how many. A row is
    matched on its parsed ``properties``, never on their text (the table has no column for the server)."""
    model = _model()
    open_rows = model.objects.filter(status_code__in=OPEN_STATUSES).only("id", "properties")
    ids: List[int] = [row.id for row in open_rows.iterator() if opened_on(row, endpoint)]
    invalidated = 0
    for start in range(0, len(ids), UPDATE_BATCH):
        invalidated += model.objects.filter(id__in=ids[start:start + UPDATE_BATCH], status_code__in=OPEN_STATUSES) \
            .update(status_code=INVALID_HANDLE_STATUS)
    return invalidated


def usable_on(session: Session, address: Optional[str]) -> bool:
    """Open, and on ``address`` (any server when ``address`` is None or the row's server is unknown)."""
    if session.status_code not in OPEN_STATUSES:
        return False
    server = server_of(session)
    return address is None or server is None or server == address


def latest_on(user: User, application: str, address: str) -> Optional[Session]:
    """The user's most recently used open session of ``application`` on ``address`` (as Hue's own
    ``Session.objects.get_session`` picks the latest open one, on any server)."""
    open_rows = _model().objects.filter(owner_id=user.id, application=application, status_code__in=OPEN_STATUSES) \
        .exclude(guid="").exclude(secret="").order_by("-last_used")
    return next((row for row in open_rows.iterator() if server_of(row) == address), None)


def replace_in_notebook(notebook: object, user: User, types: Iterable[str],
                        target: Callable[[str], Optional[str]], open_for: Callable[[str], Session]) -> None:
    """Point the notebook's sessions of ``types`` at rows usable on the server the next statement goes to
    (``target(type)``), in place: Hue reads them next. The user's latest open session there is reused; a new one is
    opened only when there is none, so after a failover each user gets one new HiveServer2 session, however often
    the editor sends the old id. Nothing is written: the rows say where they live."""
    if not isinstance(notebook, dict):
        return
    wanted = set(types)
    for entry in notebook.get("sessions") or ():
        if not isinstance(entry, dict) or entry.get("type") not in wanted or not entry.get("id"):
            continue
        row = _model().objects.filter(id=entry["id"], owner_id=user.id).first()
        address = target(entry["type"])
        if row is None or usable_on(row, address) or address is None:
            continue
        with _lock_for(user.id):  # one user's concurrent requests share one new session
            replacement = latest_on(user, row.application, address) or open_for(entry["type"])
        entry["id"] = replacement.id


# -- one lock per user id, while somebody uses it -----------------------------------------------------------
class _SessionLock:
    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __enter__(self) -> "_SessionLock":
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


# Entries vanish once no request holds their lock, so the table never grows and never drops a held lock.
_locks: "weakref.WeakValueDictionary[int, _SessionLock]" = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()


def _lock_for(key: int) -> _SessionLock:
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = _SessionLock()
        return lock


def _after_fork_in_child() -> None:
    global _locks, _locks_guard
    _locks, _locks_guard = weakref.WeakValueDictionary(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
