"""Where backend lists come from: flags, a file, or ZooKeeper discovery. Everything is validated here."""
from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from hive_ha.core.discovery import Discovery
from hive_ha.errors import ConfigError, NoEndpointAvailable
from hive_ha.io.zookeeper import ClientPool, ZkSettings
from hive_ha.lb import validate
from hive_ha.model.layouts import Service
from hive_ha.model.snapshot import Snapshot
from hive_ha.model.values import TransportMode

HostPort = Tuple[str, int]
RESOLVE_TIMEOUT = 5.0  # seconds for one host-name lookup


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


def from_zookeeper(hosts: str, layout: str, namespace: Optional[str], timeout: float = 10.0, *,
                   on_bad: Optional[Callable[[ConfigError], None]] = None, resolve: bool = False
                   ) -> Tuple[Tuple[HostPort, ...], Tuple[HostPort, ...]]:
    """``(binary, http)`` addresses of the registered servers (only the active one under HA layouts); ``on_bad`` and
    ``resolve`` as in ``addresses``."""
    service = Service.of(layout, namespace)
    pool = ClientPool()  # a private pool: this one-shot read must not keep a process-wide session open
    discovery = Discovery(ZkSettings(hosts=hosts, connect_timeout=timeout), debounce=0, pool=pool)
    try:
        snapshot = discovery.snapshot(service, timeout=timeout)
    finally:
        discovery.close()
        pool.close_all()
    binary, http = addresses(snapshot, on_bad, resolve=resolve)
    if not binary and not http:
        raise NoEndpointAvailable(hosts, snapshot.path, snapshot.endpoints, {}, "nothing to put behind the load balancer")
    return tuple(binary), tuple(http)


def addresses(snapshot: Snapshot, on_bad: Optional[Callable[[ConfigError], None]] = None, *, resolve: bool = False,
              resolver: Optional[Callable[[Iterable[str]], Dict[str, str]]] = None
              ) -> Tuple[Tuple[HostPort, ...], Tuple[HostPort, ...]]:
    """``(binary, http)`` addresses of a snapshot's candidates (only the active one under HA layouts), validated.

    A registration with a value no load-balancer config may carry raises ConfigError naming it, or, when ``on_bad``
    is given, is reported there and left out (the rest is served). With ``resolve`` the same goes for a host this
    machine cannot resolve (``resolver``, default ``unresolvable``): haproxy and nginx refuse a whole config for one
    such name, so it would block every other server."""
    report = on_bad or _raise
    found: List[Tuple[str, Optional[HostPort], Optional[HostPort], str]] = []
    for endpoint in snapshot.candidates:
        try:
            host = validate.host(f"ZooKeeper {endpoint.znode} host", endpoint.host)
            found_binary = found_http = None
            mode = endpoint.transport_mode
            if mode in (TransportMode.BINARY, TransportMode.ALL):
                found_binary = (host, validate.port(f"ZooKeeper {endpoint.znode} port", endpoint.port))
            if mode in (TransportMode.HTTP, TransportMode.ALL) and (endpoint.http_port or mode == TransportMode.HTTP):
                found_http = (host, validate.port(f"ZooKeeper {endpoint.znode} http port",
                                                  endpoint.http_port or endpoint.port))
        except ConfigError as exc:
            report(exc)
            continue
        found.append((host, found_binary, found_http, endpoint.znode))
    names = {host for host, *_ in found if not _is_ip(host)}  # an address needs no lookup
    failed = (resolver or unresolvable)(names) if resolve and names else {}
    binary: List[HostPort] = []
    http: List[HostPort] = []
    for host, found_binary, found_http, znode in found:
        if host in failed:
            report(ConfigError(f"ZooKeeper {znode} host", host, f"a name this machine resolves ({failed[host]})"))
            continue
        if found_binary and found_binary not in binary:
            binary.append(found_binary)
        if found_http and found_http not in http:
            http.append(found_http)
    return tuple(binary), tuple(http)


def unresolvable(names: Iterable[str], timeout: float = RESOLVE_TIMEOUT) -> Dict[str, str]:
    """``name -> why`` for the host names this machine cannot resolve now. The lookups run in parallel (up to 8 at
    once) and get ``timeout`` seconds in all; one without an answer by then counts as unresolvable."""
    names = sorted(set(names))
    if not names:
        return {}
    pool = concurrent.futures.ThreadPoolExecutor(min(len(names), 8), thread_name_prefix="hive-ha-resolve")
    lookups = {pool.submit(socket.getaddrinfo, name, None, type=socket.SOCK_STREAM): name for name in names}
    done, _ = concurrent.futures.wait(lookups, timeout)
    pool.shutdown(wait=False)  # a lookup still hanging ends with the resolver's own timeout
    failed = {}
    for future, name in lookups.items():
        if future not in done:
            failed[name] = f"no answer within {timeout:g} s"
        elif future.exception() is not None:
            exc = future.exception()
            failed[name] = getattr(exc, "strerror", None) or str(exc)
    return failed


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _raise(exc: ConfigError) -> None:
    raise exc
