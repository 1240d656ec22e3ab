"""``hive-ha emit``: write a load-balancer config (and the matching client settings) for a profile."""
from __future__ import annotations

import argparse
import sys

from hive_ha.cli.lb_flags import add_mode_argument, add_model_arguments, options_from_args, parse_nginx_version
from hive_ha.errors import ConfigError
from hive_ha.lb.client_settings import client_settings
from hive_ha.lb.model import LB_KINDS
from hive_ha.lb.profiles import PROFILES, SIX_HOURS, build
from hive_ha.lb.render import binary_available, check_model, render, write_atomically
from hive_ha.model.layouts import LAYOUTS

EPILOG = """\
Exit codes: 0 written; 2 invalid input or a config the binary rejected (nothing written);
3 no endpoint in ZooKeeper; 4 ZooKeeper unreachable.
Client settings (hue.ini, JDBC URLs, impala-shell flags) go to FILE.clients.txt with -o, else to stderr.
A generated stats password is printed once on stderr."""


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "emit", parents=[common], help="write an HAProxy, nginx or Apache httpd config for Hue, Impala or HiveServer2",
        description="Write a load-balancer config for a profile, with the client settings to match.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lb", choices=LB_KINDS, help="which load balancer (httpd: Hue's web tier only)")
    p.add_argument("--profile", required=True, choices=sorted(PROFILES), help="what sits behind it")
    src = p.add_argument_group("backends")
    src.add_argument("--server", action="append", default=[], metavar="HOST:PORT",
                     help="a backend (impala: its HS2 port, HOST alone means :21050; hiveserver2: binary transport)")
    src.add_argument("--servers-file", metavar="FILE", help="backends, one HOST:PORT per line")
    src.add_argument("--shell-server", action="append", default=[], metavar="HOST:PORT",
                     help="impala: impala-shell backend (default: each --server host at :21000)")
    src.add_argument("--http-server", action="append", default=[], metavar="HOST:PORT",
                     help="hiveserver2: a server in HTTP transport mode")
    src.add_argument("--from-zookeeper", metavar="HOSTS", help="discover the backends in ZooKeeper")
    src.add_argument("--layout", choices=sorted(LAYOUTS), default="hs2", help="registry layout (default hs2)")
    src.add_argument("--namespace", metavar="PATH", help="znode path (default: the layout's)")
    src.add_argument("--zk-timeout", type=float, default=10.0, metavar="S", help="ZooKeeper timeout (default 10)")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE", help="write here atomically (default stdout)")
    out.add_argument("--snippet", action="store_true", help="only the part to include in an existing config")
    out.add_argument("--check", action="store_true", help="validate with the installed binary before writing")
    add_mode_argument(out)
    add_model_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    if args.profile != "hue" and opts.session_timeout < SIX_HOURS:
        print(f"hive-ha: warning: --session-timeout {opts.session_timeout:g} s is under 6 h; long Impala/Hive "
              "sessions will be cut", file=sys.stderr)
    model = build(args.lb, args.profile, opts)
    version = parse_nginx_version(args.nginx_version)
    text = render(args.lb, model, snippet=args.snippet, nginx_version=version)
    if args.check:
        if args.snippet:
            raise ConfigError("--check", "with --snippet", "a full config (a snippet cannot be checked alone)")
        if binary_available(args.lb):
            check_model(args.lb, model, nginx_version=version)
        else:
            print(f"hive-ha: warning: {args.lb} is not installed; the config was not checked", file=sys.stderr)
    settings = client_settings(args.lb, model, opts)
    if args.output:
        write_atomically(args.output, text, args.mode, key="-o/--output")
        # No secret in the client settings: readable by all, unless the file that exists gives less.
        write_atomically(args.output + ".clients.txt", settings, 0o644, key="-o/--output (client settings)")
    else:
        sys.stdout.write(text)
        sys.stderr.write(settings)
    if model.stats and model.stats.authenticated and not args.stats_password_env:
        print(f"hive-ha: stats page http://{model.stats.bind}{model.stats.uri} user {model.stats.user} "
              f"password {model.stats.password} (generated; shown only this once)", file=sys.stderr)
    return 0
