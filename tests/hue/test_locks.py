"""No lock held across I/O in the Hue app, and no request thread waiting on a probe or on the database work of a
failover (lock order: Hue's DBMS_CACHE_LOCK, then the endpoint cache's; only dictionary work under either)."""
import os
import threading

import pytest

from hive_ha.model.endpoint import Endpoint
from hive_ha.testing.waiting import wait_until
from hue_integration import client_slots, sessions
from tests.forking import fork_while_held
from tests.hue import environment

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_reset_does_database_and_socket_work_outside_hues_client_cache_lock(pair, editors, monkeypatch):
    from beeswax.server import dbms

    a, b, reg_a, _, integration = pair()
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run("select current_server()") == [["hs2-a"]]
    held_during, threads = {}, {}

    def watching(name, function):
        def call(*args, **kwargs):
            held_during[name] = dbms.DBMS_CACHE_LOCK.locked()
            threads[name] = threading.current_thread()
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(sessions, "invalidate", watching("invalidate", sessions.invalidate))
    monkeypatch.setattr(client_slots, "close_idle_connections",
                        watching("close_idle_connections", client_slots.close_idle_connections))
    a.kill()
    reg_a.crash()
    assert alice.run("select current_server()") == [["hs2-b"]]
    assert integration.invalidator.idle(30)
    assert held_during == {"invalidate": False, "close_idle_connections": False}
    # The Session rows: on a server database by the invalidator's thread, off the request's transaction; on sqlite
    # (one writer for the whole file) in the request's own transaction (hue_integration/invalidation.py).
    on_request_thread = threads["invalidate"] is threading.current_thread()
    assert on_request_thread == (environment.DATABASE == "sqlite")


def test_reset_ha_probes_on_another_thread(pair):
    from beeswax.server import dbms

    _, _, _, _, integration = pair()
    integration.discovery.endpoint(integration.config.hive_service)
    probed_on = []
    prober = integration.discovery.prober
    original = prober._probe  # noqa: SLF001 - the probe Hue's integration gave the prober
    prober._probe = lambda endpoint, timeout: probed_on.append(threading.current_thread()) or original(endpoint,
                                                                                                       timeout)
    dbms.reset_ha()
    wait_until(lambda: probed_on, 10, message="reset_ha() probed nothing")
    assert threading.current_thread() not in probed_on


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_integrations_locks_held_by_another_thread_at_fork_are_free_in_the_child(enable, zk_namespace, registrar):
    """Hue's gunicorn forks its workers from the master hive-ha was installed in. A thread of the master inside a
    lookup (the lookup counters), the probe's table or the late replies' table at that moment must not leave the
    worker blocked on that lock (the integration's at-fork hook)."""
    from beeswax.server import dbms
    from django.conf import settings

    registrar.register("127.0.0.1", 10000, namespace=zk_namespace)
    integration = enable(zk_namespace)
    dbms.get_query_server_config()
    assert integration.lookups() == {str(integration.config.hive_service): 1}
    endpoint = Endpoint("127.0.0.1", 10000, f"{zk_namespace}/serverUri=127.0.0.1:10000;sequence=0000000000")

    def use():
        assert integration.lookups() == {str(integration.config.hive_service): 1}  # the counters are the parent's
        integration.probe.remember(endpoint, settings)  # any object: the probe only keeps it
        assert integration.late.waiting() == 0

    locks = [integration._lookups_lock, integration.probe._lock, integration.late._lock]  # noqa: SLF001
    assert fork_while_held(locks, use) == "returned"
