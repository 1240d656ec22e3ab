"""Flags that shape a load-balancer config around its backends, shared by ``emit`` and ``monitor``, and their
validation into ``ProfileOptions`` (a bad value raises ``ConfigError`` naming the flag)."""
from __future__ import annotations

import argparse
import secrets
import sys
from typing import List, Optional, Tuple

from hive_ha.cli.common import password_from_env
from hive_ha.errors import ConfigError
from hive_ha.lb import backends, validate
from hive_ha.lb.model import BALANCES, TLS_MODES, Address, RuntimePaths, Stats, Tls, extra_from_pairs
from hive_ha.lb.profiles import (DEFAULT_STATS_PORT, IMPALA_HS2_PORT, IMPALA_SHELL_PORT, LISTENERS, SIX_HOURS,
                                 ProfileOptions, check_extra)
from hive_ha.lb.render import nginx_version


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shaping the config around the backends (listeners, TLS, stats, paths): shared by emit and monitor."""
    lb = p.add_argument_group("listeners")
    lb.add_argument("--bind", action="append", default=[], metavar="[NAME=]ADDR[:PORT]",
                    help="bind address for all listeners, or ADDR:PORT of listener NAME (hue, impala_shell, "
                         "impala_jdbc, impala_hue, hs2_binary, hs2_http)")
    lb.add_argument("--lb-host", metavar="FQDN", help="the name clients use for the load balancer")
    lb.add_argument("--balance", choices=BALANCES, help="algorithm override")
    lb.add_argument("--force-round-robin", action="store_true",
                    help="allow round robin on a Hue-facing port (breaks Hue's sessions)")
    lb.add_argument("--session-timeout", type=float, default=SIX_HOURS, metavar="S",
                    help="client/server idle timeout of TCP profiles (default 21600 = 6 h)")
    lb.add_argument("--check-interval", type=float, default=2.0, metavar="S", help="health check interval (default 2)")
    lb.add_argument("--hard-stop-after", type=float, default=3600.0, metavar="S",
                    help="bound on old processes after a reload (default 3600)")
    lb.add_argument("--kerberos-realm", metavar="REALM", help="list the Kerberos settings needed behind the LB")
    lb.add_argument("--extra", action="append", default=[], metavar="SECTION=LINE",
                    help="an extra config line in SECTION, as written: any directive (braces and semicolons "
                         "included; it is the escape hatch), one line without control characters")
    tls = p.add_argument_group("TLS")
    tls.add_argument("--tls", choices=TLS_MODES, default="none", help="TLS handling (default none)")
    tls.add_argument("--tls-cert", metavar="PEM", help="certificate the LB presents (haproxy: chain + key in one file)")
    tls.add_argument("--tls-key", metavar="PEM", help="its private key (nginx, httpd)")
    tls.add_argument("--tls-ca", metavar="PEM", help="CA that signed the backends' certificates")
    tls.add_argument("--tls-backend-name", metavar="NAME", help="nginx bridge: the name all backend certificates carry")
    tls.add_argument("--tls-no-verify-backend-name", action="store_true",
                     help="httpd: turn off SSLProxyCheckPeerName/CN (a documented stop-gap)")
    st = p.add_argument_group("stats page (haproxy: basic auth; nginx/httpd: loopback only, no credentials)")
    st.add_argument("--stats-bind", metavar="ADDR:PORT",
                    help=f"stats page address (default BIND:{DEFAULT_STATS_PORT}; nginx/httpd 127.0.0.1:{DEFAULT_STATS_PORT})")
    st.add_argument("--no-stats", action="store_true", help="no stats page")
    st.add_argument("--stats-user", default="admin", metavar="USER", help="stats user (default admin)")
    st.add_argument("--stats-password-env", metavar="VAR", help="environment variable holding the stats password "
                    "(default: generate one and print it once on stderr)")
    paths = p.add_argument_group("paths")
    paths.add_argument("--runtime-dir", metavar="DIR", help="pid file, sockets (default: Debian's for the LB)")
    paths.add_argument("--log-dir", metavar="DIR", help="log files (default: Debian's for the LB)")
    paths.add_argument("--module-dir", metavar="DIR", help="nginx/httpd module directory (default Debian's)")
    paths.add_argument("--server-root", metavar="DIR", help="httpd ServerRoot (default /etc/apache2)")
    paths.add_argument("--nginx-version", metavar="X.Y.Z", help="target nginx version (default: the installed one)")


def add_mode_argument(group) -> None:
    """``--mode``: the permissions of the config file written (emit -o, monitor --config); one definition."""
    group.add_argument("--mode", type=file_mode, default=0o600, metavar="OCTAL",
                       help="permissions of the config file (default 0600; e.g. 0640 for a load balancer reading it "
                            "as the file's group). A file that exists keeps its owner and group and is never given "
                            "more access than it had")


def file_mode(text: str) -> int:
    """An octal file mode giving nothing to others (the config may hold the stats password), readable by its owner."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o007 or not mode & 0o400:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode readable by its owner and giving nothing to "
                                         "others, such as 0600 or 0640 (the config may hold the stats password)")
    return mode


def _binds(values: List[str]) -> Tuple[str, Tuple[Tuple[str, Tuple[str, int]], ...]]:
    host, named = "0.0.0.0", []
    for value in values:
        name, sep, rest = value.partition("=")
        if sep:
            named.append((validate.name("--bind listener", name), validate.hostport("--bind", rest)))
        elif value.count(":") == 1 or value.startswith("["):
            named.append(("", validate.hostport("--bind", value)))
        else:
            host = validate.host("--bind", value)
    return host, tuple(named)


def parse_nginx_version(text: Optional[str]) -> Tuple[int, ...]:
    if text:
        parts = text.split(".")
        if not 2 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
            raise ConfigError("--nginx-version", text, "a version such as 1.22.1")
        return tuple(int(part) for part in parts)
    return nginx_version() or (1, 22, 1)


def _stats(args: argparse.Namespace, bind_host: str) -> Optional[Stats]:
    if args.no_stats:
        return None
    if args.lb != "haproxy":
        # nginx/httpd status pages take no credentials: they listen on loopback and answer loopback clients only.
        bind = validate.hostport("--stats-bind", args.stats_bind) if args.stats_bind else ("127.0.0.1", DEFAULT_STATS_PORT)
        if args.stats_password_env:
            raise ConfigError("--stats-password-env", args.stats_password_env,
                              f"nothing for {args.lb} (its status page is loopback-only, without credentials)")
        return Stats(Address(*bind))
    bind = validate.hostport("--stats-bind", args.stats_bind) if args.stats_bind else (bind_host, DEFAULT_STATS_PORT)
    if args.stats_password_env:
        password = password_from_env("--stats-password-env", args.stats_password_env, allow_empty=False)
    else:
        password = secrets.token_urlsafe(18)  # never a default credential
    return Stats(Address(*bind), args.stats_user, password)


def _left_out(exc: ConfigError) -> None:
    print(f"hive-ha: warning: left out a registration: {exc}", file=sys.stderr)


def options_from_args(args: argparse.Namespace) -> ProfileOptions:
    """Validate every flag and build the profile inputs (raises ConfigError naming the bad value)."""
    default_port = IMPALA_HS2_PORT if args.profile == "impala" else None
    servers = backends.from_flags("--server", args.server, default_port)
    if args.servers_file:
        servers += backends.from_file(args.servers_file, default_port)
    shell = backends.from_flags("--shell-server", args.shell_server, IMPALA_SHELL_PORT)
    http = backends.from_flags("--http-server", args.http_server)
    if args.from_zookeeper:
        # A registration no config may carry (or, when the config is checked here, that this machine cannot resolve)
        # is left out with a warning naming it; the rest is published.
        binary, http_found = backends.from_zookeeper(args.from_zookeeper, args.layout, args.namespace, args.zk_timeout,
                                                     on_bad=_left_out, resolve=args.check)
        servers += binary
        http += http_found
    bind_host, named = _binds(args.bind)
    profile_listeners = LISTENERS[args.profile]
    binds = []
    for name, address in named:
        if not name:
            if len(profile_listeners) != 1:
                raise ConfigError("--bind", validate.display(address),
                                  "NAME=ADDR:PORT for profile " + args.profile + " (one of " + ", ".join(profile_listeners) + ")")
            name = profile_listeners[0]
        if name not in profile_listeners:
            raise ConfigError("--bind listener", name, "one of " + ", ".join(profile_listeners))
        binds.append((name, address))
    if args.lb_host:
        validate.host("--lb-host", args.lb_host)
    if args.kerberos_realm:
        validate.name("--kerberos-realm", args.kerberos_realm)
    paths = RuntimePaths.debian(
        args.lb, runtime_dir=args.runtime_dir, log_dir=args.log_dir, httpd_server_root=args.server_root,
        **({"nginx_modules": args.module_dir, "httpd_modules": args.module_dir} if args.module_dir else {}))
    if args.runtime_dir and args.lb == "nginx":
        paths = RuntimePaths(**{**paths.__dict__, "nginx_temp_dir": args.runtime_dir})
    extra = extra_from_pairs(tuple(args.extra))
    check_extra(args.lb, args.profile, extra)  # here too: a monitor builds its first model only once servers come
    tls = Tls(args.tls, cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca,
              verify_backend_name=not args.tls_no_verify_backend_name, backend_name=args.tls_backend_name)
    return ProfileOptions(
        servers=servers, shell_servers=shell, http_servers=http, bind_host=bind_host, binds=tuple(binds), tls=tls,
        balance=args.balance, force_round_robin=args.force_round_robin, session_timeout=args.session_timeout,
        check_interval=args.check_interval, stats=_stats(args, bind_host), kerberos_realm=args.kerberos_realm,
        lb_host=args.lb_host, hard_stop_after=args.hard_stop_after, extra=extra,
        paths=paths)
