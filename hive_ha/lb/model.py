"""The typed load-balancer model every emitter renders: listeners (a frontend and its pool), TLS, stats, paths.

Values are validated when the model is built (``__post_init__``), so an emitter never sees an unsafe string. The model
is immutable; ``LoadBalancer.with_servers`` gives a copy with new pools, which is how a monitor re-renders after the
backend list changed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Dict, Mapping, Optional, Tuple

from hive_ha.errors import ConfigError
from hive_ha.lb import validate
from hive_ha.model.values import choice, format_hostport

MODES = ("http", "tcp")
#: The algorithm for new clients; ignored when stickiness is ``source`` (the hash decides).
BALANCES = ("leastconn", "roundrobin")
#: ``cookie``: the LB inserts a cookie naming the server (HAProxy SERVERID, httpd ROUTEID; nginx < 1.29.6 hashes the
#: application's own ``session_cookie`` instead). ``source``: client address hashed onto the pool (consistent).
STICKINESS = ("none", "cookie", "source")
TLS_MODES = ("none", "passthrough", "bridge", "offload")
LB_KINDS = ("haproxy", "nginx", "httpd")


#: The longest server name (also the sticky cookie value / route): httpd refuses a BalancerMember route of 64
#: characters or more.
MAX_SERVER_NAME = 63


def server_name(host: str, port: int) -> str:
    """A stable server name (and cookie/route value) from the address, so re-rendering keeps existing cookies valid.

    ``s_<host>_<port>``; any valid host fits: a longer one keeps its start and ends in a hash of the address
    (``s_hs2-node-0001.analytics-prod.eu-west-1.compu_10000_53116f1dc3``), so two long names never collide."""
    name = "s_" + re.sub(r"[^A-Za-z0-9.-]", "_", host) + "_" + str(port)
    if len(name) <= MAX_SERVER_NAME:
        return name
    tail = f"_{port}_{hashlib.sha256(f'{host}:{port}'.encode()).hexdigest()[:10]}"
    return name[: MAX_SERVER_NAME - len(tail)] + tail


@dataclasses.dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __post_init__(self) -> None:
        validate.host("address host", self.host)
        validate.port("address port", self.port)

    def __str__(self) -> str:
        return format_hostport(self.host, self.port)


@dataclasses.dataclass(frozen=True)
class Server:
    """One backend. ``name`` doubles as the sticky cookie value / httpd route."""

    host: str
    port: int
    name: str = ""

    def __post_init__(self) -> None:
        validate.host("server host", self.host)
        validate.port("server port", self.port)
        if not self.name:
            object.__setattr__(self, "name", server_name(self.host, self.port))
        validate.name(f"server name of {self.address}", self.name)
        if len(self.name) > MAX_SERVER_NAME:
            raise ConfigError(f"server name of {self.address}", self.name, f"at most {MAX_SERVER_NAME} characters "
                              "(httpd's route limit); leave it out to derive one from the address")

    @property
    def address(self) -> Address:
        return Address(self.host, self.port)


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """Active check: TCP connect, or ``GET http_path`` expecting ``expect_status`` when ``http_path`` is set."""

    http_path: Optional[str] = None
    expect_status: int = 200
    interval_s: float = 2.0
    fall: int = 3
    rise: int = 2

    def __post_init__(self) -> None:
        if self.http_path is not None:
            validate.uri_path("health check path", self.http_path)
        if not isinstance(self.expect_status, int) or not 100 <= self.expect_status <= 599:
            raise ConfigError("health check status", self.expect_status, "an HTTP status 100-599")
        validate.seconds("check interval", self.interval_s, 0.1)
        for key, value in (("check fall", self.fall), ("check rise", self.rise)):
            if not isinstance(value, int) or not 1 <= value <= 100:
                raise ConfigError(key, value, "a count 1-100")


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Seconds. ``client``/``server`` are idle timeouts (Impala/HS2 sessions need hours)."""

    connect: float = 5.0
    client: float = 300.0
    server: float = 300.0
    check: float = 5.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            validate.seconds(f"timeout {field.name}", getattr(self, field.name))


@dataclasses.dataclass(frozen=True)
class Tls:
    """How TLS is handled. ``cert``/``key``: what the LB presents (HAProxy wants cert chain + key in ``cert``);
    ``ca``: the CA that signed the backends' certificates (bridge, and passthrough health checks).
    ``verify_backend_name``: httpd's SSLProxyCheckPeerName/CN; off only on explicit request (a stop-gap).
    ``backend_name``: the one name nginx checks every backend certificate against (nginx cannot check per server)."""

    mode: str = "none"
    cert: Optional[str] = None
    key: Optional[str] = None
    ca: Optional[str] = None
    verify_backend_name: bool = True
    backend_name: Optional[str] = None

    def __post_init__(self) -> None:
        choice("--tls", self.mode, TLS_MODES, fold=None)
        if self.backend_name is not None:
            validate.host("--tls-backend-name", self.backend_name)
        for key in ("cert", "key", "ca"):
            value = getattr(self, key)
            if value is not None:
                validate.file_path(f"--tls-{key}", value)

    @property
    def terminates(self) -> bool:
        return self.mode in ("bridge", "offload")

    @property
    def to_backends(self) -> bool:
        """Whether the LB itself speaks TLS to the backends."""
        return self.mode == "bridge"


@dataclasses.dataclass(frozen=True)
class Stats:
    """A stats/status page. HAProxy protects it with basic auth (``user``/``password``, never defaults); nginx's
    ``stub_status`` and httpd's ``server-status``/``balancer-manager`` are loopback-only instead (``bind`` on a
    loopback address, and only loopback clients allowed), so they take no credentials. ``password`` is never in reprs."""

    bind: Address
    user: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    uri: str = "/stats"

    def __post_init__(self) -> None:
        if (self.user is None) != (self.password is None):
            raise ConfigError("--stats-user", self.user, "a user and a password together (or neither)")
        if self.user is not None:
            validate.word("--stats-user", self.user)
            validate.word("--stats-password", self.password, secret=True)
        validate.uri_path("stats uri", self.uri)

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    @property
    def loopback(self) -> bool:
        return validate.is_loopback(self.bind.host)


@dataclasses.dataclass(frozen=True)
class Listener:
    """A frontend (``bind``) and its pool. ``sticky_required`` marks ports Hue (or a Hue user) depends on: a pool
    there without stickiness breaks sessions and is refused unless ``force_unsticky``."""

    name: str
    mode: str
    bind: Address
    servers: Tuple[Server, ...]
    balance: str = "leastconn"
    stickiness: str = "none"
    cookie_name: str = "SERVERID"
    session_cookie: str = "sessionid"
    check: HealthCheck = HealthCheck()
    timeouts: Timeouts = Timeouts()
    retries: int = 3
    redispatch: bool = True
    forwarded_headers: bool = False
    sticky_required: bool = False
    force_unsticky: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        validate.name("listener name", self.name)
        choice(f"{self.name} mode", self.mode, MODES, fold=None)
        choice(f"{self.name} balance", self.balance, BALANCES, fold=None)
        choice(f"{self.name} stickiness", self.stickiness, STICKINESS, fold=None)
        validate.name("cookie name", self.cookie_name)
        validate.name("session cookie", self.session_cookie)
        object.__setattr__(self, "servers", tuple(self.servers))
        if not self.servers:
            raise ConfigError(f"{self.name} servers", "(none)", "at least one backend server")
        names = [s.name for s in self.servers]
        duplicate = next((s for s in self.servers if names.count(s.name) > 1), None)
        if duplicate:
            raise ConfigError(f"{self.name} servers", str(duplicate.address), "each backend once")
        if self.stickiness == "cookie" and self.mode != "http":
            raise ConfigError(f"{self.name} stickiness", "cookie", "source or none on a TCP port (cookies are HTTP)")
        if self.sticky_required and not self.force_unsticky and (self.stickiness == "none" or self.balance == "roundrobin"):
            raise ConfigError(
                f"{self.name} balance", self.balance,
                "a sticky setup on a Hue-facing port (round robin breaks Hue's sessions; force it explicitly "
                "if you really mean it)")


@dataclasses.dataclass(frozen=True)
class RuntimePaths:
    """Where the LB keeps its pid file, logs, sockets and modules. Defaults are Debian's."""

    runtime_dir: str = "/run/haproxy"
    log_dir: str = "/var/log/haproxy"
    nginx_modules: str = "/usr/lib/nginx/modules"
    httpd_modules: str = "/usr/lib/apache2/modules"
    httpd_server_root: str = "/etc/apache2"
    #: nginx temp files (request bodies, buffered responses); None keeps the compiled-in /var/lib/nginx/*.
    nginx_temp_dir: Optional[str] = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                validate.file_path(field.name, value)

    @classmethod
    def debian(cls, kind: str, **overrides: str) -> "RuntimePaths":
        """Debian's locations for ``kind`` (the pid file and logs where its own packaging puts them)."""
        base = {"haproxy": ("/run/haproxy", "/var/log/haproxy"), "nginx": ("/run", "/var/log/nginx"),
                "httpd": ("/run/apache2", "/var/log/apache2")}[kind]
        values = {"runtime_dir": base[0], "log_dir": base[1]}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def relocated(self, directory: str) -> "RuntimePaths":
        """These paths with everything the running process creates (pid file, sockets, logs, temp files) in
        ``directory``: what a config check runs with, so it judges the config and not whether the load balancer
        has run on this machine yet (an apache2 never started has no /run/apache2)."""
        return dataclasses.replace(self, runtime_dir=directory, log_dir=directory, nginx_temp_dir=directory)

    @classmethod
    def under(cls, directory: str, **overrides: str) -> "RuntimePaths":
        """Everything in one directory (tests, sandboxes)."""
        return cls(runtime_dir=directory, log_dir=directory, httpd_server_root=directory, nginx_temp_dir=directory,
                   **overrides)


@dataclasses.dataclass(frozen=True)
class LoadBalancer:
    """A whole config: what every emitter renders. ``header``: comment lines for the top of the file; ``extra``:
    escape-hatch lines per section (each emitter's ``sections()`` lists the names; ``profiles.build`` refuses
    others)."""

    profile: str
    listeners: Tuple[Listener, ...]
    tls: Tls = Tls()
    stats: Optional[Stats] = None
    hard_stop_after: float = 3600.0
    header: Tuple[str, ...] = ()
    extra: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    paths: RuntimePaths = RuntimePaths()

    def __post_init__(self) -> None:
        object.__setattr__(self, "listeners", tuple(self.listeners))
        validate.seconds("--hard-stop-after", self.hard_stop_after, 1)
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names) or not names:
            raise ConfigError("listeners", ", ".join(names) or "(none)", "at least one listener, unique names")
        binds = [str(listener.bind) for listener in self.listeners] + ([str(self.stats.bind)] if self.stats else [])
        clash = next((b for b in binds if binds.count(b) > 1), None)
        if clash:
            raise ConfigError("bind address", clash, "a distinct address:port per listener and stats page")
        for line in self.header:
            validate.extra_line("header", line)
        for section, lines in self.extra:
            validate.name("extra section", section)
            for line in lines:
                validate.extra_line(f"extra line for {section}", line)

    def extra_for(self, section: str) -> Tuple[str, ...]:
        return tuple(line for name, lines in self.extra if name == section for line in lines)

    def with_servers(self, pools: Mapping[str, Tuple[Server, ...]]) -> "LoadBalancer":
        """A copy with the pools of the named listeners replaced (validated again)."""
        unknown = set(pools) - {listener.name for listener in self.listeners}
        if unknown:
            raise ConfigError("listener", sorted(unknown)[0], "one of " + ", ".join(l.name for l in self.listeners))
        return dataclasses.replace(self, listeners=tuple(
            dataclasses.replace(listener, servers=tuple(pools[listener.name])) if listener.name in pools else listener
            for listener in self.listeners))

    def listener(self, name: str) -> Listener:
        return {listener.name: listener for listener in self.listeners}[name]


def extra_from_pairs(pairs: Tuple[str, ...]) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """``SECTION=LINE`` strings (the ``--extra`` flag) grouped per section, order kept."""
    grouped: Dict[str, list] = {}
    for pair in pairs:
        section, sep, line = pair.partition("=")
        if not sep:
            raise ConfigError("--extra", pair, "SECTION=LINE")
        grouped.setdefault(validate.name("--extra section", section.strip()), []).append(validate.extra_line("--extra", line))
    return tuple((section, tuple(lines)) for section, lines in grouped.items())
