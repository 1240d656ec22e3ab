"""Hue's ``beeswax.models.Session`` rows and the server each one lives on.

Hue's table has no host column, so a session opened on a dead server looks valid until used, and the
notebook keeps handing its id back: Hue then opens a new HiveServer2 session for every statement. hive-ha
notes in the row's ``properties`` (JSON, shared by every Hue process through the database) the server a
session was opened on and, once it is invalid, the session that replaces it.
"""
from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any, Callable, Dict, Iterable, Optional

from hive_ha.endpoint import Endpoint

SERVER_KEY = "hive_ha_server"  # "host:port" the session was opened on
REPLACED_BY_KEY = "hive_ha_replaced_by"  # id of the session that took over from an invalid one

# TStatusCode: SUCCESS, SUCCESS_WITH_INFO, STILL_EXECUTING (the statuses Hue treats as usable); INVALID_HANDLE.
OPEN_STATUSES = (0, 1, 2)
INVALID_HANDLE_STATUS = 4

_locks: Dict[int, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _model() -> Any:
    from beeswax.models import Session

    return Session


def mark(session: Any, endpoint: Endpoint) -> None:
    """Record on a freshly opened row where it lives."""
    session.set_property(SERVER_KEY, endpoint.address)
    session.save()


def server_of(session: Any) -> Optional[str]:
    return session.get_properties().get(SERVER_KEY)


def invalidate(endpoint: Endpoint) -> int:
    """Mark every open row opened on ``endpoint`` invalid (all users); returns how many."""
    # json.dumps writes '"key": "value"' inside the object, the same text this filter looks for.
    needle = json.dumps({SERVER_KEY: endpoint.address})[1:-1]
    return _model().objects.filter(status_code__in=OPEN_STATUSES, properties__contains=needle) \
        .update(status_code=INVALID_HANDLE_STATUS)


def live_session(session: Any, open_new: Callable[[], Any]) -> Any:
    """``session`` if it is usable, else the one that replaced it, opening (once) a replacement when
    there is none yet. Concurrent requests holding the same dead id share one replacement."""
    if session.status_code in OPEN_STATUSES:
        return session
    with _lock_for(session.id):
        Session = _model()
        current, seen = Session.objects.get(id=session.id), set()
        while current.status_code not in OPEN_STATUSES and current.id not in seen:
            seen.add(current.id)
            next_id = current.get_properties().get(REPLACED_BY_KEY)
            successor = Session.objects.filter(id=next_id, owner_id=current.owner_id).first() if next_id else None
            if successor is None:
                successor = open_new()
                current.set_property(REPLACED_BY_KEY, successor.id)
                current.save()
            current = successor
        return current


def replace_in_notebook(notebook: Any, user: Any, types: Iterable[str],
                        open_for: Callable[[str], Any]) -> None:
    """Point the notebook's sessions of ``types`` at usable rows (in place: Hue reads them next)."""
    if not isinstance(notebook, dict):
        return
    wanted = set(types)
    for entry in notebook.get("sessions") or ():
        if not isinstance(entry, dict) or entry.get("type") not in wanted or not entry.get("id"):
            continue
        row = _model().objects.filter(id=entry["id"], owner_id=user.id).first()
        if row is not None and row.status_code not in OPEN_STATUSES:
            entry["id"] = live_session(row, lambda: open_for(entry["type"])).id


def _lock_for(session_id: int) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 10000:  # ids of long-gone sessions: nobody waits on them any more
            _locks.clear()
        return _locks[session_id]
