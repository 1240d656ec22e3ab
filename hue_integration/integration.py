"""hive-ha's versions of Hue's ``get_query_server_config``, ``dbms.get`` and ``reset_ha``, and the reset that runs
when a HiveServer2 fails.

Lock order (outermost first): Hue's ``DBMS_CACHE_LOCK`` -> the endpoint cache's lock. Only dictionary work is done
under ``DBMS_CACHE_LOCK``; closing sockets happens after it is released, and Session rows are updated by the
invalidator (``invalidation.py``), off the request.
"""
from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from hive_ha.core.config import HiveHAConfig
from hive_ha.core.discovery import Discovery
from hive_ha.errors import DiscoveryError
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hue_integration import client_slots, invalidation, probes, query_server as qs
from hue_integration.thrift_calls import CURRENT, Failure, ObservedClient

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.server.dbms import HiveServer2Dbms
    from django.contrib.auth.models import User

    from hue_integration.hue_types import Connector, DbmsModule, QueryServerConfig

log = logging.getLogger(__name__)

HIVE_NAMES = ("beeswax", "hive", "hplsql")
#: Seconds ``close()`` waits for the session invalidation under way.
CLOSE_TIMEOUT = 5.0

#: The user a lookup is for (per_user policy): set by the editor wrapper around each call.
CURRENT_USER: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("hive_ha_user", default=None)
#: The server an operation lives on, per service, while one of its handle calls runs (set by the editor wrapper).
PINNED: contextvars.ContextVar[Optional[Tuple[Service, str]]] = contextvars.ContextVar("hive_ha_pinned", default=None)


class ServerGone(Exception):
    """The server an operation handle lives on is known dead or no longer serves (raised by the lookup)."""

    def __init__(self, service: Service, address: str) -> None:
        super().__init__(address)
        self.service, self.address = service, address


@dataclasses.dataclass(frozen=True)
class HueOriginals:
    get_query_server_config: Callable[..., QueryServerConfig]
    get: Callable[..., HiveServer2Dbms]
    reset_ha: Callable[[], None]


class Integration:
    """One installed hive-ha: the discovery, Hue's settings read once, and the replacements Hue calls."""

    def __init__(self, config: HiveHAConfig, originals: HueOriginals, discovery: Optional[Discovery] = None) -> None:
        from beeswax.server import dbms

        self.config = config
        self.discovery = discovery or Discovery(config.zookeeper, **config.discovery_kwargs())
        self.dbms: DbmsModule = dbms
        self.originals = originals
        # Hue's settings are fixed for the life of a process (hue.ini is read at start-up, hive-site.xml once):
        # read them once, so a lookup is a dictionary read.
        self.hue = qs.HueSettings.read()
        self._built: Dict[Tuple[str, str], qs.QueryServer] = {}
        self._lookups: Dict[str, int] = {}
        self._lookups_lock = threading.Lock()
        self.prober = probes.Prober(self._probe_failed)
        self.invalidator = invalidation.Invalidator()

    # -- Hue's get_query_server_config -----------------------------------------------------------------
    def service_for(self, name: str) -> Optional[Service]:
        if name in HIVE_NAMES and self.config.discover_hive:
            return self.config.hive_service
        if name == "llap" and self.config.discover_llap:
            return self.config.llap_service
        return None

    def get_query_server_config(self, name: str = "beeswax",
                                connector: Optional[Connector] = None) -> QueryServerConfig:
        # Hue's own rule: a connector dict means "connector" only with the connectors feature or a compute.
        # Hue's editor passes its interpreter dict on every call, connectors on or off.
        if connector and (self.hue.has_connectors or self.hue.is_compute(connector)):
            return self.originals.get_query_server_config(name=name, connector=connector)
        service = self.service_for(name)
        if service is None:  # impala, hms, sparksql, or discovery off for this one
            return self.originals.get_query_server_config(name=name, connector=connector)
        return self.lookup(name, service, CURRENT_USER.get())

    def lookup(self, name: str, service: Service, user: Optional[str]) -> qs.QueryServer:
        counted = str(service)
        with self._lookups_lock:
            self._lookups[counted] = self._lookups.get(counted, 0) + 1
        pinned = PINNED.get()
        if pinned is not None and pinned[0] == service:
            built = self._pinned(name, service, pinned[1])
        else:
            try:
                endpoint = self.discovery.endpoint(service, user)
            except DiscoveryError as exc:
                raise _popup(str(exc)) from exc
            built = self._query_server(name, service, endpoint)
        return built.for_caller(user)

    def _query_server(self, name: str, service: Service, endpoint: Endpoint) -> qs.QueryServer:
        """The dict for ``endpoint``, built once per endpoint (a new snapshot brings new Endpoint objects)."""
        built = self._built.get((name, endpoint.address))
        if built is None or built.endpoint is not endpoint:
            built = self._built[(name, endpoint.address)] = qs.build(name, endpoint, service, self.hue)
        return built

    def _pinned(self, name: str, service: Service, address: str) -> qs.QueryServer:
        """Where a running operation's calls go: its own server while that server is usable; also when it left the
        registry without failing (a rolling restart deregisters a live server first: its queries go on)."""
        endpoint = self.discovery.cache.available(service, address)
        if endpoint is not None:
            return self._query_server(name, service, endpoint)
        snapshot = self.discovery.cache.snapshot(service)
        registered = snapshot is not None and any(e.address == address for e in snapshot.endpoints)
        known = self._built.get((name, address))
        if registered or known is None:  # excluded after a failure, or passive under HA: it no longer serves
            raise ServerGone(service, address)
        return known

    def lookups(self) -> Dict[str, int]:
        """Query-server lookups answered since install, per service (for the metrics)."""
        with self._lookups_lock:
            return dict(self._lookups)

    def services(self) -> List[Service]:
        return [s for s in (self.service_for("beeswax"), self.service_for("llap")) if s is not None]

    # -- Hue's dbms.get ---------------------------------------------------------------------------------
    def get(self, user: User, query_server: Optional[QueryServerConfig] = None,
            cluster: Optional[Connector] = None) -> HiveServer2Dbms:
        if query_server is None:
            query_server = self.dbms.get_query_server_config(connector=cluster)
        if not isinstance(query_server, qs.QueryServer):
            return self.originals.get(user, query_server=query_server, cluster=cluster)
        if self.discovery.cache.policy.per_user and query_server.user != user.username and PINNED.get() is None:
            query_server = self.lookup(query_server.name, query_server.service, user.username)
        if not query_server.get("auth_username") and user and user.username:  # as Hue's dbms.get does
            query_server["auth_username"] = user.username
        return client_slots.client_for(self.dbms, user, query_server, self._new_dbms)

    def _new_dbms(self, query_server: qs.QueryServer, user: User) -> HiveServer2Dbms:
        # The same construction as Hue's dbms.get for HiveServer2, with the Thrift client observed.
        from beeswax.models import QueryHistory
        from beeswax.server.dbms import HiveServer2Dbms
        from beeswax.server.hive_server2_lib import HiveServerClient, HiveServerClientCompatible

        client = HiveServerClient(query_server, user)
        client._client = ObservedClient(client._client, query_server.service, query_server.endpoint, self.on_failure)
        return HiveServer2Dbms(HiveServerClientCompatible(client), QueryHistory.SERVER_TYPE[1][0])

    # -- failures -----------------------------------------------------------------------------------------
    def on_failure(self, failure: Failure) -> None:
        """What hive-ha's Thrift clients call on a connection-level failure: the reset."""
        self.report_failure(failure.service, failure.endpoint)

    def report_failure(self, service: Service, endpoint: Endpoint, user: Optional[str] = None) -> Optional[Endpoint]:
        """Compare-and-swap in the cache; every user's clients and idle pooled connections to ``endpoint``
        dropped; its open Session rows handed to the invalidator (off this request's transaction, once per
        registration). Idempotent: a second report of one failure finds nothing."""
        chosen = self.discovery.report_failure(service, endpoint, user)
        clients = client_slots.evict(self.dbms, endpoint)
        connections = client_slots.close_idle_connections(endpoint)
        self.invalidator.submit(endpoint)
        if clients or connections:
            log.info("hive-ha reset server=%s clients_dropped=%d connections_closed=%d", endpoint.address, clients,
                     connections)
        return chosen

    def reset_ha(self) -> None:
        """Hue calls this after a connection failure without saying which server failed. Every failure of a
        client hive-ha built is already handled; for any other caller the current choices are probed in the
        background (a late call must not exclude the server that just took over, nor block the request)."""
        self.originals.reset_ha()
        record = CURRENT.get()
        if record is not None and record.failures:
            return
        user = CURRENT_USER.get()
        for service in self.services():
            try:
                endpoint = self.discovery.endpoint(service, user)
            except DiscoveryError:
                continue
            self.prober.submit(service, endpoint)

    def _probe_failed(self, service: Service, endpoint: Endpoint) -> None:
        self.report_failure(service, endpoint)

    def close(self) -> None:
        self.prober.close()
        self.invalidator.close(CLOSE_TIMEOUT)
        self.discovery.close()


def _popup(message: str) -> Exception:
    from desktop.lib.exceptions_renderable import PopupException

    return PopupException(message)
