"""Hue's per-process client cache (``dbms.DBMS_CACHE[user.id][key]``) keyed by the exact server, and Hue's Thrift
connection pool: what a failover drops from them.

Hue keys a user's clients by ``server_name`` alone ('beeswax' for Hive and LLAP), so a changed server is never
noticed; hive-ha's key is a ``ClientSlot``: the service and the server. Only dictionary work happens under Hue's
``DBMS_CACHE_LOCK``; sockets are closed after it is released.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Hashable, List, Tuple

from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.server.dbms import HiveServer2Dbms
    from desktop.lib.thrift_util import ConnectionPooler, LifoQueue, SuperClient
    from django.contrib.auth.models import User

    from hue_integration.hue_types import DbmsModule
    from hue_integration.query_server import QueryServer


#: Where a server's host and port sit in the key of its pool in Hue's ``pooldict``: ``(client class, host, port,
#: coordinator host)``, made by ``thrift_util._get_pool_key`` (checked at start-up by ``touchpoints``: another layout
#: would silently match no pool).
POOL_KEY_HOST, POOL_KEY_PORT = 1, 2


def pool_address(key: Tuple[Hashable, ...]) -> Tuple[Hashable, Hashable]:
    return key[POOL_KEY_HOST], key[POOL_KEY_PORT]


@dataclasses.dataclass(frozen=True)
class ClientSlot:
    """Where one of a user's clients lives in ``DBMS_CACHE[user.id]``."""

    server_name: str  # Hue's key, kept so the slot reads like Hue's
    service: Service
    host: str
    port: int
    transport_mode: str

    @classmethod
    def of(cls, query_server: QueryServer) -> ClientSlot:
        endpoint = query_server.endpoint
        return cls(query_server["server_name"], query_server.service, endpoint.host, endpoint.port,
                   query_server["transport_mode"])

    def serves(self, endpoint: Endpoint) -> bool:
        return (self.host, self.port) == (endpoint.host, endpoint.port)


def client_for(dbms: DbmsModule, user: User, query_server: QueryServer,
               new_client: Callable[[QueryServer, User], HiveServer2Dbms]) -> HiveServer2Dbms:
    """The user's client for exactly this server (built once, by ``new_client``)."""
    slot = ClientSlot.of(query_server)
    with dbms.DBMS_CACHE_LOCK:
        clients = dbms.DBMS_CACHE.setdefault(user.id, {})
        client = clients.get(slot)
        if client is None:
            client = clients[slot] = new_client(query_server, user)
        return client


def evict(dbms: DbmsModule, endpoint: Endpoint) -> int:
    """Drop every user's clients for ``endpoint``; returns how many."""
    dropped = 0
    with dbms.DBMS_CACHE_LOCK:
        for clients in dbms.DBMS_CACHE.values():
            for slot in [s for s in clients if isinstance(s, ClientSlot) and s.serves(endpoint)]:
                del clients[slot]
                dropped += 1
    return dropped


def close_idle_connections(endpoint: Endpoint) -> int:
    """Close the pooled Thrift connections to ``endpoint`` that nobody holds (Hue never evicts them: a dead server's
    pool would hand out dead sockets). The pools stay: a client borrowed right now is returned to its pool, and a
    closed transport reopens on its next use."""
    from desktop.lib import thrift_util

    pooler: ConnectionPooler = thrift_util._connection_pool
    with pooler.dictlock:
        pools: List[LifoQueue] = [q for key, q in pooler.pooldict.items()
                                  if pool_address(key) == (endpoint.host, endpoint.port)]
    idle: List[SuperClient] = []
    for pool in pools:
        with pool.mutex:
            idle.extend(pool.queue)
    closed = 0
    for superclient in idle:
        if superclient.transport.isOpen():
            superclient.transport.close()
            closed += 1
    return closed
