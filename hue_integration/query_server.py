"""An ``Endpoint`` as Hue's query-server dict: same keys and value types as Hue 4.11's
``get_query_server_config`` for Hive, LLAP and hplsql. Pure: Hue's own values come in ``hue``.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from hive_ha.endpoint import Endpoint, format_hostport, resolve_principal
from hive_ha.layouts import Service


class QueryServer(dict):
    """Hue's plain dict, plus where it came from (so ``dbms.get`` can tell ours from Hue's)."""

    service: Service
    endpoint: Endpoint
    name: str

    def __reduce__(self):  # pickles (Django cache, sessions) as the plain dict Hue expects
        return (dict, (dict(self),))


def build(name: str, endpoint: Endpoint, service: Service, hue: Mapping[str, Any]) -> QueryServer:
    """What the server published wins; Hue's settings (``hue``: use_sasl, auth_username,
    auth_password, close_sessions, has_session_pool, max_number_of_sessions, principal,
    transport_mode, use_ssl, http_path) fill in what it did not publish."""
    if endpoint.published:
        transport = "http" if endpoint.transport_mode == "http" else "socket"
        use_ssl, http_path = endpoint.use_ssl, endpoint.http_path
        use_sasl = bool(hue.get("use_sasl")) and endpoint.authentication != "NOSASL"
    else:
        transport, use_ssl, http_path = hue["transport_mode"], bool(hue.get("use_ssl")), hue.get("http_path")
        use_sasl = bool(hue.get("use_sasl"))
    server_name = "hplsql" if name == "hplsql" else "beeswax"
    qs = QueryServer(
        server_name=server_name,
        server_host=endpoint.host,
        server_port=endpoint.port,
        principal=endpoint.principal or resolve_principal(hue.get("principal"), endpoint.host),
        http_url="%s://%s/%s" % ("https" if use_ssl else "http",
                                 format_hostport(endpoint.host, endpoint.http_port or endpoint.port),
                                 (http_path or "cliservice").lstrip("/")),
        transport_mode=transport,
        auth_username=hue.get("auth_username"),
        auth_password=hue.get("auth_password"),
        use_sasl=use_sasl,
        close_sessions=hue.get("close_sessions"),
        has_session_pool=hue.get("has_session_pool"),
        max_number_of_sessions=hue.get("max_number_of_sessions"),
        dialect=server_name,
    )
    qs.service, qs.endpoint, qs.name = service, endpoint, name
    return qs


def slot(query_server: Mapping[str, Any], name: Optional[str] = None) -> str:
    """Key of Hue's per-user client cache: the service and the exact server, so a changed endpoint
    gets a new client and Hive and LLAP (both server_name 'beeswax' in Hue) never share one."""
    service = getattr(query_server, "name", None) or name or query_server["server_name"]
    return "%s|%s|%s:%s|%s" % (query_server["server_name"], service, query_server["server_host"],
                               query_server["server_port"], query_server.get("transport_mode"))
