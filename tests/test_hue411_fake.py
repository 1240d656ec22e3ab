"""Tests of the Hue 4.11 stand-in (tests/hue411): its names match Hue's, and it behaves like Hue, defects included,
end to end over real HiveServer2-protocol servers and a real ZooKeeper."""
import ast
import inspect
import json
import subprocess
from pathlib import Path

import pytest
from thrift.transport.TTransport import TTransportException

from beeswax import conf as beeswax_conf
from beeswax import hive_site
from beeswax.models import Session
from beeswax.server import dbms, hive_server2_lib
from desktop.lib import thrift_util
from desktop.lib.conf import coerce_bool
from desktop.lib.exceptions import StructuredException, StructuredThriftTransportException
from desktop.lib.exceptions_renderable import PopupException
from desktop.lib.rest.http_client import RestException
from libzookeeper import conf as zk_conf
from notebook.connectors.base import QueryError
from notebook.connectors.hiveserver2 import HS2Api
from tests._hue_fixtures import enable_discovery, notebook_for, point_at, run, snippet_for  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hue")]

HUE_MIRROR = Path("/work/.mirror/cloudera+hue/repo")

# fake module -> (path in cloudera/hue, names that must exist in both)
EXPECTED_NAMES = {
    "desktop.lib.conf": ("desktop/core/src/desktop/lib/conf.py",
                         ["Config", "ConfigSection", "BoundConfig", "bind_module_config", "coerce_bool",
                          "coerce_string", "coerce_csv"]),
    "desktop.conf": ("desktop/core/src/desktop/conf.py",
                     ["has_connectors", "AUTH_USERNAME", "AUTH_PASSWORD", "CHERRYPY_SERVER_THREADS", "DEFAULT_USER",
                      "USE_THRIFT_HTTP_JWT", "SASL_MAX_BUFFER", "default_ssl_cacerts", "default_ssl_validate"]),
    "desktop.lib.exceptions": ("desktop/core/src/desktop/lib/exceptions.py",
                               ["StructuredException", "StructuredThriftTransportException"]),
    "desktop.lib.exceptions_renderable": ("desktop/core/src/desktop/lib/exceptions_renderable.py", ["PopupException"]),
    "desktop.lib.rest.http_client": ("desktop/core/src/desktop/lib/rest/http_client.py",
                                     ["RestException", "HttpClient"]),
    "desktop.lib.thrift_.http_client": ("desktop/core/src/desktop/lib/thrift_/http_client.py", ["THttpClient"]),
    "desktop.lib.sasl_compat": ("desktop/core/src/desktop/lib/sasl_compat.py", ["PureSASLClient"]),
    "desktop.lib.thrift_util": ("desktop/core/src/desktop/lib/thrift_util.py",
                                ["_connection_pool", "_get_pool_key", "get_client", "ConnectionConfig",
                                 "ConnectionPooler", "PooledClient", "SuperClient", "connect_to_thrift",
                                 "construct_superclient", "unpack_guid", "unpack_guid_base64"]),
    "libzookeeper.conf": ("desktop/libs/libzookeeper/src/libzookeeper/conf.py", ["ENSEMBLE", "PRINCIPAL_NAME"]),
    "beeswax.conf": ("apps/beeswax/src/beeswax/conf.py",
                     ["HIVE_DISCOVERY_HS2", "HIVE_DISCOVERY_LLAP", "HIVE_DISCOVERY_LLAP_HA",
                      "HIVE_DISCOVERY_HIVESERVER2_ZNODE", "HIVE_DISCOVERY_LLAP_ZNODE", "CACHE_TIMEOUT",
                      "ZOOKEEPER_CONN_TIMEOUT", "HIVE_SERVER_HOST", "HIVE_SERVER_PORT", "HIVE_HTTP_THRIFT_PORT",
                      "LLAP_SERVER_HOST", "LLAP_SERVER_PORT", "LLAP_SERVER_THRIFT_PORT", "SERVER_CONN_TIMEOUT",
                      "USE_SASL", "MAX_NUMBER_OF_SESSIONS", "CLOSE_SESSIONS", "AUTH_USERNAME", "AUTH_PASSWORD",
                      "has_session_pool", "has_multiple_sessions", "SSL", "THRIFT_VERSION", "CONFIG_WHITELIST"]),
    "beeswax.hive_site": ("apps/beeswax/src/beeswax/hive_site.py",
                          ["hiveserver2_use_ssl", "get_hiveserver2_kerberos_principal", "hiveserver2_transport_mode",
                           "hiveserver2_thrift_http_path", "hiveserver2_impersonation_enabled", "get_conf", "reset",
                           "get_hiveserver2_authentication"]),
    "beeswax.models": ("apps/beeswax/src/beeswax/models.py",
                       ["Session", "SessionManager", "QueryHistory", "HiveServerQueryHistory", "HiveServerQueryHandle",
                        "QUERY_TYPES"]),
    "beeswax.server.dbms": ("apps/beeswax/src/beeswax/server/dbms.py",
                            ["DBMS_CACHE", "DBMS_CACHE_LOCK", "RESET_HS2_QUERY_SERVER", "cache", "reset_ha",
                             "get_zk_hs2", "get", "get_query_server_config", "get_query_server_config_via_connector",
                             "HiveServer2Dbms", "QueryServerException", "InvalidSessionQueryServerException",
                             "QueryServerTimeoutException"]),
    "beeswax.server.hive_server2_lib": ("apps/beeswax/src/beeswax/server/hive_server2_lib.py",
                                        ["HiveServerClient", "HiveServerClientCompatible", "reset_ha",
                                         "HiveServerDataTable", "ResultCompatible"]),
    "notebook.connectors.base": ("desktop/libs/notebook/src/notebook/connectors/base.py",
                                 ["Api", "QueryExpired", "QueryError", "OperationTimeout", "SessionExpired",
                                  "AuthenticationRequired", "OperationNotSupported", "_get_snippet_name"]),
    "notebook.connectors.hiveserver2": ("desktop/libs/notebook/src/notebook/connectors/hiveserver2.py",
                                        ["HS2Api", "query_error_handler", "get_query_server_config", "reset_ha",
                                         "dbms"]),
    "notebook.connectors.hive_metastore": ("desktop/libs/notebook/src/notebook/connectors/hive_metastore.py",
                                           ["get_query_server_config"]),
    "beeswax.api": ("apps/beeswax/src/beeswax/api.py",
                    ["get_query_server_config", "_autocomplete", "_get_sample_data"]),
    "beeswax.views": ("apps/beeswax/src/beeswax/views.py", ["get_query_server_config"]),
    "beeswax.query_history": ("apps/beeswax/src/beeswax/query_history.py", ["get_query_server_config"]),
    "metastore.views": ("apps/metastore/src/metastore/views.py", ["get_query_server_config"]),
    "impala.models": ("apps/impala/src/impala/models.py", ["get_query_server_config"]),
}

# function -> Hue's parameter list (names and defaults, as written in Hue's source)
EXPECTED_SIGNATURES = {
    ("beeswax.server.dbms", "get"): "(user, query_server=None, cluster=None)",
    ("beeswax.server.dbms", "get_query_server_config"): "(name='beeswax', connector=None)",
    ("beeswax.server.dbms", "reset_ha"): "()",
    ("beeswax.server.dbms", "get_zk_hs2"): "()",
    ("desktop.lib.thrift_util", "get_client"): "(klass, host, port, service_name, **kwargs)",
    ("notebook.connectors.base", "QueryError.__init__"): "(self, message, handle=None)",
    ("notebook.connectors.base", "Api.__init__"): "(self, user, interpreter=None, request=None, query_server=None)",
    ("notebook.connectors.hiveserver2", "HS2Api._get_db"): "(self, snippet, is_async=False, interpreter=None)",
    ("beeswax.server.hive_server2_lib", "HiveServerClient.__init__"): "(self, query_server, user)",
    ("desktop.lib.conf", "BoundConfig.set_for_testing"): "(self, data=None, present=True)",
    ("desktop.lib.exceptions", "StructuredException.__init__"): "(self, code, message, data=None, error_code=500)",
}


def _module(name):
    return __import__(name, fromlist=["_"])


def _resolve(module, dotted):
    obj = _module(module)
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------------------------------------------- fixtures


# ---------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("module", sorted(EXPECTED_NAMES))
def test_stand_in_defines_the_expected_names(module):
    _, names = EXPECTED_NAMES[module]
    assert [name for name in names if not hasattr(_module(module), name)] == []


@pytest.mark.parametrize("key", sorted(EXPECTED_SIGNATURES), ids=lambda k: "%s.%s" % k)
def test_stand_in_signatures(key):
    assert str(inspect.signature(_resolve(*key))) == EXPECTED_SIGNATURES[key]


def _hue_source(path):
    if not HUE_MIRROR.exists():
        pytest.skip("no clone of cloudera/hue at %s (CI has none; the name tables above still apply)" % HUE_MIRROR)
    return subprocess.run(["git", "-C", str(HUE_MIRROR), "show", "HEAD:" + path], check=True, capture_output=True,
                          text=True).stdout


def _top_level_names(source):
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Try):  # notebook.connectors.hiveserver2 imports beeswax inside a try
            names.update(_top_level_names(ast.unparse(ast.Module(body=node.body, type_ignores=[]))))
    return names


@pytest.mark.parametrize("module", sorted(EXPECTED_NAMES))
def test_expected_names_exist_in_hue_master(module):
    path, names = EXPECTED_NAMES[module]
    assert [name for name in names if name not in _top_level_names(_hue_source(path))] == []


def test_stand_in_signatures_match_hue_master():
    mismatches = []
    for (module, dotted), expected in EXPECTED_SIGNATURES.items():
        path = EXPECTED_NAMES[module][0]
        tree = ast.parse(_hue_source(path))
        *owners, name = dotted.split(".")
        nodes = tree.body
        for owner in owners:
            nodes = next(n for n in nodes if isinstance(n, ast.ClassDef) and n.name == owner).body
        func = next(n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == name)
        if "(%s)" % ast.unparse(func.args) != expected:
            mismatches.append((module, dotted, ast.unparse(func.args)))
    assert mismatches == []


# ---------------------------------------------------------------------------------------------------- settings


def test_config_defaults_are_hues(hue):
    assert beeswax_conf.HIVE_DISCOVERY_HS2.get() is False
    assert beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE.get() == "/hiveserver2"
    assert beeswax_conf.HIVE_DISCOVERY_LLAP_ZNODE.get() == "/hiveserver2-hive2"
    assert (beeswax_conf.CACHE_TIMEOUT.get(), beeswax_conf.ZOOKEEPER_CONN_TIMEOUT.get()) == (60, 30)
    assert (beeswax_conf.SERVER_CONN_TIMEOUT.get(), beeswax_conf.MAX_NUMBER_OF_SESSIONS.get()) == (120, -1)
    assert (beeswax_conf.LLAP_SERVER_PORT.get(), beeswax_conf.LLAP_SERVER_THRIFT_PORT.get()) == (10500, 10501)
    assert (beeswax_conf.HIVE_SERVER_PORT.get(), beeswax_conf.HIVE_HTTP_THRIFT_PORT.get()) == (10000, 10001)
    assert beeswax_conf.USE_SASL.get() is True  # hive.server2.authentication defaults to NONE
    assert beeswax_conf.CLOSE_SESSIONS.get() is True and beeswax_conf.has_session_pool() is False
    assert zk_conf.ENSEMBLE.get() == "localhost:2181" and zk_conf.PRINCIPAL_NAME.get() == "zookeeper"
    assert beeswax_conf.SSL.VALIDATE.get() is True


def test_get_rereads_and_set_for_testing_returns_the_undo(hue):
    undo = beeswax_conf.CACHE_TIMEOUT.set_for_testing("5")
    assert beeswax_conf.CACHE_TIMEOUT.get() == 5
    undo()
    assert beeswax_conf.CACHE_TIMEOUT.get() == 60
    assert "cache_timeout" not in beeswax_conf.CACHE_TIMEOUT.bind_to  # absence restored, not a stored default

    hive_site.get_conf()["hive.execution.mode"] = "llap"  # dynamic defaults follow hive-site on every read
    assert beeswax_conf.HIVE_SERVER_PORT.get() == 10500
    hive_site.get_conf()[hive_site._CNF_HIVESERVER2_AUTHENTICATION] = "NOSASL"
    assert beeswax_conf.USE_SASL.get() is False
    with pytest.raises(Exception, match="Could not coerce"):
        coerce_bool("maybe")


def test_query_server_config_from_settings(hue):
    hue(beeswax_conf.HIVE_SERVER_HOST, "127.0.0.1")
    hue(beeswax_conf.HIVE_SERVER_PORT, "10123")
    hive_site.get_conf()[hive_site._CNF_HIVESERVER2_KERBEROS_PRINCIPAL] = "hive/_HOST@EXAMPLE.COM"
    qs = dbms.get_query_server_config()
    assert (qs["server_name"], qs["server_host"], qs["server_port"], qs["transport_mode"]) == \
        ("beeswax", "127.0.0.1", 10123, "socket")
    assert qs["principal"].startswith("hive/") and qs["principal"].endswith("@EXAMPLE.COM")
    assert "_HOST" not in qs["principal"]
    assert qs["http_url"] == "http://127.0.0.1:10123/cliservice" and qs["dialect"] == "beeswax"
    assert dbms.cache.get("hiveserver2") is not None

    hive_site.get_conf()[hive_site._CNF_HIVESERVER2_TRANSPORT_MODE] = "http"
    hue(beeswax_conf.HIVE_HTTP_THRIFT_PORT, "10124")
    qs = dbms.get_query_server_config()
    assert (qs["transport_mode"], qs["server_port"]) == ("http", 10124)  # the cache is re-set without discovery


# ----------------------------------------------------------------------------------------------- end to end


def test_notebook_api_end_to_end_over_sasl(hue, users, hs2_server):
    point_at(hue, hs2_server)
    api = HS2Api(users[0])
    reply = api.create_session(lang="hive")
    assert reply["id"] is not None and reply["reuse_session"] is False and reply["session_id"]
    stored = Session.objects.get(id=reply["id"])
    assert (stored.owner, stored.application, stored.status_code) == (users[0], "beeswax", 0)

    notebook = notebook_for(reply)
    assert run(api, notebook, "select current_server(), 1") == [["hs2-a", 1]]
    snippet = snippet_for("select 1", api.execute(notebook, snippet_for("select 1")))
    assert isinstance(api.get_log(notebook, snippet, startFrom=0), str)
    assert api.close_statement(notebook, snippet) == {"status": 0}
    assert api.close_session({"type": "hive", "id": reply["id"]})["status"] == 0
    assert Session.objects.get(id=reply["id"]).status_code == 4  # INVALID_HANDLE_STATUS


def test_sql_errors_become_query_errors(hue, users, hs2_server):
    point_at(hue, hs2_server)
    api = HS2Api(users[0])
    notebook = notebook_for(api.create_session(lang="hive"))
    with pytest.raises(QueryError, match="ParseException"):
        api.execute(notebook, snippet_for("frobnicate the tables"))


def test_notebook_api_end_to_end_over_http(hue, users, hs2_server_factory):
    server = hs2_server_factory("hs2-http", transport="http")
    point_at(hue, server)
    api = HS2Api(users[0])
    notebook = notebook_for(api.create_session(lang="hive"))
    assert run(api, notebook, "select current_server()") == [["hs2-http"]]
    assert api.autocomplete(snippet_for(""))["databases"] == ["default"]

    server.stop()  # HTTP mode: the failure is a RestException, which query_error_handler lets through (no reset)
    with pytest.raises(RestException) as failure:
        api.execute(notebook, snippet_for("select 1"))
    assert "Connection refused" in str(failure.value) and failure.value.code is None
    assert dbms.RESET_HS2_QUERY_SERVER is False


def test_sample_hello_probe(hue, users, hs2_server):
    point_at(hue, hs2_server)
    sample = HS2Api(users[0]).get_sample_data(snippet_for(""), operation="hello")
    assert sample["status"] == 0 and sample["rows"] == [["Hello World!"]]


# ------------------------------------------------------------------------------------------ Hue's defects


def test_dead_socket_server_raises_thrift_transport_error_and_the_editor_returns_none(hue, users, hs2_server):
    point_at(hue, hs2_server)
    api = HS2Api(users[0])
    notebook = notebook_for(api.create_session(lang="hive"))
    assert run(api, notebook, "select 1") == [[1]]
    dbms.get(users[0], dbms.get_query_server_config())  # consume the import-time reset flag
    assert dbms.RESET_HS2_QUERY_SERVER is False
    hs2_server.kill()

    client = dbms.get(users[0], dbms.get_query_server_config()).client._client._client
    with pytest.raises(StructuredThriftTransportException) as failure:
        client.OpenSession(None)
    error = failure.value
    assert isinstance(error, TTransportException) and isinstance(error, StructuredException)
    assert error.code == "THRIFTTRANSPORT" and error.error_code == 502
    assert error.message == "Could not connect to any of [('%s', %d)]" % (hs2_server.host, hs2_server.port)
    assert str(error).startswith(error.message + " (code THRIFTTRANSPORT): ")

    assert api.execute(notebook, snippet_for("select 1")) is None  # the defect: reset, then silently nothing
    assert dbms.RESET_HS2_QUERY_SERVER is True
    reply = api.create_session(lang="hive")  # every OpenSession error is swallowed: a session-less reply
    assert reply["id"] is None and reply["configuration"] is None
    key = thrift_util._get_pool_key(client.conf)
    assert key == (hive_server2_lib.TCLIService.Client, hs2_server.host, hs2_server.port, "")
    assert key in thrift_util._connection_pool.pooldict  # the dead host's pool is never evicted


def test_reset_ha_reaches_only_the_next_user(hue, users):
    hue(beeswax_conf.HIVE_SERVER_HOST, "127.0.0.1")
    hue(beeswax_conf.HIVE_SERVER_PORT, "10000")  # nothing listens; clients connect lazily
    alice, bob = users
    before = {user.id: dbms.get(user, dbms.get_query_server_config()) for user in users}
    dbms.get(alice, dbms.get_query_server_config())  # the import-time flag went to alice
    dbms.reset_ha()
    rebuilt = dbms.get(alice, dbms.get_query_server_config())
    assert rebuilt is not before[alice.id]
    assert dbms.get(bob, dbms.get_query_server_config()) is before[bob.id]  # bob keeps his old client


def test_dbms_cache_is_keyed_by_server_name_only(hue, users):
    hue(beeswax_conf.HIVE_SERVER_HOST, "127.0.0.1")
    hue(beeswax_conf.HIVE_SERVER_PORT, "10000")
    first = dbms.get(users[0], dbms.get_query_server_config())
    dbms.RESET_HS2_QUERY_SERVER = False
    hue(beeswax_conf.HIVE_SERVER_PORT, "10001")
    again = dbms.get(users[0], dbms.get_query_server_config())
    assert again is first and again.client.query_server["server_port"] == 10000  # the new port is ignored


def test_llap_and_hs2_share_the_beeswax_cache_entry(hue, users):
    hue(beeswax_conf.HIVE_SERVER_HOST, "127.0.0.1")
    hue(beeswax_conf.LLAP_SERVER_HOST, "127.0.0.2")
    hive = dbms.get(users[0], dbms.get_query_server_config())
    llap_config = dbms.get_query_server_config(name="llap")
    assert (llap_config["server_name"], llap_config["server_host"], llap_config["server_port"]) == \
        ("beeswax", "127.0.0.2", 10500)  # LLAP_SERVER_PORT, not the thrift port the cache holds
    dbms.RESET_HS2_QUERY_SERVER = False
    assert dbms.get(users[0], llap_config) is hive


def test_zookeeper_discovery_pins_the_lowest_sequence(hue, zk_server, zk_namespace, registrar):
    enable_discovery(hue, zk_server, "/" + zk_namespace)
    with pytest.raises(PopupException, match="There are no running Hive server available"):
        dbms.get_query_server_config()

    first = registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    registrar.register("127.0.0.1", 10002, namespace=zk_namespace)
    assert dbms.get_query_server_config()["server_port"] == 10001
    assert json.loads(dbms.cache.get("hiveserver2")) == {"host": "127.0.0.1", "port": "10001"}

    first.deregister()  # same host name: the substring test says "still up", the dead port stays
    assert dbms.get_query_server_config()["server_port"] == 10001

    registrar.register("127.0.0.2", 10003, namespace=zk_namespace)  # higher sequence: never chosen
    assert dbms.get_query_server_config()["server_port"] == 10001


def test_zookeeper_discovery_switches_host_and_sets_the_reset_flag(hue, zk_server, zk_namespace, registrar):
    enable_discovery(hue, zk_server, "/" + zk_namespace)
    first = registrar.register("127.0.0.2", 10001, namespace=zk_namespace)
    registrar.register("127.0.0.3", 10002, namespace=zk_namespace)
    assert dbms.get_query_server_config()["server_host"] == "127.0.0.2"
    dbms.RESET_HS2_QUERY_SERVER = False

    first.deregister()
    config = dbms.get_query_server_config()
    assert (config["server_host"], config["server_port"]) == ("127.0.0.3", 10002)
    assert dbms.RESET_HS2_QUERY_SERVER is True


def test_zookeeper_discovery_with_every_server_gone(hue, zk_server, zk_namespace, registrar):
    enable_discovery(hue, zk_server, "/" + zk_namespace)
    only = registrar.register("127.0.0.1", 10001, namespace=zk_namespace)
    dbms.get_query_server_config()
    only.deregister()
    with pytest.raises(PopupException, match="Currently there are no HiveServer2 running"):
        dbms.get_query_server_config()


def test_failover_through_the_editor_reaches_one_user_per_reset(hue, users, zk_server, zk_namespace, registrar,
                                                                 hs2_server_factory):
    """Two users on A; A dies and leaves ZooKeeper; whoever calls first after each reset recovers, the other's
    execute returns None (measured in hue.md with real Hue)."""
    server_a = hs2_server_factory("hs2-a", host="127.0.0.1")
    server_b = hs2_server_factory("hs2-b", host="127.0.0.2")
    enable_discovery(hue, zk_server, "/" + zk_namespace)
    znode_a = registrar.register(server_a.host, server_a.port, namespace=zk_namespace)
    registrar.register(server_b.host, server_b.port, namespace=zk_namespace)
    alice, bob = (HS2Api(user) for user in users)
    notebooks = [notebook_for(api.create_session(lang="hive")) for api in (alice, bob)]
    assert [run(api, nb, "select current_server()") for api, nb in zip((alice, bob), notebooks)] == \
        [[["hs2-a"]], [["hs2-a"]]]

    server_a.kill()
    znode_a.deregister()
    assert run(alice, notebooks[0], "select current_server()") == [["hs2-b"]]  # first caller takes the reset
    assert run(bob, notebooks[1], "select current_server()") is None  # bob: old client, reset, None
    assert run(alice, notebooks[0], "select current_server()") == [["hs2-b"]]  # alice consumes bob's reset...
    assert run(bob, notebooks[1], "select current_server()") is None  # ...so bob fails again
    assert run(bob, notebooks[1], "select current_server()") == [["hs2-b"]]  # only a reset of his own helps
