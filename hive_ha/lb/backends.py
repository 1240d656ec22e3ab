"""Where backend lists come from: flags, a file, or ZooKeeper discovery. Everything is validated here."""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional, Tuple

from ..discovery import Discovery
from ..errors import ConfigError, NoEndpointAvailable
from ..layouts import Service
from ..snapshot import Snapshot
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
    binary, http = addresses(snapshot)
    if not binary and not http:
        raise NoEndpointAvailable(hosts, snapshot.path, snapshot.endpoints, {}, "nothing to put behind the load balancer")
    return tuple(binary), tuple(http)


def addresses(snapshot: Snapshot, on_bad: Optional[Callable[[ConfigError], None]] = None
              ) -> Tuple[Tuple[HostPort, ...], Tuple[HostPort, ...]]:
    """``(binary, http)`` addresses of a snapshot's candidates (only the active one under HA layouts), validated.

    A registration with a value no load-balancer config may carry raises ConfigError naming it, or, when ``on_bad``
    is given, is reported there and left out (a monitor keeps serving the others)."""
    binary: List[HostPort] = []
    http: List[HostPort] = []
    for endpoint in snapshot.candidates:
        try:
            host = validate.host(f"ZooKeeper {endpoint.znode} host", endpoint.host)
            found_binary = found_http = None
            if endpoint.transport_mode in ("binary", "all"):
                found_binary = (host, validate.port(f"ZooKeeper {endpoint.znode} port", endpoint.port))
            if endpoint.transport_mode in ("http", "all") and (endpoint.http_port or endpoint.transport_mode == "http"):
                found_http = (host, validate.port(f"ZooKeeper {endpoint.znode} http port",
                                                  endpoint.http_port or endpoint.port))
        except ConfigError as exc:
            if on_bad is None:
                raise
            on_bad(exc)
            continue
        if found_binary and found_binary not in binary:
            binary.append(found_binary)
        if found_http and found_http not in http:
            http.append(found_http)
    return tuple(binary), tuple(http)
