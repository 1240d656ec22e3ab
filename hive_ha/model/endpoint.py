"""The immutable ``Endpoint``: one HiveServer2 as it registered itself (validated by ``hive_ha.model.values``)."""
from __future__ import annotations

import dataclasses
from typing import Optional

from hive_ha.model.addressing import DEFAULT_HTTP_PATH, http_url
from hive_ha.model.values import format_hostport


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
    http_path: str = DEFAULT_HTTP_PATH
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
        return http_url(self.host, self.http_port or self.port, ssl=self.use_ssl, path=self.http_path)

    def describe(self) -> str:
        role = "" if self.active is None else (" active" if self.active else " passive")
        return f"{self.address} ({self.transport_mode}{role})"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
