"""The ``hive-ha`` command line: one module per command, each with ``register(subparsers, common)`` adding its
parser and ``run(args)`` returning its exit code; flags several commands share are in ``common`` (registry and
ZooKeeper flags, exit codes) and ``lb_flags`` (the shape of a load-balancer config). The exit codes of every
command are in ``common.EXIT_CODES_HELP`` (printed by ``hive-ha --help``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from hive_ha.cli import check, discover, emit, monitor, sandbox, watch
from hive_ha.cli.common import EXIT_CODES_HELP, EXIT_NO_ENDPOINT, EXIT_UNREACHABLE, EXIT_USAGE
from hive_ha.errors import ConfigError, ExtraRequired, NoEndpointAvailable, RegistryUnavailable

DESCRIPTION = "The ``hive-ha`` command line."


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="hive-ha", description=DESCRIPTION, epilog=EXIT_CODES_HELP,
                                     formatter_class=raw)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (discover, emit, monitor, watch, check, sandbox):
        command.register(sub, common)
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
