"""Put hive-ha in place of Hue's discovery: ``beeswax.server.dbms`` and every module that bound
its functions by name. Idempotent; ``uninstall()`` restores exactly what was there (for tests).
"""
from __future__ import annotations

import contextvars
import importlib
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from hive_ha import check
from hive_ha.config import HiveHAConfig
from hive_ha.discovery import Discovery
from hive_ha.endpoint import Endpoint
from hive_ha.errors import DiscoveryError
from hive_ha.layouts import Service

from . import metrics, sessions
from . import query_server as qs
from .notebook_api import PINNED, NotebookApiWrapper, ServerGone
from .thrift_calls import CURRENT, Failure, ObservedClient, hook_delivery, unhook_delivery

log = logging.getLogger(__name__)

DBMS = "beeswax.server.dbms"
# Modules that did ``from beeswax.server.dbms import get_query_server_config`` (or reset_ha): rebinding
# the function in dbms alone would leave these on Hue's original (hue.md lists them).
GET_QUERY_SERVER_CONFIG_COPIES = (
    "notebook.connectors.hiveserver2", "notebook.connectors.hive_metastore", "beeswax.api", "beeswax.views",
    "beeswax.query_history", "metastore.views", "impala.models",
    "beeswax.management.commands.create_table_query_data",
)
RESET_HA_COPIES = ("beeswax.server.hive_server2_lib", "notebook.connectors.hiveserver2")
NOTEBOOK_API = ("notebook.connectors.hiveserver2", "HS2Api")
THRIFT_CLIENT_MODULE = "beeswax.server.hive_server2_lib"  # its ``TCLIService.Client`` is what Hue talks through
HIVE_NAMES = ("beeswax", "hive", "hplsql")

#: The user a lookup is for (per_user policy); set around calls that know it.
CURRENT_USER: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("hive_ha_user", default=None)


class Integration:
    """hive-ha's versions of Hue's ``get_query_server_config``, ``get`` and ``reset_ha``."""

    def __init__(self, config: HiveHAConfig, discovery: Optional[Discovery] = None) -> None:
        self.config = config
        self.discovery = discovery or Discovery(config.zookeeper, **config.discovery_kwargs())
        self.dbms = importlib.import_module(DBMS)
        self.original_get_query_server_config = self.dbms.get_query_server_config
        self.original_get = self.dbms.get
        self.original_reset_ha = self.dbms.reset_ha
        self._lookups: Dict[str, int] = {}
        self._lookups_lock = threading.Lock()

    # -- the replacements ---------------------------------------------------------------------------
    def service_for(self, name: str) -> Optional[Service]:
        if name in HIVE_NAMES and self.config.discover_hive:
            return self.config.hive_service
        if name == "llap" and self.config.discover_llap:
            return self.config.llap_service
        return None

    def get_query_server_config(self, name: str = "beeswax", connector: Any = None) -> Dict[str, Any]:
        service = None if connector else self.service_for(name)
        if service is None:  # impala, hms, sparksql, connectors, or discovery off for this one
            return self.original_get_query_server_config(name=name, connector=connector)
        return self.lookup(name, service, CURRENT_USER.get())

    def lookups(self) -> Dict[str, int]:
        """Query-server lookups answered since install, per service (for the metrics)."""
        with self._lookups_lock:
            return dict(self._lookups)

    def lookup(self, name: str, service: Service, user: Optional[str]) -> qs.QueryServer:
        with self._lookups_lock:
            self._lookups[str(service)] = self._lookups.get(str(service), 0) + 1
        pinned = PINNED.get()
        if pinned is not None and pinned[0] == service:  # an operation handle goes back to its own server
            endpoint = self.discovery.cache.available(service, pinned[1])
            if endpoint is None:
                raise ServerGone(service, pinned[1])
        else:
            try:
                endpoint = self.discovery.endpoint(service, user)
            except DiscoveryError as exc:
                raise _popup(str(exc)) from exc
        return qs.build(name, endpoint, service, self.hue_values(endpoint))

    def get(self, user: Any, query_server: Optional[Dict[str, Any]] = None, cluster: Any = None) -> Any:
        if query_server is None:
            query_server = self.dbms.get_query_server_config(connector=cluster)
        if not isinstance(query_server, qs.QueryServer):
            return self.original_get(user, query_server=query_server, cluster=cluster)
        if self.discovery.cache.policy.per_user:
            query_server = self.lookup(query_server.name, query_server.service, user.username)
        key = qs.slot(query_server)
        prefix = key.rsplit("|", 2)[0] + "|"
        with self.dbms.DBMS_CACHE_LOCK:
            clients = self.dbms.DBMS_CACHE.setdefault(user.id, {})
            db = clients.get(key)
            if db is None:
                for stale in [k for k in clients if isinstance(k, str) and k.startswith(prefix)]:
                    del clients[stale]  # this user's client for a server no longer chosen
                db = clients[key] = self._new_dbms(query_server, user)
            return db

    def reset_ha(self) -> None:
        """Hue calls this after a connection failure without saying which server failed. A failure
        hive-ha's own clients saw is already handled; otherwise the current choice of each service is
        reported only if it does not accept connections (so a late call cannot exclude the server
        that just took over)."""
        self.original_reset_ha()
        record = CURRENT.get()
        if record is not None and record.failures:
            return
        user = CURRENT_USER.get()
        for service in self.services():
            try:
                endpoint = self.discovery.endpoint(service, user)
            except DiscoveryError:
                continue
            if check.probe_tcp(endpoint, timeout=2.0).status != check.OK:
                self.report_failure(service, endpoint, user)

    def on_failure(self, failure: Failure) -> None:
        """What hive-ha's Thrift clients call on a connection-level failure: the reset, once."""
        if self.discovery.cache.available(failure.service, failure.endpoint.address) is None:
            return  # already excluded: somebody did the reset
        self.report_failure(failure.service, failure.endpoint)

    def report_failure(self, service: Service, endpoint: Endpoint, user: Optional[str] = None) -> Optional[Endpoint]:
        """Under Hue's DBMS_CACHE_LOCK: compare-and-swap in the cache, every user's clients and idle
        connections to ``endpoint`` dropped, its open Session rows invalidated."""
        with self.dbms.DBMS_CACHE_LOCK:
            chosen = self.discovery.report_failure(service, endpoint, user)
            clients = self._evict_locked(endpoint)
            connections = _close_idle_connections(endpoint)
            invalid = sessions.invalidate(endpoint)
        log.info("hive-ha reset server=%s clients_dropped=%d connections_closed=%d sessions_invalidated=%d",
                 endpoint.address, clients, connections, invalid)
        return chosen

    def evict(self, endpoint: Endpoint) -> int:
        """Drop every user's dbms client bound to ``endpoint``; returns how many."""
        with self.dbms.DBMS_CACHE_LOCK:
            return self._evict_locked(endpoint)

    def _evict_locked(self, endpoint: Endpoint) -> int:
        marker = f"|{endpoint.host}:{endpoint.port}|"
        dropped = 0
        for clients in self.dbms.DBMS_CACHE.values():
            for key in [k for k in clients if isinstance(k, str) and marker in k]:
                del clients[key]
                dropped += 1
        return dropped

    def services(self) -> List[Service]:
        return [s for s in (self.service_for("beeswax"), self.service_for("llap")) if s is not None]

    # -- Hue's own values ---------------------------------------------------------------------------
    @staticmethod
    def hue_values(endpoint: Endpoint) -> Dict[str, Any]:
        from beeswax import conf, hive_site

        return {
            "auth_username": conf.AUTH_USERNAME.get(),
            "auth_password": conf.AUTH_PASSWORD.get(),
            "use_sasl": conf.USE_SASL.get(),
            "close_sessions": conf.CLOSE_SESSIONS.get(),
            "has_session_pool": conf.has_session_pool(),
            "max_number_of_sessions": conf.MAX_NUMBER_OF_SESSIONS.get(),
            "principal": hive_site.get_hiveserver2_kerberos_principal(endpoint.host),
            "transport_mode": "http" if hive_site.hiveserver2_transport_mode() == "HTTP" else "socket",
            "use_ssl": hive_site.hiveserver2_use_ssl(),
            "http_path": hive_site.hiveserver2_thrift_http_path(),
        }

    def _new_dbms(self, query_server: qs.QueryServer, user: Any) -> Any:
        # The same construction as Hue's dbms.get for HiveServer2, with the Thrift client observed and
        # every session it opens marked with its server.
        from beeswax.models import QueryHistory
        from beeswax.server.dbms import HiveServer2Dbms
        from beeswax.server.hive_server2_lib import HiveServerClient, HiveServerClientCompatible

        client = HiveServerClient(query_server, user)
        client._client = ObservedClient(client._client, query_server.service, query_server.endpoint, self.on_failure)
        open_session = client.open_session

        def open_marked_session(user: Any) -> Any:
            session = open_session(user)
            sessions.mark(session, query_server.endpoint)
            return session

        client.open_session = open_marked_session
        return HiveServer2Dbms(HiveServerClientCompatible(client), QueryHistory.SERVER_TYPE[1][0])


def _close_idle_connections(endpoint: Endpoint) -> int:
    """Close the pooled Thrift connections to ``endpoint`` (Hue never evicts them). The pools stay:
    clients borrowed right now are returned to them, and a closed transport reopens on next use."""
    from desktop.lib import thrift_util

    closed = 0
    pooler = thrift_util._connection_pool
    with pooler.dictlock:
        pools = [q for key, q in pooler.pooldict.items() if (key[1], key[2]) == (endpoint.host, endpoint.port)]
    for pool in pools:
        with pool.mutex:
            idle = list(pool.queue)
        for superclient in idle:
            if superclient.transport.isOpen():
                superclient.transport.close()
                closed += 1
    return closed


def _popup(message: str) -> Exception:
    try:
        from desktop.lib.exceptions_renderable import PopupException
    except ImportError:  # pragma: no cover - outside Hue
        return RuntimeError(message)
    return PopupException(message)


# -- install / uninstall --------------------------------------------------------------------------------
_lock = threading.Lock()
_active: Optional[Integration] = None
_patches: List[Tuple[Any, str, Callable, Callable]] = []  # (module, attribute, original, replacement)
_notebook_api: Optional[NotebookApiWrapper] = None


def active() -> Optional[Integration]:
    return _active


def install(config: HiveHAConfig, discovery: Optional[Discovery] = None) -> Integration:
    """Install (idempotent for the same config); a different config replaces the installed one."""
    global _active
    with _lock:
        if _active is not None and _active.config == config:
            return _active
        if _active is not None:
            _uninstall_locked()
        integration = Integration(config, discovery)
        for name in GET_QUERY_SERVER_CONFIG_COPIES + RESET_HA_COPIES:
            _import(name)  # first, so that they bind Hue's originals, which are then replaced
        _patch(DBMS, "get_query_server_config", integration.get_query_server_config)
        _patch(DBMS, "get", integration.get)
        _patch(DBMS, "reset_ha", integration.reset_ha)
        for name in GET_QUERY_SERVER_CONFIG_COPIES:
            _patch(name, "get_query_server_config", integration.get_query_server_config,
                   expected=integration.original_get_query_server_config)
        for name in RESET_HA_COPIES:
            _patch(name, "reset_ha", integration.reset_ha, expected=integration.original_reset_ha)
        _wrap_notebook_api(integration)
        metrics.register(integration)
        _active = integration
        log.info("hive-ha installed: %s", ", ".join(str(s) for s in integration.services()) or "no service")
        return integration


def uninstall() -> None:
    """Restore Hue's functions everywhere they were replaced and stop watching."""
    with _lock:
        _uninstall_locked()


def _uninstall_locked() -> None:
    global _active, _notebook_api
    if _notebook_api is not None:
        _notebook_api.uninstall()
        _notebook_api = None
    unhook_delivery()
    metrics.unregister()
    while _patches:
        module, attribute, original, replacement = _patches.pop()
        if getattr(module, attribute, None) == replacement:  # someone patched over us: leave theirs
            setattr(module, attribute, original)
    if _active is not None:
        _active.discovery.close()
    _active = None


def _import(module_name: str) -> Optional[Any]:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        log.debug("hive-ha: %s not importable (app not installed); nothing to replace there", module_name)
        return None


def _patch(module_name: str, attribute: str, replacement: Callable, expected: Optional[Callable] = None) -> None:
    module = _import(module_name)
    if module is None:
        return
    original = getattr(module, attribute, None)
    if original is None or (expected is not None and original is not expected):
        log.warning("hive-ha: %s.%s is not Hue's original; left alone", module_name, attribute)
        return
    setattr(module, attribute, replacement)
    _patches.append((module, attribute, original, replacement))


def _wrap_notebook_api(integration: Integration) -> None:
    global _notebook_api
    try:
        api_class = getattr(importlib.import_module(NOTEBOOK_API[0]), NOTEBOOK_API[1])
        hook_delivery(importlib.import_module(THRIFT_CLIENT_MODULE).TCLIService.Client)
    except (ImportError, AttributeError):
        log.debug("hive-ha: the notebook app is not installed; no editor API to wrap")
        return
    _notebook_api = NotebookApiWrapper(integration)
    _notebook_api.install(api_class)


def install_if_enabled() -> Optional[Integration]:
    """What ``AppConfig.ready()`` runs: install only when hue.ini switches discovery on."""
    from . import hue_settings

    if not hue_settings.running_in_hue():
        return None
    config = hue_settings.load()
    if not (config.enabled and (config.discover_hive or config.discover_llap)):
        log.debug("hive-ha: discovery not switched on in hue.ini; Hue's own code stays in place")
        return None
    return install(config)
