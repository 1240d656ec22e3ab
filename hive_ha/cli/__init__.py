"""The ``hive-ha`` command line: one module per command, each with ``register(subparsers, common)`` adding its
parser and ``run(args)`` returning its exit code; flags several commands share are in ``common`` (registry and
ZooKeeper flags, exit codes) and ``lb_flags`` (the shape of a load-balancer config).

Exit codes (all commands):
  0  success
  2  usage or configuration error (bad flag, bad value, unreadable file), or an optional extra is missing
  3  no endpoint available (the NoEndpointAvailable message is printed)
  4  ZooKeeper unreachable within --timeout and nothing known
  5  check: the deployment has a problem (each failed item is in the report)
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from hive_ha.cli import check, discover, emit, monitor, sandbox, watch
from hive_ha.cli.common import EXIT_NO_ENDPOINT, EXIT_UNREACHABLE, EXIT_USAGE
from hive_ha.errors import ConfigError, ExtraRequired, NoEndpointAvailable, RegistryUnavailable

DESCRIPTION = "The ``hive-ha`` command line."
_EXIT_CODES = "\n" + __doc__[__doc__.index("Exit codes"):]


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="hive-ha", description=DESCRIPTION, epilog=_EXIT_CODES, formatter_class=raw)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    discover.register(sub, common, epilog=_EXIT_CODES)
    for command in (emit, monitor, watch, check, sandbox):
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
