"""Hue's ``beeswax.models.Session`` rows and the server each one lives on.

Hue's table has no host column, so a session opened on a dead server looks valid until used, and the notebook keeps
handing its id back: Hue then opens a new HiveServer2 session for every statement. hive-ha notes in the row's
``properties`` (JSON, shared by every Hue process through the database) the server a session was opened on, so the
editor's next statement uses the user's session on the server it goes to.
"""
from __future__ import annotations

import dataclasses
import json
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
#: Rows marked per transaction: few enough that the transaction is short (SQLite's limit on the variables of one
#: statement is 999 before 3.32).
UPDATE_BATCH = 100
#: Open rows read per query while looking for a server's rows (each page its own query: no long-lived snapshot).
READ_PAGE = 1000


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
    return _properties(session.properties).get(SERVER_KEY)


def _properties(text: object) -> Dict[str, str]:
    """hive-ha's keys in a row's ``properties`` (JSON); nothing for text that is not a JSON object (not one of ours)."""
    try:
        parsed = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: v for k in (SERVER_KEY, REGISTRATION_KEY) if isinstance(v := parsed.get(k), str)}


def _opened_on(properties: Dict[str, str], endpoint: Endpoint) -> bool:
    """Opened on ``endpoint``'s registration (rows written before hive-ha recorded the registration: its address)."""
    return (properties.get(SERVER_KEY) == endpoint.address
            and properties.get(REGISTRATION_KEY) in (None, endpoint.znode))


@dataclasses.dataclass(frozen=True)
class Invalidated:
    """What one pass of ``invalidate`` did: rows marked, and rows another transaction held (left for a later pass)."""

    marked: int
    busy: int


def open_rows_on(endpoint: Endpoint) -> List[int]:
    """Ids, ascending, of the open rows opened on ``endpoint``'s registration (every user's). A row is matched on its
    parsed ``properties``, never on their text (the table has no column for the server); the text only narrows the
    read (JSON writes an address, which has no quote or backslash, as it is). Plain reads, page by page: no row is
    locked."""
    model, ids, after = _model(), [], 0
    while True:
        page = list(model.objects.filter(id__gt=after, status_code__in=OPEN_STATUSES,
                                         properties__contains=endpoint.address)
                    .order_by("id").values_list("id", "properties")[:READ_PAGE])
        ids.extend(row_id for row_id, properties in page if _opened_on(_properties(properties), endpoint))
        if len(page) < READ_PAGE:
            return ids
        after = page[-1][0]


def invalidate(endpoint: Endpoint) -> Invalidated:
    """Mark every open row opened on ``endpoint``'s registration invalid (every user's), ``UPDATE_BATCH`` rows per
    transaction in id order. Where the database locks rows, a row another transaction holds (a request of its user,
    saving it) is skipped, not waited for: the transaction never waits, so it holds its locks for the two statements
    only and can be part of no deadlock; ``busy`` counts the skipped rows."""
    from django.db import connection, transaction

    model, ids = _model(), open_rows_on(endpoint)
    skip_locked = connection.features.has_select_for_update_skip_locked
    marked = busy = 0
    for start in range(0, len(ids), UPDATE_BATCH):
        batch = mine = ids[start:start + UPDATE_BATCH]
        with transaction.atomic():
            if skip_locked:
                mine = list(model.objects.select_for_update(skip_locked=True)
                            .filter(id__in=batch, status_code__in=OPEN_STATUSES).order_by("id")
                            .values_list("id", flat=True))
            marked += model.objects.filter(id__in=mine, status_code__in=OPEN_STATUSES) \
                .update(status_code=INVALID_HANDLE_STATUS)
        if len(mine) < len(batch):  # closed meanwhile, or held: a plain read tells which
            busy += model.objects.filter(id__in=batch, status_code__in=OPEN_STATUSES).count()
    return Invalidated(marked, busy)


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
