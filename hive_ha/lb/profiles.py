"""Profiles: the operator knowledge for Hue's web tier, Impala and HiveServer2, turned into a ``LoadBalancer``.

A profile is a pure function of ``ProfileOptions``; a monitor re-renders by calling it again with a new backend list
(or by ``LoadBalancer.with_servers``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

from hive_ha.errors import ConfigError
from hive_ha.lb import haproxy, httpd, nginx
from hive_ha.lb.model import Address, HealthCheck, Listener, LoadBalancer, RuntimePaths, Server, Stats, Timeouts, Tls

HostPort = Tuple[str, int]

SIX_HOURS = 6 * 3600.0
HUE_IS_ALIVE = "/desktop/debug/is_alive"
IMPALA_SHELL_PORT = 21000
IMPALA_HS2_PORT = 21050
#: Default bind port per listener: Cloudera's plan for Impala (21000 shell, 21050 JDBC, 21051 Hue), Hue's LB on 8889.
DEFAULT_PORTS = {
    "hue": 8889,
    "impala_shell": 21000, "impala_jdbc": 21050, "impala_hue": 21051,
    "hs2_binary": 10000, "hs2_http": 10001,
}
DEFAULT_STATS_PORT = 1936
#: The listeners each profile may have (hiveserver2's hs2_http only with HTTP-transport servers).
LISTENERS = {"hue": ("hue",), "impala": ("impala_shell", "impala_jdbc", "impala_hue"),
             "hiveserver2": ("hs2_binary", "hs2_http")}


@dataclasses.dataclass(frozen=True)
class ProfileOptions:
    """Inputs of a profile. ``servers``: the main pool (Hue web servers; Impala coordinators' HS2 port 21050;
    HiveServer2 binary ports). ``shell_servers``: Impala's impala-shell port (default: the same hosts at 21000).
    ``http_servers``: HiveServer2 in HTTP transport. ``binds``: listener name -> address; ``bind_host`` for the rest."""

    servers: Tuple[HostPort, ...] = ()
    shell_servers: Tuple[HostPort, ...] = ()
    http_servers: Tuple[HostPort, ...] = ()
    bind_host: str = "0.0.0.0"
    binds: Tuple[Tuple[str, HostPort], ...] = ()
    tls: Tls = Tls()
    balance: Optional[str] = None
    force_round_robin: bool = False
    session_timeout: float = SIX_HOURS
    check_interval: float = 2.0
    stats: Optional[Stats] = None
    kerberos_realm: Optional[str] = None
    lb_host: Optional[str] = None
    hard_stop_after: float = 3600.0
    extra: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    paths: RuntimePaths = RuntimePaths()

    @property
    def public_host(self) -> str:
        """The name clients use for the LB (Kerberos principals, JDBC URLs)."""
        if self.lb_host:
            return self.lb_host
        return "<lb-fqdn>" if self.bind_host in ("0.0.0.0", "::") else self.bind_host


def _servers(pairs: Tuple[HostPort, ...]) -> Tuple[Server, ...]:
    return tuple(Server(host, port) for host, port in pairs)


def _bind(opts: ProfileOptions, name: str) -> Address:
    binds = dict(opts.binds)
    if name in binds:
        return Address(*binds[name])
    return Address(opts.bind_host, DEFAULT_PORTS[name])


def _balance(opts: ProfileOptions, default: str) -> str:
    return opts.balance or default


def _hue_facing(opts: ProfileOptions, listener: Listener) -> Listener:
    """A forced round robin on a Hue-facing port drops the stickiness it would otherwise carry."""
    if opts.balance == "roundrobin" and opts.force_round_robin:
        return dataclasses.replace(listener, balance="roundrobin", stickiness="none", force_unsticky=True)
    return listener


def _tcp_stickiness(opts: ProfileOptions, name: str) -> Dict[str, object]:
    # An explicit --balance on a source-hashed port replaces the hash; the model refuses round robin there unless forced.
    if opts.balance:
        return {"balance": opts.balance, "stickiness": "none"}
    return {"balance": "leastconn", "stickiness": "source"}


def hue(opts: ProfileOptions) -> LoadBalancer:
    """Hue's web tier: cookie stickiness (source hash under TLS passthrough), is_alive check, forwarded headers."""
    passthrough = opts.tls.mode == "passthrough"
    listener = Listener(
        name="hue",
        mode="tcp" if passthrough else "http",
        bind=_bind(opts, "hue"),
        servers=_servers(opts.servers),
        balance=_balance(opts, "leastconn"),
        stickiness="source" if passthrough else "cookie",
        check=HealthCheck(http_path=HUE_IS_ALIVE, expect_status=200, interval_s=opts.check_interval),
        # Hue's pages answer quickly; long result downloads and the editor's polling fit in 15 minutes.
        timeouts=Timeouts(connect=5, client=300, server=900, check=5),
        forwarded_headers=not passthrough,
        sticky_required=True,
        force_unsticky=opts.force_round_robin,
        description="Hue web servers (sticky: a user's Impala/Hive sessions live in one Hue process)",
    )
    return LoadBalancer("hue", (listener,), tls=opts.tls, stats=opts.stats, hard_stop_after=opts.hard_stop_after,
                        header=_header("hue", opts), extra=opts.extra, paths=opts.paths)


def impala(opts: ProfileOptions) -> LoadBalancer:
    """Impala coordinators: impala-shell (leastconn), JDBC/ODBC (leastconn), Hue (source hash, consistent)."""
    timeouts = Timeouts(connect=5, client=opts.session_timeout, server=opts.session_timeout, check=5)
    check = HealthCheck(interval_s=opts.check_interval)
    # One impalad per host: its impala-shell port is 21000 unless listed explicitly.
    shell = opts.shell_servers or tuple(dict.fromkeys((host, IMPALA_SHELL_PORT) for host, _ in opts.servers))
    listeners = (
        Listener("impala_shell", "tcp", _bind(opts, "impala_shell"), _servers(shell), balance=_balance(opts, "leastconn"),
                 check=check, timeouts=timeouts, description="impala-shell (Beeswax, backends :21000)"),
        Listener("impala_jdbc", "tcp", _bind(opts, "impala_jdbc"), _servers(opts.servers),
                 balance=_balance(opts, "leastconn"), check=check, timeouts=timeouts,
                 description="JDBC/ODBC clients (HiveServer2 protocol, backends :21050)"),
        _hue_facing(opts, Listener(
            "impala_hue", "tcp", _bind(opts, "impala_hue"), _servers(opts.servers), check=check, timeouts=timeouts,
            sticky_required=True, force_unsticky=opts.force_round_robin,
            description="Hue only: source persistence, Hue's query/session handles belong to one coordinator",
            **_tcp_stickiness(opts, "impala_hue"))),
    )
    return LoadBalancer("impala", listeners, tls=opts.tls, stats=opts.stats, hard_stop_after=opts.hard_stop_after,
                        header=_header("impala", opts), extra=opts.extra, paths=opts.paths)


def hiveserver2(opts: ProfileOptions) -> LoadBalancer:
    """HiveServer2: binary transport and HTTP transport, both source-hashed (consistent), with checks."""
    timeouts = Timeouts(connect=5, client=opts.session_timeout, server=opts.session_timeout, check=5)
    check = HealthCheck(interval_s=opts.check_interval)
    listeners = []
    for name, pool, what in (("hs2_binary", opts.servers, "binary transport"),
                             ("hs2_http", opts.http_servers, "HTTP transport (clients rarely send cookies back)")):
        if pool:
            listeners.append(_hue_facing(opts, Listener(
                name, "tcp", _bind(opts, name), _servers(pool), check=check, timeouts=timeouts, sticky_required=True,
                force_unsticky=opts.force_round_robin, description=f"HiveServer2 {what}", **_tcp_stickiness(opts, name))))
    if not listeners:
        raise ConfigError("--server", "(none)", "at least one HiveServer2 (binary --server or --http-server)")
    return LoadBalancer("hiveserver2", tuple(listeners), tls=opts.tls, stats=opts.stats,
                        hard_stop_after=opts.hard_stop_after, header=_header("hiveserver2", opts), extra=opts.extra,
                        paths=opts.paths)


PROFILES: Dict[str, Callable[[ProfileOptions], LoadBalancer]] = {
    "hue": hue, "impala": impala, "hiveserver2": hiveserver2,
}
#: Profiles each load balancer can serve (httpd is Hue's web tier only).
SUPPORTED = {"haproxy": ("hue", "impala", "hiveserver2"), "nginx": ("hue", "impala", "hiveserver2"), "httpd": ("hue",)}


def extra_sections(lb: str, profile: str) -> Tuple[str, ...]:
    """The sections ``--extra SECTION=LINE`` may name for ``profile`` on load balancer ``lb``."""
    return {"haproxy": haproxy, "nginx": nginx, "httpd": httpd}[lb].sections(LISTENERS[profile])


def check_extra(lb: str, profile: str, extra: Tuple[Tuple[str, Tuple[str, ...]], ...]) -> None:
    """Refuse an extra line for a section the config does not have (it would be dropped silently)."""
    known = extra_sections(lb, profile)
    for section, _ in extra:
        if section not in known:
            raise ConfigError("--extra section", section, f"one of {', '.join(known)} ({lb}, profile {profile})")


def build(lb: str, profile: str, opts: ProfileOptions) -> LoadBalancer:
    """The model for ``profile`` on load balancer ``lb``, refusing combinations that cannot work."""
    if profile not in PROFILES:
        raise ConfigError("--profile", profile, "one of " + ", ".join(PROFILES))
    if profile not in SUPPORTED.get(lb, ()):
        raise ConfigError("--profile", profile, f"one of {', '.join(SUPPORTED.get(lb, ()))} for {lb} "
                          "(Apache httpd serves Hue's web tier only; use haproxy or nginx for TCP)")
    check_extra(lb, profile, opts.extra)
    if lb == "httpd" and opts.tls.mode == "passthrough":
        raise ConfigError("--tls", "passthrough", "none, bridge or offload for httpd (it cannot pass TLS through)")
    if opts.tls.terminates and not opts.tls.cert:
        raise ConfigError("--tls-cert", None, f"the certificate the load balancer presents (required for --tls {opts.tls.mode})")
    if opts.tls.terminates and lb != "haproxy" and not opts.tls.key:
        raise ConfigError("--tls-key", None, f"the private key file (required by {lb} for --tls {opts.tls.mode})")
    if opts.tls.mode == "bridge" and not opts.tls.ca:
        raise ConfigError("--tls-ca", None, "the CA file that signed the backends' certificates (required for bridge)")
    if lb == "nginx" and opts.tls.mode == "bridge" and not opts.tls.backend_name:
        raise ConfigError("--tls-backend-name", None, "the name every backend certificate carries (nginx verifies all "
                          "backends of a pool against one name)")
    if opts.stats and lb == "haproxy" and not opts.stats.authenticated:
        raise ConfigError("--stats-user", None, "a user and password for HAProxy's stats page (never without auth)")
    if opts.stats and lb != "haproxy" and (opts.stats.authenticated or not opts.stats.loopback):
        raise ConfigError("--stats-bind", str(opts.stats.bind),
                          f"a loopback address and no credentials ({lb}'s status page is reachable from this host only)")
    return PROFILES[profile](opts)


# -------------------------------------------------------------------------------------------------------- header
def _header(profile: str, opts: ProfileOptions) -> Tuple[str, ...]:
    lines = [f"Generated by hive-ha emit --profile {profile} (TLS: {opts.tls.mode})."]
    if opts.tls.mode == "passthrough":
        lines.append("TLS passthrough: every backend certificate must carry this load balancer's name in its SAN.")
    if opts.kerberos_realm:
        lines += _kerberos_lines(profile, opts)
    return tuple(lines)


def _kerberos_lines(profile: str, opts: ProfileOptions) -> list:
    lb, realm = opts.public_host, opts.kerberos_realm
    if profile == "impala":
        return [
            f"Kerberos behind this load balancer (realm {realm}, clients connect to {lb}):",
            f"  every impalad:  --principal=impala/{lb}@{realm}",
            f"                  --be_principal=impala/<this-host-fqdn>@{realm}",
            f"                  keytab holding both impala/{lb}@{realm} and impala/<this-host-fqdn>@{realm} (merged)",
            f"  hue.ini:        [impala] impala_principal=impala/{lb}",
            f"  impala-shell:   -k -i {lb}:{DEFAULT_PORTS['impala_shell']} -b {lb}   (or --kerberos_host_fqdn={lb})",
            f"  JDBC:           principal=impala/{lb}@{realm} (or impala/_HOST@{realm} when the URL names {lb})",
        ]
    if profile == "hiveserver2":
        return [
            f"Kerberos behind this load balancer (realm {realm}, clients connect to {lb}):",
            f"  clients use principal=hive/{lb}@{realm} (a GSSAPI client asks for the host it dials);",
            f"  every HiveServer2: keytab holding hive/{lb}@{realm} and configured to accept it",
            f"                  (hive.server2.authentication.kerberos.principal=hive/{lb}@{realm})",
            f"  JDBC:           jdbc:hive2://{lb}:{DEFAULT_PORTS['hs2_binary']}/default;principal=hive/{lb}@{realm}",
        ]
    return [f"Kerberos/SPNEGO for Hue's web tier: browsers ask for HTTP/{lb}@{realm}; Hue's keytab must hold it."]
