"""Hue's Session rows and the server each lives on (hue_integration.sessions), on Hue's own model and database."""
import gc
import json
import os
import threading

import pytest

from hive_ha.model.endpoint import Endpoint
from hue_integration import sessions

pytestmark = pytest.mark.django_db

A, B = Endpoint("10.0.0.1", 10000, "/z/a"), Endpoint("10.0.0.1", 1000, "/z/b")


def row(user, server=None, status=0, registration=None, **properties):
    from beeswax.models import Session

    if server is not None:
        properties[sessions.SERVER_KEY] = server
    if registration is not None:
        properties[sessions.REGISTRATION_KEY] = registration
    return Session.objects.create(owner=user, application="beeswax", status_code=status, secret="s", guid="g",
                                  server_protocol_version=10, properties=json.dumps(properties))


def test_invalidate_matches_the_server_exactly(login):
    user, _ = login("alice")
    on_a, on_b = row(user, A.address), row(user, B.address)
    mentions_a = row(user, B.address, note=f"moved from {A.address}")  # the address as part of another value
    not_ours = row(user, None)
    closed_on_a = row(user, A.address, status=sessions.INVALID_HANDLE_STATUS)
    assert sessions.invalidate(A) == sessions.Invalidated(marked=1, busy=0)
    for r in (on_a, on_b, mentions_a, not_ours, closed_on_a):
        r.refresh_from_db()
    assert [r.status_code for r in (on_a, on_b, mentions_a, not_ours)] == [sessions.INVALID_HANDLE_STATUS, 0, 0, 0]


def test_a_restarted_servers_rows_are_not_its_old_registrations(login):
    from hive_ha.model.endpoint import Endpoint

    user, _ = login("alice")
    restarted = Endpoint(A.host, A.port, "/z/a-again")
    old = row(user, A.address, registration=A.znode)
    new = row(user, A.address, registration=restarted.znode)
    unknown = row(user, A.address)  # written before rows recorded their registration: the address decides
    assert sessions.invalidate(A) == sessions.Invalidated(marked=2, busy=0)
    for r in (old, new, unknown):
        r.refresh_from_db()
    assert [r.status_code for r in (old, new, unknown)] == [sessions.INVALID_HANDLE_STATUS, 0,
                                                            sessions.INVALID_HANDLE_STATUS]


def test_rows_are_found_page_by_page_and_only_by_their_parsed_server(login, monkeypatch):
    from beeswax.models import Session

    user, _ = login("alice")
    on_a = [row(user, A.address).id for _ in range(5)]
    texts = (f"not json {A.address}", json.dumps([A.address]), json.dumps({sessions.SERVER_KEY: [A.address]}))
    odd = [Session.objects.create(owner=user, application="beeswax", status_code=0, secret="s", guid="g",
                                  server_protocol_version=10, properties=text).id for text in texts]
    monkeypatch.setattr(sessions, "READ_PAGE", 2)  # pages end inside the rows that match and on rows that do not
    assert sessions.open_rows_on(A) == on_a
    assert sessions.invalidate(A) == sessions.Invalidated(marked=5, busy=0)
    assert list(Session.objects.filter(id__in=odd).values_list("status_code", flat=True)) == [0, 0, 0]


def test_a_notebook_session_follows_the_server_the_statement_goes_to(login):
    user, _ = login("alice")
    dead = row(user, A.address, status=sessions.INVALID_HANDLE_STATUS)
    opened = []

    def open_on(address):
        return lambda session_type: opened.append((session_type, address)) or row(user, address)

    ids = set()
    for _ in range(3):  # the editor keeps sending the dead id: one new session, reused
        notebook = {"sessions": [{"type": "hive", "id": dead.id}]}
        sessions.replace_in_notebook(notebook, user, ["hive"], lambda t: B.address, open_on(B.address))
        ids.add(notebook["sessions"][0]["id"])
    assert opened == [("hive", B.address)] and len(ids) == 1 and dead.id not in ids
    # The user's live session on B, held by the notebook, when the next statement goes back to A: one on A.
    notebook = {"sessions": [{"type": "hive", "id": ids.pop()}]}
    sessions.replace_in_notebook(notebook, user, ["hive"], lambda t: A.address, open_on(A.address))
    assert opened[-1] == ("hive", A.address)
    assert sessions.server_of(type(dead).objects.get(id=notebook["sessions"][0]["id"])) == A.address


def test_a_live_session_on_the_right_server_is_kept(login):
    user, _ = login("alice")
    live = row(user, A.address)
    notebook = {"sessions": [{"type": "hive", "id": live.id}, {"type": "impala", "id": 12345}]}
    sessions.replace_in_notebook(notebook, user, ["hive"], lambda t: A.address, lambda t: pytest.fail("opened"))
    assert notebook["sessions"] == [{"type": "hive", "id": live.id}, {"type": "impala", "id": 12345}]


def test_lock_table_keeps_held_locks_and_forgets_unused_ones():
    held = sessions._lock_for(7)
    with held:
        assert sessions._lock_for(7) is held  # one lock per id while somebody holds it
    del held
    gc.collect()
    assert 7 not in sessions._locks  # nobody uses it: gone, so the table never grows


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_locks_are_fresh_in_a_forked_worker():
    """gunicorn forks Hue's workers; a lock a parent thread held at that moment must not block the child."""
    from hue_integration import install

    held, forked = sessions._lock_for(9), threading.Event()
    with held, install._lock:
        pid = os.fork()
        if pid == 0:  # the child: both locks were held by the parent's thread
            ok = sessions._lock_for(9).lock.acquire(timeout=5) and install._lock.acquire(timeout=5)
            os._exit(0 if ok else 1)
        forked.set()
    _, status = os.waitpid(pid, 0)
    assert forked.is_set() and os.WEXITSTATUS(status) == 0
