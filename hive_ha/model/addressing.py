"""How a HiveServer2 is addressed (pure): the URL of its Thrift-over-HTTP endpoint and the Kerberos principals a
client names, with each default stated once.

* ``http_url``: ``http[s]://host:port/<path>`` (``DEFAULT_HTTP_PATH`` when none is published or given);
* ``resolve_principal``: Hadoop's ``_HOST`` rule for a principal that names its host by the placeholder;
* ``host_principal``: the principal a client asks the KDC for when it dials a host with a service name (the same
  rule: ``service/<host, lower-cased>``);
* ``service_name``: the service part of a principal (``DEFAULT_KERBEROS_SERVICE`` without one).
"""
from __future__ import annotations

from typing import Optional, Tuple

from hive_ha.model.values import format_hostport

#: ``hive.server2.thrift.http.path``'s default: where HiveServer2 serves Thrift over HTTP.
DEFAULT_HTTP_PATH = "cliservice"
#: The service name of a HiveServer2 principal nobody named (``hive/<host>@REALM``).
DEFAULT_KERBEROS_SERVICE = "hive"
#: The instance part of a principal that stands for the server's own host name.
HOST_PLACEHOLDER = "_HOST"


def http_url(host: str, port: int, *, ssl: bool = False, path: str = DEFAULT_HTTP_PATH) -> str:
    """``http[s]://host:port/path`` (IPv6 literals in brackets; a leading ``/`` of ``path`` is dropped, anything
    else of it kept)."""
    return f"{'https' if ssl else 'http'}://{format_hostport(host, port)}/{path.lstrip('/')}"


def split_principal(principal: str) -> Tuple[str, str, str]:
    """``primary/instance@REALM`` -> ``(primary, instance, realm)``; absent parts are empty."""
    name, _, realm = principal.partition("@")
    primary, _, instance = name.partition("/")
    return primary, instance, realm


def host_principal(service: str, host: str) -> str:
    """``service/host`` with the host lower-cased: the principal of ``service`` on ``host`` as Kerberos names it
    (GSSAPI's host-based service names and Hadoop's ``_HOST`` substitution both lower-case the host)."""
    return f"{service}/{host.lower()}"


def resolve_principal(principal: Optional[str], host: str) -> Optional[str]:
    """Hadoop's ``_HOST`` rule (``SecurityUtil.getServerPrincipal``): an instance part that is exactly ``_HOST``
    becomes the endpoint's host, lower-cased; ``_HOST`` anywhere else is left alone."""
    if not principal:
        return None
    primary, instance, realm = split_principal(principal)
    if instance != HOST_PLACEHOLDER:
        return principal
    return host_principal(primary, host) + (f"@{realm}" if "@" in principal else "")


def service_name(principal: Optional[str], default: Optional[str] = DEFAULT_KERBEROS_SERVICE) -> Optional[str]:
    """``hive/host@REALM`` -> ``hive``; ``default`` when there is no principal (or it names no service)."""
    return (split_principal(principal)[0] if principal else "") or default
