"""Every Hue internal hive-ha reads or calls, checked when the app starts, before anything is replaced.

hive-ha lives on Hue's internals: the functions it replaces, Hue's client cache and its lock, Hue's Thrift pool and the
layout of its keys, the generated Thrift client's ``send_X``/``recv_X``, the ``Session`` model, the editor's
``HS2Api`` methods and the names of their parameters, Hue's settings objects. Several are used only during a failover.
A Hue that differs from the one hive-ha was built against (another plugin replaced a function; an upgrade renamed one,
changed a signature or a data layout) must show when Hue starts, not break the first failover: ``check`` looks at
every touchpoint and names each mismatch, and with any mismatch nothing is installed (``install``).

``check`` only reads. To see the attributes Hue's objects get when they are built, it builds a few without any I/O: a
``ConnectionConfig``, an unconnected ``SuperClient``, a ``PooledClient``, an unsaved ``Session``, an ``HS2Api`` for
nobody.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import logging
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hive_ha.core.attempts import EXECUTE
from hive_ha.core.config import KEYS
from hue_integration import client_slots, notebook_api, sessions
from hue_integration.targets import DBMS, EDITOR_API, LOG_SETUP
from hue_integration.thrift_client import REPEATABLE

log = logging.getLogger(__name__)

#: ``expect(value, where)``: what is wrong with the touchpoint ``where`` holding ``value`` (empty: as hive-ha needs it).
Expect = Callable[[Any, str], List[str]]

HS2_LIB = "beeswax.server.hive_server2_lib"
THRIFT_UTIL = "desktop.lib.thrift_util"
TTYPES = "TCLIService.ttypes"
#: Stands for Django's ``settings.ROOT_URLCONF`` (Hue's root URLconf) in a touchpoint's module.
ROOT_URLCONF = "<ROOT_URLCONF>"

#: Where Hue 4.11 binds the functions hive-ha replaces by name (``from beeswax.server.dbms import ...``). hive-ha
#: replaces every binding it finds in the loaded modules (``targets.EveryBinding``); these are only checked: when one
#: of these modules is loaded, its binding must still be Hue's function (else another plugin replaced it there).
KNOWN_COPIES: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "get_query_server_config": (
        ("notebook.connectors.hiveserver2", "get_query_server_config"),
        ("notebook.connectors.hive_metastore", "get_query_server_config"),
        ("beeswax.api", "get_query_server_config"),
        ("beeswax.views", "get_query_server_config"),
        ("beeswax.query_history", "get_query_server_config"),
        ("metastore.views", "get_query_server_config"),
        ("impala.models", "get_query_server_config"),
        ("impala.dbms", "beeswax_query_server_config"),
        ("beeswax.management.commands.create_table_query_data", "get_query_server_config"),
    ),
    "reset_ha": (
        ("beeswax.server.hive_server2_lib", "reset_ha"),
        ("notebook.connectors.hiveserver2", "reset_ha"),
    ),
}
#: Every RPC name hive-ha's code names (retried when repeatable, the statement, the session that is marked).
NAMED_RPCS = REPEATABLE | {EXECUTE, "OpenSession", "CloseSession"}
#: The ``Session`` fields hive-ha queries and the rows' JSON ``properties``.
SESSION_FIELDS = ("owner", "status_code", "secret", "guid", "last_used", "application", "properties")


@dataclasses.dataclass(frozen=True)
class Touchpoint:
    """``module.path`` (``path`` may be dotted: ``KERBEROS.HUE_KEYTAB``), what it must be, and what hive-ha does with
    it (said with a mismatch). ``app``: the Django app it belongs to when Hue may run without that app (skipped then:
    nothing of it runs)."""

    module: str
    path: str
    expect: Expect
    use: str
    app: Optional[str] = None

    def where(self, module: str) -> str:
        return f"{module}.{self.path}"


# -- expectations ------------------------------------------------------------------------------------------------------
def instance_of(kind: type, words: str) -> Expect:
    def expect(value: object, where: str) -> List[str]:
        return [] if isinstance(value, kind) else [f"{where} is not {words} (it is {type(value).__name__})"]
    return expect


def a_lock(value: object, where: str) -> List[str]:
    if all(callable(getattr(value, name, None)) for name in ("acquire", "release", "__enter__", "__exit__")):
        return []
    return [f"{where} is not a lock (it is {type(value).__name__})"]


def a_callable(value: object, where: str) -> List[str]:
    """Called with whatever arguments Hue passes (hive-ha's wrapper passes them through)."""
    return [] if callable(value) else [f"{where} is not callable (it is {type(value).__name__})"]


def a_config(kind: Optional[type] = None) -> Expect:
    """One of Hue's settings (a ``desktop.lib.conf`` object: ``.get()``), whose value is a ``kind`` when given."""
    def expect(value: object, where: str) -> List[str]:
        get = getattr(value, "get", None)
        if not callable(get):
            return [f"{where} is not one of Hue's settings (it is {type(value).__name__})"]
        if kind is not None and not isinstance(get(), kind):
            return [f"{where} holds a {type(get()).__name__}, not a {kind.__name__}"]
        return []
    return expect


def callable_as(*args: object, **kwargs: object) -> Expect:
    """Callable the way hive-ha calls it: with ``args`` (placeholders: only their number counts) and ``kwargs`` (by
    name). A function of Hue's looked up on its class (``Class.method``) takes ``self`` first."""
    def expect(value: object, where: str) -> List[str]:
        if not callable(value):
            return [f"{where} is not callable (it is {type(value).__name__})"]
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):  # a builtin without a signature: nothing to compare
            return []
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            called = ", ".join([*map(str, args), *(f"{k}=" for k in kwargs)])
            return [f"{where}{signature} cannot be called as hive-ha calls it ({called}): {exc}"]
        return []
    return expect


def all_of(*expects: Expect) -> Expect:
    def expect(value: object, where: str) -> List[str]:
        return [problem for each in expects for problem in each(value, where)]
    return expect


def hue_own(*params: str, copies: Sequence[Tuple[str, str]] = ()) -> Expect:
    """A function hive-ha replaces: Hue's own (defined in its module, not another plugin's, not wrapped), taking
    exactly ``params`` (Hue's callers pass them by name to hive-ha's replacement, which takes these), and the same
    object wherever Hue binds it by name (``copies``, when loaded)."""
    def expect(function: object, where: str) -> List[str]:
        module = sys.modules[where.rpartition(".")[0]]
        if not inspect.isfunction(function) or function.__globals__ is not vars(module) \
                or hasattr(function, "__wrapped__"):
            return [f"{where} is not Hue's original (it comes from {_origin(function)}: another plugin replaced it)"]
        found = tuple(inspect.signature(function).parameters)
        out = [] if found == params else [f"{where} takes ({', '.join(found)}); hive-ha's replacement takes "
                                          f"({', '.join(params)})"]
        for module_name, attribute in copies:
            bound = getattr(sys.modules.get(module_name), attribute, function)
            if bound is not function:
                out.append(f"{module_name}.{attribute} is not Hue's original {where} (it comes from "
                           f"{_origin(bound)}: another plugin replaced it)")
        return out
    return expect


def _origin(value: object) -> str:
    """The module that defined ``value`` (a wrapper made with functools.wraps claims the module of what it wraps)."""
    defined_in = getattr(value, "__globals__", {}).get("__name__")
    return defined_in or getattr(value, "__module__", None) or type(value).__name__


def sets(build: Callable[[Any], object], *names: str) -> Expect:
    """A class whose instances (``build(cls)``, no I/O) carry each of ``names`` as their own attribute."""
    def expect(cls: Any, where: str) -> List[str]:
        instance = build(cls)
        own = vars(instance)
        return [f"{where} objects have no attribute {name!r} any more" for name in names if name not in own]
    return expect


def assigns(name: str) -> Expect:
    """A function (a constructor) that sets ``self.<name>`` (read from its code: building one would dial a server)."""
    def expect(function: Any, where: str) -> List[str]:
        code = getattr(function, "__code__", None)
        return [] if code is not None and name in code.co_names else [f"{where} no longer sets {name}"]
    return expect


def connection_pool(pool: Any, where: str) -> List[str]:
    return (instance_of(dict, "a dict")(getattr(pool, "pooldict", None), f"{where}.pooldict")
            + a_lock(getattr(pool, "dictlock", None), f"{where}.dictlock")
            + callable_as("conf", get_client_timeout=1.0)(getattr(pool, "get_client", None), f"{where}.get_client")
            + callable_as("conf", "client")(getattr(pool, "return_client", None), f"{where}.return_client"))


def pool_key_layout(get_pool_key: Any, where: str) -> List[str]:
    """The key of a server's pool holds its host and port where ``client_slots`` reads them (else the reset of a dead
    server would silently match no pool)."""
    from desktop.lib.thrift_util import ConnectionConfig

    host, port = "hive-ha.invalid", 1
    key = get_pool_key(ConnectionConfig(object, host, port, "hive-ha"))
    if isinstance(key, tuple) and client_slots.pool_address(key) == (host, port):
        return []
    return [f"{where} makes keys like {key!r}: hive-ha reads a pool's host and port at "
            f"[{client_slots.POOL_KEY_HOST}] and [{client_slots.POOL_KEY_PORT}]"]


def pool_queue(cls: Any, where: str) -> List[str]:
    queue = cls(1)
    if a_lock(getattr(queue, "mutex", None), "") or not hasattr(getattr(queue, "queue", None), "__iter__"):
        return [f"{where} no longer keeps its idle connections in .queue under .mutex"]
    return []


def unwraps_transport(function: Any, where: str) -> List[str]:
    """Finds the socket inside Hue's buffered transport (not opened here: no I/O)."""
    from thrift.transport.TSocket import TSocket
    from thrift.transport.TTransport import TBufferedTransport

    socket = TSocket("127.0.0.1", 1)
    found = function(TBufferedTransport(socket))
    return [] if found is socket else [f"{where} no longer gives the socket inside a buffered transport"]


def builds_a_connection(function: Any, where: str) -> List[str]:
    """Hue's transport for a server's connection settings, not opened (Hue's promise: no I/O here): ``(service,
    protocol, transport)``, the service a client of the settings' class."""
    from desktop.lib.thrift_util import ConnectionConfig

    class Service:
        def __init__(self, protocol: object) -> None:
            self.protocol = protocol

    built = function(ConnectionConfig(Service, "127.0.0.1", 1, "hive-ha", timeout_seconds=1))
    if isinstance(built, tuple) and len(built) == 3 and isinstance(built[0], Service) \
            and all(callable(getattr(built[2], name, None)) for name in ("open", "close", "isOpen")):
        return []
    return [f"{where} no longer returns (service, protocol, transport) (got {built!r})"]


def thrift_service(module: Any, where: str) -> List[str]:
    """The generated service: a ``send_X`` and a ``recv_X`` on its Client for every RPC of its Iface (hive-ha's
    client makes any RPC Hue asks for that way), and every RPC hive-ha names."""
    client, iface = getattr(module, "Client", None), getattr(module, "Iface", None)
    if client is None or iface is None:
        return [f"{where}.Client or {where}.Iface is missing"]
    rpcs = {name for name, value in vars(iface).items() if callable(value) and not name.startswith("_")}
    out = [f"{where}.Client.{prefix}{rpc} is missing" for rpc in sorted(rpcs) for prefix in ("send_", "recv_")
           if not callable(getattr(client, prefix + rpc, None))]
    out += [f"{where} has no RPC {rpc}" for rpc in sorted(NAMED_RPCS - rpcs)]
    return out


def thrift_fields(*names: str) -> Expect:
    def expect(struct: Any, where: str) -> List[str]:
        fields = {spec[2] for spec in getattr(struct, "thrift_spec", None) or () if spec}
        return [f"{where} has no field {name!r}" for name in names if name not in fields]
    return expect


def status_codes(codes: Any, where: str) -> List[str]:
    found = tuple(getattr(codes, name, None) for name in ("SUCCESS_STATUS", "SUCCESS_WITH_INFO_STATUS",
                                                          "STILL_EXECUTING_STATUS", "INVALID_HANDLE_STATUS"))
    if found == (*sessions.OPEN_STATUSES, sessions.INVALID_HANDLE_STATUS):
        return []
    return [f"{where} values changed: {found} (hive-ha marks rows with {sessions.OPEN_STATUSES} open and "
            f"{sessions.INVALID_HANDLE_STATUS} invalid)"]


def session_model(model: Any, where: str) -> List[str]:
    """The fields hive-ha queries, and the JSON ``properties`` Hue reads back (``get_properties``) and writes back
    whole, so that the server hive-ha notes there survives Hue's own updates."""
    from django.core.exceptions import FieldDoesNotExist

    out = []
    for name in SESSION_FIELDS:
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            out.append(f"{where} has no field {name!r}")
    if out:
        return out
    address = "hive-ha.invalid:1"
    read = model(properties=json.dumps({sessions.SERVER_KEY: address})).get_properties()
    if not isinstance(read, dict) or read.get(sessions.SERVER_KEY) != address:
        out.append(f"{where}.get_properties no longer reads the JSON object in properties (got {read!r})")
    return out


def server_type(value: Any, where: str) -> List[str]:
    """``SERVER_TYPE[1][0]``, what Hue's ``dbms.get`` passes for HiveServer2 (hive-ha builds its clients the same)."""
    try:
        found = value[1][0]
    except (TypeError, IndexError, KeyError):
        found = None
    return [] if found == "hiveserver2" else [f"{where}[1][0] is {found!r}, not 'hiveserver2'"]


def editor_api(api_class: Any, where: str) -> List[str]:
    """The ``HS2Api`` methods hive-ha wraps (``notebook_api.CALLS``): each there, either undecorated or wrapped by
    this very module's ``query_error_handler`` in its known shape (hive-ha puts its wrapper inside Hue's handler), and
    with the parameters the wrapper reads by name (a rename would silently stop the pinning of handles). An
    ``HS2Api`` keeps its user in ``.user``."""
    module = sys.modules[api_class.__module__]
    handler = getattr(module, "query_error_handler", None)
    out, handled = [], []
    for name, call in notebook_api.CALLS.items():
        at = f"{where}.{name}"
        method = vars(api_class).get(name)
        if method is None:
            out.append(f"{at} is missing")
            continue
        inner = notebook_api.undecorated(method, name)
        if inner is not None:
            handled.append(name)
            if handler is not None and getattr(handler(inner), "__code__", None) is not method.__code__:
                out.append(f"{at} is wrapped by something other than {module.__name__}.query_error_handler")
        elif not inspect.isfunction(method) or hasattr(method, "__wrapped__") or _closes_over_a_function(method):
            out.append(f"{at} is wrapped in a way hive-ha does not know (it unwraps Hue's query_error_handler only)")
            continue
        parameters = inspect.signature(inner or method).parameters
        missing = [p for p in call.reads if p not in parameters]
        if missing:
            out.append(f"{at} has no parameter {', '.join(map(repr, missing))} (its parameters: "
                       f"{', '.join(parameters)}); hive-ha's wrapper reads it by name")
    if handled and handler is None:
        out.append(f"{module.__name__}.query_error_handler is missing, and {', '.join(handled)} are wrapped in "
                   f"a handler of that shape")
    marker = object()
    if vars(api_class(marker)).get("user") is not marker:
        out.append(f"{where} objects no longer keep their user in .user")
    return out


def _closes_over_a_function(function: Any) -> bool:
    return any(inspect.isfunction(cell.cell_contents) for cell in function.__closure__ or ())


def _build_conf(cls: Any) -> object:
    return cls(object, "hive-ha.invalid", 1, "hive-ha")


def _keys(section: str) -> List[str]:
    return [key for sec, key in KEYS if sec == section]


# -- the touchpoints ---------------------------------------------------------------------------------------------------
_MARK = object()
TOUCHPOINTS: Tuple[Touchpoint, ...] = (
    # The functions hive-ha replaces, everywhere they are bound (targets).
    Touchpoint(DBMS, "get_query_server_config",
               hue_own("name", "connector", copies=KNOWN_COPIES["get_query_server_config"]),
               "replaces it with its lookup"),
    Touchpoint(DBMS, "get", hue_own("user", "query_server", "cluster"), "replaces it: one client per user and server"),
    Touchpoint(DBMS, "reset_ha", hue_own(copies=KNOWN_COPIES["reset_ha"]), "replaces it"),
    # Hue's client cache (client_slots), and building a client as Hue's dbms.get does (integration).
    Touchpoint(DBMS, "DBMS_CACHE", instance_of(dict, "a dict"), "keys users' clients by server and drops a dead one's"),
    Touchpoint(DBMS, "DBMS_CACHE_LOCK", a_lock, "takes it around the client cache"),
    Touchpoint(DBMS, "HiveServer2Dbms", callable_as("client", "server_type"), "builds clients as Hue's dbms.get does"),
    Touchpoint(DBMS, "HiveServer2Dbms.open_session", callable_as("self", "user"),
               "opens a user's session on the server a statement goes to"),
    Touchpoint(HS2_LIB, "HiveServerClient", callable_as("query_server", "user"), "builds clients as Hue does"),
    Touchpoint(HS2_LIB, "HiveServerClient.__init__", assigns("_client"),
               "puts its own Thrift client in place of HiveServerClient._client"),
    Touchpoint(HS2_LIB, "HiveServerClientCompatible", callable_as("client"), "builds clients as Hue does"),
    Touchpoint("beeswax.models", "QueryHistory.SERVER_TYPE", server_type, "builds clients as Hue does"),
    # Hue's Thrift pool: hive-ha's client borrows Hue's connections, the reset closes a dead server's idle ones, late
    # replies are waited for on them, the probe dials with Hue's transport (thrift_client, client_slots,
    # late_replies, probe).
    Touchpoint(THRIFT_UTIL, "_connection_pool", connection_pool, "borrows and returns Hue's pooled connections"),
    Touchpoint(THRIFT_UTIL, "_get_pool_key", pool_key_layout, "finds a dead server's pools by their keys"),
    Touchpoint(THRIFT_UTIL, "LifoQueue", pool_queue, "closes a dead server's idle pooled connections"),
    Touchpoint(THRIFT_UTIL, "ConnectionConfig",
               sets(_build_conf, "host", "port", "username", "timeout_seconds", "transport_mode"),
               "uses the connection settings of Hue's clients"),
    Touchpoint(THRIFT_UTIL, "PooledClient", sets(lambda cls: cls(_MARK), "conf"),
               "takes the connection settings of the client Hue built"),
    Touchpoint(THRIFT_UTIL, "SuperClient", sets(lambda cls: cls(_MARK, _MARK), "wrapped", "transport"),
               "makes each RPC on a pooled connection's generated client and transport"),
    Touchpoint(THRIFT_UTIL, "SuperClient.set_timeout", callable_as("self", "timeout_seconds"),
               "bounds each RPC and each wait for a late reply"),
    Touchpoint(THRIFT_UTIL, "_grab_transport_from_wrapper", unwraps_transport,
               "finds a pooled connection's socket (closed by the server? binary or HTTP?)"),
    Touchpoint(THRIFT_UTIL, "connect_to_thrift", builds_a_connection, "probes a server on a fresh connection"),
    # The generated Thrift code Hue's client talks through.
    Touchpoint(HS2_LIB, "TCLIService", thrift_service, "makes each RPC with send_X and recv_X"),
    Touchpoint(TTYPES, "TOpenSessionReq", thrift_fields("client_protocol", "username", "configuration"),
               "probes with an OpenSession"),
    Touchpoint(TTYPES, "TOpenSessionResp", thrift_fields("sessionHandle", "configuration"),
               "notes the server in a new session's configuration"),
    Touchpoint(TTYPES, "TCloseSessionReq", thrift_fields("sessionHandle"), "closes the probe's session"),
    Touchpoint(TTYPES, "TExecuteStatementReq", thrift_fields("statement"), "knows which statement may have run"),
    Touchpoint(TTYPES, "TStatusCode", status_codes, "tells open Session rows and marks a dead server's invalid"),
    # Hue's Session rows (sessions, invalidation).
    Touchpoint("beeswax.models", "Session", session_model, "notes in each row the server it lives on"),
    # Errors hive-ha raises as Hue's own code does.
    Touchpoint("desktop.lib.exceptions", "StructuredException",
               callable_as("code", "message", data=None, error_code=502), "raises Hue's errors for failed RPCs"),
    Touchpoint("desktop.lib.exceptions", "StructuredThriftTransportException", callable_as("error", error_code=502),
               "raises Hue's errors for failed RPCs"),
    Touchpoint("desktop.lib.exceptions_renderable", "PopupException", callable_as("message"),
               "says why no server is available"),
    # The editor (notebook_api), when Hue loads its notebook app.
    Touchpoint(*EDITOR_API, editor_api, "wraps the editor's calls", app="notebook"),
    Touchpoint("notebook.connectors.base", "QueryError", callable_as("message"), "tells the editor a call failed",
               app="notebook"),
    Touchpoint("notebook.connectors.base", "QueryExpired", callable_as("message"),
               "tells the editor a query was lost with its server", app="notebook"),
    # Hue's settings hive-ha reads (hue_config).
    *(Touchpoint("beeswax.conf", key.upper(), a_config(), f"reads [beeswax] {key}") for key in _keys("beeswax")),
    *(Touchpoint("libzookeeper.conf", key.upper(), a_config(), f"reads [libzookeeper] {key}")
      for key in _keys("libzookeeper")),
    *(Touchpoint("beeswax.conf", name, a_config(), "copies it into its query-server dicts")
      for name in ("AUTH_USERNAME", "AUTH_PASSWORD", "USE_SASL", "CLOSE_SESSIONS", "MAX_NUMBER_OF_SESSIONS")),
    Touchpoint("beeswax.conf", "has_session_pool", callable_as(), "copies it into its query-server dicts"),
    Touchpoint("beeswax.conf", "THRIFT_VERSION", a_config(int), "probes with Hue's protocol version"),
    *(Touchpoint("beeswax.hive_site", name, callable_as(), "reads hive-site.xml as Hue does")
      for name in ("get_conf", "hiveserver2_transport_mode", "hiveserver2_use_ssl", "hiveserver2_thrift_http_path")),
    Touchpoint("beeswax.hive_site", "_CNF_HIVESERVER2_KERBEROS_PRINCIPAL", instance_of(str, "a str"),
               "reads HiveServer2's principal from hive-site.xml"),
    Touchpoint("beeswax.common", "is_compute", callable_as("connector"), "leaves computes to Hue"),
    Touchpoint("desktop.conf", "has_connectors", callable_as(), "leaves connectors to Hue"),
    *(Touchpoint("desktop.conf", f"KERBEROS.{name}", a_config(), "uses Hue's own Kerberos login")
      for name in ("HUE_KEYTAB", "HUE_PRINCIPAL", "CCACHE_PATH")),
    # Where hive-ha's page lives, and its loggers kept on (targets).
    Touchpoint(*LOG_SETUP, a_callable, "re-enables its loggers after Hue's log set-up"),
    Touchpoint(ROOT_URLCONF, "urlpatterns", instance_of(list, "a list"), "mounts its status page in Hue's URLs"),
)


def check(installed_apps: Optional[Sequence[str]] = None, touchpoints: Sequence[Touchpoint] = TOUCHPOINTS
          ) -> List[str]:
    """Each mismatch, one line naming the touchpoint, what changed, what hive-ha does with it and the Hue version;
    empty when Hue is as hive-ha needs it. ``installed_apps``: Hue's (touchpoints of apps it does not load are
    skipped)."""
    found: List[str] = []
    if installed_apps is not None and "beeswax" not in installed_apps:
        found.append("Hue's beeswax app is not loaded: there is no HiveServer2 discovery to replace")
    modules: Dict[str, Any] = {}
    skipped = set()
    for touchpoint in touchpoints:
        if touchpoint.app is not None and installed_apps is not None and touchpoint.app not in installed_apps:
            skipped.add(touchpoint.app)
            continue
        found += _check(touchpoint, modules)
    for app in sorted(skipped):
        log.info("hive-ha: Hue's %s app is not loaded; what hive-ha does in it is left out", app)
    version = hue_version()
    return [f"{problem} [Hue {version}]" for problem in found]


def _check(touchpoint: Touchpoint, modules: Dict[str, Any]) -> List[str]:
    module_name = touchpoint.module
    if module_name == ROOT_URLCONF:
        from django.conf import settings

        module_name = settings.ROOT_URLCONF
    if module_name not in modules:
        try:
            modules[module_name] = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - ImportError, or an app's models imported without the app
            modules[module_name] = None
            return [f"{module_name} cannot be imported ({type(exc).__name__}: {exc})"]
    module = modules[module_name]
    if module is None:
        return []  # said once, for its first touchpoint
    where = touchpoint.where(module_name)
    value: Any = module
    try:
        for part in touchpoint.path.split("."):
            value = getattr(value, part)
    except Exception:  # noqa: BLE001 - AttributeError, or a settings container's KeyError
        return [f"{where} is missing (hive-ha {touchpoint.use})"]
    try:
        problems = touchpoint.expect(value, where)
    except Exception as exc:  # noqa: BLE001 - whatever Hue's object did, it is not what hive-ha knows
        problems = [f"{where} could not be checked ({type(exc).__name__}: {exc})"]
    return [f"{problem} (hive-ha {touchpoint.use})" for problem in problems]


def hue_version() -> str:
    try:
        from django.conf import settings

        return str(getattr(settings, "HUE_DESKTOP_VERSION", "unknown"))
    except Exception:  # noqa: BLE001 - only used in messages
        return "unknown"
