"""The immutable ``Endpoint`` and the strict host/port validation every input goes through."""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Optional

TRANSPORT_MODES = ("binary", "http", "all")
AUTHENTICATIONS = ("NONE", "NOSASL", "KERBEROS", "LDAP", "PAM", "CUSTOM", "SAML", "JWT")

# Patterns are used with fullmatch (a '$' anchor would let a trailing newline through).
#: A Kerberos principal: primary[/instance][@REALM] (``_HOST`` allowed as the instance; an instance may be an
#: IPv6 address, which is what ``_HOST`` becomes for a server registered by one).
PRINCIPAL_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}(/[A-Za-z0-9_.:-]{1,255})?(@[A-Za-z0-9_.-]{1,255})?")
#: The HTTP path of HiveServer2's Thrift-over-HTTP endpoint (``cliservice``), leading slash optional.
HTTP_PATH_RE = re.compile(r"/?[A-Za-z0-9._~/+-]{0,255}")

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def validate_host(host: object) -> str:
    """Return ``host`` if it is a DNS name or an IP address literal (no brackets), else raise ValueError."""
    if not isinstance(host, str) or not host:
        raise ValueError("host is empty")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if "%" in host:  # scoped IPv6 addresses cannot be written safely into URLs or configs
            raise ValueError(f"scoped IPv6 address {host!r} is not supported")
        return str(ip) if ip.version == 6 else host
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    if re.fullmatch(r"[0-9.]+", name):
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    return host


def validate_port(port: object) -> int:
    """Return ``port`` as an int in 1..65535; accepts ints and decimal strings, raises ValueError otherwise."""
    if isinstance(port, bool):
        raise ValueError(f"port {port!r} is not a number")
    if isinstance(port, str):
        if not port.isdigit() or not port.isascii() or len(port) > 5:
            raise ValueError(f"port {port!r} is not a number in 1-65535")
        port = int(port)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is not in 1-65535")
    return port


def format_hostport(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 literal."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_hostport(text: str) -> "tuple[str, int]":
    """Split ``host:port``, ``[v6]:port`` or an unbracketed ``v6:port``; validated, raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r} is not [host]:port")
        return validate_host(host), validate_port(rest[1:])
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} has no port")
    return validate_host(host), validate_port(port)


def resolve_principal(principal: Optional[str], host: str) -> Optional[str]:
    """Hadoop's ``_HOST`` rule (``SecurityUtil.getServerPrincipal``): an instance part that is exactly ``_HOST``
    becomes the endpoint's host, lower-cased; ``_HOST`` anywhere else is left alone."""
    if not principal:
        return None
    name, at, realm = principal.partition("@")
    primary, slash, instance = name.partition("/")
    if not slash or instance != "_HOST":
        return principal
    return f"{primary}/{host.lower()}{at}{realm}"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One HiveServer2 as it registered itself.

    ``port`` is the port to dial in ``transport_mode`` (the HTTP port in ``http`` mode, the binary
    port otherwise); ``http_port`` is known whenever the server published it. ``active`` is
    ``None`` outside Active/Passive HA. ``sequence`` orders registrations (lower is older).
    ``address_only`` is True for registrations that carry only an address (legacy ``host:port`` data, Hive's
    ``hive.server2.zookeeper.publish.configs=false``): their transport, SSL and authentication are the client's own
    settings.
    """

    host: str
    port: int
    znode: str
    transport_mode: str = "binary"
    http_port: Optional[int] = None
    http_path: str = "cliservice"
    use_ssl: bool = False
    authentication: str = "NONE"
    sasl_qop: Optional[str] = None
    principal: Optional[str] = None
    version: Optional[str] = None
    sequence: Optional[int] = None
    active: Optional[bool] = None
    address_only: bool = False

    @property
    def address(self) -> str:
        """``host:port``: where to dial (a server; ``key`` identifies one registration of it)."""
        return format_hostport(self.host, self.port)

    @property
    def key(self) -> "tuple[str, str]":
        """``(address, znode)``: one registration. Exclusions and failure reports compare it, so a report about a
        server's old registration (before it restarted) leaves its new one alone."""
        return (self.address, self.znode)

    @property
    def age_key(self) -> tuple:
        """Orders registrations oldest first (lowest sequence; unknown sequences last)."""
        return (self.sequence is None, self.sequence if self.sequence is not None else 0, self.znode)

    @property
    def http_url(self) -> str:
        scheme = "https" if self.use_ssl else "http"
        port = self.http_port or self.port
        return f"{scheme}://{format_hostport(self.host, port)}/{self.http_path.lstrip('/')}"

    def describe(self) -> str:
        role = "" if self.active is None else (" active" if self.active else " passive")
        return f"{self.address} ({self.transport_mode}{role})"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
