"""No lock held across I/O in the Hue app, and no request thread waiting on a probe (lock order: Hue's
DBMS_CACHE_LOCK, then the endpoint cache's; only dictionary work under either)."""
import threading

import pytest

from hue_integration import client_slots, probes, sessions

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_reset_does_database_and_socket_work_outside_hues_client_cache_lock(enable, editors, zk_namespace,
                                                                               registrar, hs2_server_factory,
                                                                               monkeypatch):
    from beeswax.server import dbms

    a = hs2_server_factory("hs2-a", host="127.0.0.1")
    b = hs2_server_factory("hs2-b", host="127.0.0.2")
    reg_a = registrar.register(a.host, a.port, namespace=zk_namespace)
    registrar.register(b.host, b.port, namespace=zk_namespace)
    enable(zk_namespace)
    (alice,) = editors("alice")
    alice.create_session()
    assert alice.run("select current_server()") == [["hs2-a"]]
    held_during = {}

    def watching(name, function):
        def call(*args, **kwargs):
            held_during[name] = dbms.DBMS_CACHE_LOCK.locked()
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(sessions, "invalidate", watching("invalidate", sessions.invalidate))
    monkeypatch.setattr(client_slots, "close_idle_connections",
                        watching("close_idle_connections", client_slots.close_idle_connections))
    a.kill()
    reg_a.crash()
    assert alice.run("select current_server()") == [["hs2-b"]]
    assert held_during == {"invalidate": False, "close_idle_connections": False}


def test_reset_ha_probes_on_another_thread(enable, zk_namespace, registrar, hs2_server_factory, monkeypatch):
    from beeswax.server import dbms

    a = hs2_server_factory("hs2-a", host="127.0.0.1")
    registrar.register(a.host, a.port, namespace=zk_namespace)
    integration = enable(zk_namespace)
    integration.discovery.endpoint(integration.config.hive_service)
    probed_on = []
    original = probes.accepts_connections
    monkeypatch.setattr(probes, "accepts_connections",
                        lambda endpoint, timeout: probed_on.append(threading.current_thread()) or original(endpoint,
                                                                                                            timeout))
    dbms.reset_ha()
    assert integration.prober.idle(10)
    assert probed_on and threading.current_thread() not in probed_on
