"""``hive-ha discover``: read the registry once and print the endpoints found."""
from __future__ import annotations

import argparse
import json

from hive_ha.cli.common import EXIT_CODES_HELP, EXIT_OK, add_registry_flags, zk_settings
from hive_ha.core.discovery import Discovery
from hive_ha.errors import NoEndpointAvailable
from hive_ha.io.zookeeper import POOL
from hive_ha.model.layouts import Service


def register(subparsers, common: argparse.ArgumentParser) -> None:
    d = subparsers.add_parser("discover", parents=[common], help="list the endpoints registered in ZooKeeper",
                              description="Read the registry once and print the endpoints found.",
                              epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_registry_flags(d)
    d.add_argument("--json", action="store_true", help="print a JSON list of endpoints")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    discovery = Discovery(zk_settings(args), debounce=0)
    try:
        snapshot = discovery.snapshot(service, timeout=args.timeout)  # the watcher warns of malformed znodes
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
