"""Where backend lists come from: flags, a file, or ZooKeeper discovery. Everything is validated here."""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

from ..discovery import Discovery
from ..errors import ConfigError, NoEndpointAvailable
from ..layouts import Service
from ..zkclient import ClientPool, ZkSettings
from . import validate

HostPort = Tuple[str, int]


def from_flags(key: str, values: Iterable[str], default_port: Optional[int] = None) -> Tuple[HostPort, ...]:
    return tuple(validate.hostport(key, value, default_port) for value in values)


def from_file(path: str, default_port: Optional[int] = None) -> Tuple[HostPort, ...]:
    """One ``HOST:PORT`` per line; ``#`` comments and blank lines skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--servers-file", path, f"a readable UTF-8 file ({exc.__class__.__name__})") from None
    return validate.backend_lines(path, lines, default_port)


def from_zookeeper(hosts: str, layout: str, namespace: Optional[str], timeout: float = 10.0
                   ) -> Tuple[Tuple[HostPort, ...], Tuple[HostPort, ...]]:
    """``(binary, http)`` addresses of the registered servers (only the active one under HA layouts)."""
    service = Service.of(layout, namespace)
    pool = ClientPool()  # a private pool: this one-shot read must not keep a process-wide session open
    discovery = Discovery(ZkSettings(hosts=hosts, connect_timeout=timeout), debounce=0, pool=pool)
    try:
        snapshot = discovery.endpoints(service, timeout=timeout)
    finally:
        discovery.close()
        pool.close_all()
    binary: List[HostPort] = []
    http: List[HostPort] = []
    for endpoint in snapshot.candidates:
        host = validate.host(f"ZooKeeper {endpoint.znode} host", endpoint.host)
        if endpoint.transport_mode in ("binary", "all"):
            binary.append((host, validate.port(f"ZooKeeper {endpoint.znode} port", endpoint.port)))
        if endpoint.transport_mode in ("http", "all") and (endpoint.http_port or endpoint.transport_mode == "http"):
            http.append((host, validate.port(f"ZooKeeper {endpoint.znode} http port", endpoint.http_port or endpoint.port)))
    if not binary and not http:
        raise NoEndpointAvailable(hosts, snapshot.path, snapshot.endpoints, {}, "nothing to put behind the load balancer")
    return tuple(binary), tuple(http)
