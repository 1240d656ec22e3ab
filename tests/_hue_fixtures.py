"""Fixtures and helpers for tests against the Hue 4.11 stand-in (tests/hue411): a clean Hue process
state per test, users, and what the editor does (execute, poll, fetch)."""
import pytest

from beeswax import conf as beeswax_conf
from beeswax import hive_site
from beeswax.server import dbms
from desktop.lib import thrift_util
from hive_ha.testing.waiting import wait_until
from libzookeeper import conf as zk_conf


@pytest.fixture
def hue():
    """A fresh Hue process state per test: settings restored, caches and connection pools emptied."""
    undo = []

    def configure(config, value):
        undo.append(config.set_for_testing(value))

    hive_site.reset()
    dbms.DBMS_CACHE.clear()
    dbms.reset_ha()
    yield configure
    for restore in reversed(undo):
        restore()
    hive_site.reset()
    dbms.DBMS_CACHE.clear()
    dbms.reset_ha()
    for pool in thrift_util._connection_pool.pooldict.values():
        while not pool.empty():
            pool.get_nowait().transport.close()
    thrift_util._connection_pool.pooldict.clear()


@pytest.fixture
def users(django_user_model):
    return [django_user_model.objects.create_user(username=name, password="x") for name in ("alice", "bob")]


def point_at(configure, server):
    """hue.ini without discovery: hive_server_host/port (or the HTTP port) of ``server``."""
    configure(beeswax_conf.HIVE_SERVER_HOST, server.host)
    if getattr(server, "transport", "binary") == "http":
        hive_site.get_conf()[hive_site._CNF_HIVESERVER2_TRANSPORT_MODE] = "http"
        configure(beeswax_conf.HIVE_HTTP_THRIFT_PORT, str(server.port))
    else:
        configure(beeswax_conf.HIVE_SERVER_PORT, str(server.port))


def enable_discovery(configure, zk_server, namespace):
    configure(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
    configure(beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE, namespace)
    configure(beeswax_conf.ZOOKEEPER_CONN_TIMEOUT, "10")
    configure(zk_conf.ENSEMBLE, zk_server.hosts)


def notebook_for(session_reply):
    return {"sessions": [{"type": "hive", "id": session_reply["id"], "properties": []}]}


def snippet_for(statement, handle=None):
    return {"type": "hive", "statement": statement, "properties": {}, "database": "default",
            "result": {"handle": handle or {}}}


def run(api, notebook, statement):
    """What the editor does: execute, poll check_status, fetch the rows. None when execute returned None."""
    handle = api.execute(notebook, snippet_for(statement))
    if handle is None:
        return None
    snippet = snippet_for(statement, handle)
    wait_until(lambda: api.check_status(notebook, snippet)["status"] == "available", 30, message="query finished")
    result = api.fetch_result(notebook, snippet, 100, True)
    return [list(row) for row in result["data"]]
