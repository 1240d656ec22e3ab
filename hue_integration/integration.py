"""hive-ha's versions of Hue's ``get_query_server_config``, ``dbms.get`` and ``reset_ha``, and the reset that runs
once a HiveServer2 registration is dead.

Slow is not dead (``hive_ha.core.health``): a call that times out makes its server suspect, which only moves new
work elsewhere. The reset (every user's clients for the server dropped from Hue's client cache, the idle pooled
connections to it closed, its open Session rows invalidated) runs once per registration, when it is declared dead:
the discovery announces the transition once, to ``_on_transition``.

Lock order (outermost first): Hue's ``DBMS_CACHE_LOCK`` -> the endpoint cache's lock. Only dictionary work is done
under ``DBMS_CACHE_LOCK``; closing sockets happens after it is released, and Session rows are updated by the
invalidator (``invalidation.py``), off the request.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from hive_ha.core.cache import Transition
from hive_ha.core.config import HiveHAConfig
from hive_ha.core.discovery import Discovery
from hive_ha.core.health import State
from hive_ha.errors import DiscoveryError
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hue_integration import calls, client_slots, hue_config, invalidation, query_server as qs
from hue_integration.late_replies import LateReplies
from hue_integration.probe import HueProbe
from hue_integration.thrift_client import HAClient

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.server.dbms import HiveServer2Dbms
    from django.contrib.auth.models import User

    from hue_integration.hue_types import Connector, DbmsModule, QueryServerConfig

log = logging.getLogger(__name__)

HIVE_NAMES = ("beeswax", "hive", "hplsql")
#: Seconds ``close()`` waits for the session invalidation under way.
CLOSE_TIMEOUT = 5.0


class ServerGone(Exception):
    """The server an operation handle lives on is dead, or no longer serves it (raised by the lookup)."""

    def __init__(self, service: Service, address: str, why: str = "") -> None:
        super().__init__(address)
        self.service, self.address, self.why = service, address, why


@dataclasses.dataclass(frozen=True)
class HueOriginals:
    """Hue's functions hive-ha replaces, as Hue defined them (what hive-ha hands back to: Impala, connectors, ...)."""

    get_query_server_config: Callable[..., QueryServerConfig]
    get: Callable[..., HiveServer2Dbms]
    reset_ha: Callable[[], None]

    @classmethod
    def of(cls, dbms_module: str) -> HueOriginals:
        module = importlib.import_module(dbms_module)
        return cls(**{field.name: getattr(module, field.name) for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Pinned:
    """Where a handle call goes: the query-server dict of the operation's server, and that server's health."""

    query_server: qs.QueryServer
    state: State


class Integration:
    """One installed hive-ha: the discovery, Hue's settings read once, and the replacements Hue calls."""

    def __init__(self, config: HiveHAConfig, originals: HueOriginals, discovery: Optional[Discovery] = None) -> None:
        from beeswax.server import dbms

        self.config = config
        self.probe = HueProbe()
        self.discovery = discovery or Discovery(config.zookeeper, probe=self.probe, **config.discovery_kwargs())
        self.discovery.subscribe(self._on_transition)
        self.dbms: DbmsModule = dbms
        self.originals = originals
        self.query_server_settings = hue_config.query_server_settings()
        self._built: Dict[Tuple[str, str], qs.QueryServer] = {}
        self._lookups: Dict[str, int] = {}
        self._lookups_lock = threading.Lock()
        self.late = LateReplies(patience=config.dead_after)
        self.invalidator = invalidation.Invalidator()
        _INSTANCES.add(self)

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
        hue = self.query_server_settings
        if connector and (hue.has_connectors or hue.is_compute(connector)):
            return self.originals.get_query_server_config(name=name, connector=connector)
        service = self.service_for(name)
        if service is None:  # impala, hms, sparksql, or discovery off for this one
            return self.originals.get_query_server_config(name=name, connector=connector)
        return self.lookup(name, service, calls.current())

    def lookup(self, name: str, service: Service, call: Optional[calls.EditorCall]) -> qs.QueryServer:
        counted = str(service)
        with self._lookups_lock:
            self._lookups[counted] = self._lookups.get(counted, 0) + 1
        user = call.user if call is not None else None
        if call is not None and call.pin is not None and call.pin.service == service:
            built = self.pinned(name, call.pin).query_server
        else:
            try:
                endpoint = self.discovery.endpoint(service, user, skip=call.skip if call is not None else frozenset())
            except DiscoveryError as exc:
                raise _popup(str(exc)) from exc
            built = self._query_server(name, service, endpoint)
        return built.for_caller(user)

    def _query_server(self, name: str, service: Service, endpoint: Endpoint) -> qs.QueryServer:
        """The dict for ``endpoint``, built once per endpoint (a new snapshot brings new Endpoint objects)."""
        built = self._built.get((name, endpoint.address))
        if built is None or built.endpoint is not endpoint:
            built = qs.build(name, endpoint, service, self.query_server_settings)
            self._built[(name, endpoint.address)] = built
        return built

    def pinned(self, name: str, pin: calls.Pin) -> Pinned:
        """Where a running operation's calls go: its own server while that server is not dead, also while it is
        suspect (late is not lost) and when it left the registry without dying (a rolling restart deregisters a
        live server first: its queries go on). ``ServerGone`` when it is dead or no longer serves."""
        service, address = pin.service, pin.address
        serving = self.discovery.cache.serving(service, address, pin.znode)
        if serving is None:  # nothing known of that registration now
            known = self._built.get((name, address))
            if known is None or (pin.znode is not None and known.endpoint.znode != pin.znode):
                raise ServerGone(service, address, "it is not registered")
            return Pinned(known, State.UP)
        endpoint, health, registered = serving
        if health.state is State.DEAD:
            raise ServerGone(service, address, health.detail or str(health.evidence))
        if registered and endpoint not in self.discovery.cache.snapshot(service).candidates:  # type: ignore[union-attr]
            raise ServerGone(service, address, "it is passive now (another instance is the HA leader)")
        return Pinned(self._query_server(name, service, endpoint), health.state)

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
        call = calls.current()
        if self.discovery.cache.policy.per_user and query_server.user != user.username and \
                (call is None or call.pin is None):
            query_server = self.lookup(query_server.name, query_server.service,
                                       calls.EditorCall(user.username) if call is None else
                                       dataclasses.replace(call, user=user.username))
        if not query_server.get("auth_username") and user and user.username:  # as Hue's dbms.get does
            query_server["auth_username"] = user.username
        return client_slots.client_for(self.dbms, user, query_server, self._new_dbms)

    def _new_dbms(self, query_server: qs.QueryServer, user: User) -> HiveServer2Dbms:
        # The same construction as Hue's dbms.get for HiveServer2, with hive-ha's Thrift client (touchpoints).
        from beeswax.models import QueryHistory
        from beeswax.server.dbms import HiveServer2Dbms
        from beeswax.server.hive_server2_lib import HiveServerClient, HiveServerClientCompatible

        client = HiveServerClient(query_server, user)
        self.probe.remember(query_server.endpoint, client._client.conf)
        client._client = HAClient(client._client, query_server.service, query_server.endpoint, self.discovery,
                                  self.late)
        return HiveServer2Dbms(HiveServerClientCompatible(client), QueryHistory.SERVER_TYPE[1][0])

    # -- the reset, once per dead registration -------------------------------------------------------------
    def _on_transition(self, transition: Transition) -> None:
        """A registration is dead: every user's clients for it dropped, the idle pooled connections to it closed,
        its open Session rows handed to the invalidator (off any request's transaction, once per registration)."""
        if transition.after is not State.DEAD:
            return
        endpoint = transition.endpoint
        clients = client_slots.evict(self.dbms, endpoint)
        connections = client_slots.close_idle_connections(endpoint)
        self.invalidator.submit(endpoint, in_request=calls.current() is not None)
        log.info("hive-ha reset server=%s registration=%s clients_dropped=%d connections_closed=%d",
                 endpoint.address, endpoint.znode, clients, connections)

    def reset_ha(self) -> None:
        """Hue calls this after a connection failure without saying which server failed. A failure of a client
        hive-ha built is already evidence; for any other caller the current choices are probed off the request
        thread (a late call must not condemn the server that just took over, nor block the request)."""
        self.originals.reset_ha()
        call = calls.current()
        if call is not None and call.failures:
            return
        user = call.user if call is not None else None
        for service in self.services():
            try:
                endpoint = self.discovery.endpoint(service, user)
            except DiscoveryError:
                continue
            self.discovery.check(service, endpoint)

    def close(self) -> None:
        self.invalidator.close(CLOSE_TIMEOUT)
        self.discovery.close()

    def _after_fork_in_child(self) -> None:
        """A gunicorn worker is forked from Hue's master: a lock a thread of the master held at that moment would
        stay held in the child (the discovery and the invalidator have hooks of their own)."""
        self._lookups_lock = threading.Lock()
        self.probe.after_fork_in_child()
        self.late.after_fork_in_child()


def _popup(message: str) -> Exception:
    from desktop.lib.exceptions_renderable import PopupException

    return PopupException(message)


_INSTANCES: "weakref.WeakSet[Integration]" = weakref.WeakSet()


def _after_fork() -> None:
    for integration in list(_INSTANCES):
        integration._after_fork_in_child()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
