"""An ``Endpoint`` as Hue's query-server dict: the keys and value types of Hue 4.11's ``get_query_server_config`` for
Hive, LLAP and hplsql. Pure: the Hue settings it is made of are read once, by ``hue_config.query_server_settings``.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from hive_ha.model.addressing import resolve_principal
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import Service
from hive_ha.model.values import format_hostport
from hue_integration.hue_types import QueryServerConfig

if TYPE_CHECKING:  # pragma: no cover
    from hue_integration.hue_types import Connector


@dataclasses.dataclass(frozen=True)
class QueryServerSettings:
    """Hue's settings a query-server dict is made of (``[beeswax]``, hive-site.xml), and Hue's rule for which lookups
    are a connector's (``[desktop]``)."""

    auth_username: Optional[str] = None
    auth_password: Optional[str] = dataclasses.field(default=None, repr=False)
    use_sasl: bool = True
    close_sessions: bool = False
    has_session_pool: bool = False
    max_number_of_sessions: int = -1
    #: hive-site.xml's ``hive.server2.authentication.kerberos.principal`` (``hive/_HOST@REALM``), for servers that
    #: published none; ``principal_for`` resolves it for the host dialled.
    hive_site_principal: Optional[str] = None
    transport_mode: str = "socket"
    use_ssl: bool = False
    http_path: str = "cliservice"
    has_connectors: bool = False
    is_compute: Callable[[Optional[Connector]], bool] = dataclasses.field(default=lambda connector: False,
                                                                          compare=False)

    def principal_for(self, host: str) -> Optional[str]:
        """HiveServer2's principal on ``host``, the host Hue dials: ``_HOST`` becomes that host, lower-cased, which is
        what a GSSAPI client asks the KDC for. (Hue's own rule looks the host up in reverse DNS and turns
        ``localhost`` into this machine's name: another host than the one dialled.)"""
        return resolve_principal(self.hive_site_principal, host)


class QueryServer(QueryServerConfig):
    """Hue's plain dict, plus where it came from (so ``dbms.get`` can tell ours from Hue's)."""

    service: Service
    endpoint: Endpoint
    name: str
    user: Optional[str] = None

    def for_caller(self, user: Optional[str]) -> "QueryServer":
        """A copy to hand out: Hue's callers may change the dict they get (``dbms.get`` sets auth_username)."""
        copy = QueryServer(self)
        copy.service, copy.endpoint, copy.name, copy.user = self.service, self.endpoint, self.name, user
        return copy

    def __reduce__(self) -> Tuple[type, Tuple[QueryServerConfig]]:  # pickles (Django cache, sessions) as Hue's dict
        return (dict, (dict(self),))


def build(name: str, endpoint: Endpoint, service: Service, hue: QueryServerSettings) -> QueryServer:
    """What the server published wins; Hue's settings fill in what it did not publish."""
    if not endpoint.address_only:
        transport = "http" if endpoint.transport_mode == "http" else "socket"
        use_ssl, http_path = endpoint.use_ssl, endpoint.http_path
        use_sasl = bool(hue.use_sasl) and endpoint.authentication != "NOSASL"
    else:
        transport, use_ssl, http_path = hue.transport_mode, hue.use_ssl, hue.http_path
        use_sasl = bool(hue.use_sasl)
    server_name = "hplsql" if name == "hplsql" else "beeswax"
    query_server = QueryServer(
        server_name=server_name,
        server_host=endpoint.host,
        server_port=endpoint.port,
        principal=endpoint.principal or hue.principal_for(endpoint.host),
        http_url="%s://%s/%s" % ("https" if use_ssl else "http",
                                 format_hostport(endpoint.host, endpoint.http_port or endpoint.port),
                                 (http_path or "cliservice").lstrip("/")),
        transport_mode=transport,
        auth_username=hue.auth_username,
        auth_password=hue.auth_password,
        use_sasl=use_sasl,
        close_sessions=hue.close_sessions,
        has_session_pool=hue.has_session_pool,
        max_number_of_sessions=hue.max_number_of_sessions,
        dialect=server_name,
    )
    query_server.service, query_server.endpoint, query_server.name = service, endpoint, name
    return query_server
