"""The ``hive-ha`` command line.

Exit codes (all commands):
  0  success
  2  usage or configuration error (bad flag, bad value, unreadable file), or an optional extra is missing
  3  no endpoint available (the NoEndpointAvailable message is printed)
  4  ZooKeeper unreachable within --timeout and nothing known
  5  check: the deployment has a problem (each failed item is in the report)
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import os
import sys
from typing import List, Optional

from . import extras
from .config import load_config
from .discovery import Discovery
from .errors import ConfigError, ExtraRequired, NoEndpointAvailable, RegistryUnavailable
from .layouts import LAYOUTS, Service
from .zkclient import POOL, ZkSettings

EXIT_OK, EXIT_USAGE, EXIT_NO_ENDPOINT, EXIT_UNREACHABLE = 0, 2, 3, 4
EXIT_PROBLEMS = 5

# Modules adding subcommands: each defines ``register(subparsers, common_parser)`` and sets
# ``func`` (taking the parsed args, returning an exit code) on the parsers it adds.
COMMAND_MODULES: tuple = ("hive_ha.lb.cli", "hive_ha.ops_cli")


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every command reading the registry shares (discover, watch, check): one definition."""
    parser.add_argument("--zookeeper", "-z", metavar="HOSTS", help="connect string host:port[,host:port][/chroot] "
                        "(default: [libzookeeper] ensemble from --config, else localhost:2181)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="hs2", help="registry layout (default hs2)")
    parser.add_argument("--namespace", metavar="PATH", help="znode path (default: the layout's Hive default)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="give up on ZooKeeper after S seconds (default 10)")
    parser.add_argument("--config", metavar="FILE", action="append",
                        help="hue.ini / hive_ha.ini for ZooKeeper security settings")
    parser.add_argument("--zk-digest-user", metavar="USER", help="digest ACL auth as USER (password from --zk-password-env)")
    parser.add_argument("--zk-sasl-user", metavar="USER", help="SASL DIGEST-MD5 as USER (password from --zk-password-env)")
    parser.add_argument("--zk-password-env", metavar="VAR", help="environment variable holding the ZooKeeper password")
    parser.add_argument("--zk-tls-ca", metavar="PEM", help="connect over TLS, trusting this CA file")


def zk_settings(args: argparse.Namespace) -> ZkSettings:
    """Security settings come from --config ([hive_ha] keys); hosts and timeout from the flags."""
    base = load_config(args.config).zookeeper if args.config else ZkSettings()
    overrides = {"connect_timeout": args.timeout}
    if args.zookeeper:
        overrides["hosts"] = args.zookeeper
    if args.zk_digest_user:
        overrides.update(auth_scheme="digest", digest_user=args.zk_digest_user,
                         digest_password=_password_from_env(args.zk_password_env, "--zk-digest-user"))
    if args.zk_sasl_user:
        overrides.update(auth_scheme="sasl", sasl_mechanism="DIGEST-MD5", sasl_username=args.zk_sasl_user,
                         sasl_password=_password_from_env(args.zk_password_env, "--zk-sasl-user"))
    if args.zk_tls_ca:
        overrides.update(use_ssl=True, ssl_ca=args.zk_tls_ca)
    settings = dataclasses.replace(base, **overrides)
    if settings.auth_scheme == "sasl":  # kazoo's SASL client is pure-sasl; GSSAPI also needs the Kerberos bindings
        extras.require(f"ZooKeeper SASL {settings.sasl_mechanism}", "kerberos",
                       only=None if settings.sasl_mechanism == "GSSAPI" else ("puresasl",))
    return settings


def _password_from_env(var: Optional[str], flag: str) -> str:
    # Passwords never go on the command line (visible in ps); they come from an environment variable.
    if not var or var not in os.environ:
        raise ConfigError("--zk-password-env", var, f"the name of a set environment variable holding the password for {flag}")
    return os.environ[var]


def cmd_discover(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    discovery = Discovery(zk_settings(args), debounce=0)
    try:
        snapshot = discovery.endpoints(service, timeout=args.timeout)  # the watcher warns of malformed znodes
        shown = snapshot.endpoints
        if not snapshot.candidates:
            raise NoEndpointAvailable(discovery.settings.hosts, snapshot.path, shown, {}, snapshot.empty_reason())
        if args.json:
            print(json.dumps([e.as_dict() for e in shown], indent=2))
        else:
            for e in shown:
                role = "" if e.active is None else ("  ACTIVE" if e.active else "  passive")
                print(f"{e.address:<28} {e.transport_mode:<7} auth={e.authentication:<9} "
                      f"principal={e.principal or '-'}{role}  {e.znode}")
        return EXIT_OK
    finally:
        discovery.close()
        POOL.close_all()  # one-shot command: end the ZooKeeper session now


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hive-ha", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("discover", parents=[common], help="list the endpoints registered in ZooKeeper",
                       description="Read the registry once and print the endpoints found.",
                       epilog=__doc__.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_registry_flags(d)
    d.add_argument("--json", action="store_true", help="print a JSON list of endpoints")
    d.set_defaults(func=cmd_discover)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, common)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("hive_ha.kazoo").setLevel(max(level, logging.ERROR) if args.verbose < 2 else logging.DEBUG)
    try:
        return args.func(args)
    except (ConfigError, ExtraRequired) as exc:
        print(f"hive-ha: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoEndpointAvailable as exc:
        print(f"hive-ha: {exc}", file=sys.stderr)
        return EXIT_NO_ENDPOINT
    except RegistryUnavailable as exc:
        print(f"hive-ha: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
