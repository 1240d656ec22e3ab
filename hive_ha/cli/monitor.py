"""``hive-ha monitor``: keep a running HAProxy, nginx or httpd in step with ZooKeeper (or a file of servers)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket

from hive_ha.cli.lb_flags import add_mode_argument, add_model_arguments, options_from_args
from hive_ha.io.shutdown import STOP_TIMEOUT, run_until_stopped
from hive_ha.core.discovery import Discovery
from hive_ha.errors import ConfigError
from hive_ha.io.zookeeper import ClientPool, ZkSettings
from hive_ha.lb.election import LeaderElection, election_path
from hive_ha.lb.haproxy import admin_socket
from hive_ha.lb.model import LB_KINDS
from hive_ha.lb.monitor import FileSource, Monitor, ZooKeeperSource
from hive_ha.lb.profiles import IMPALA_HS2_PORT, PROFILES, build
from hive_ha.lb.reload import Reloader
from hive_ha.lb.runtime_api import RuntimeApi
from hive_ha.model.layouts import LAYOUTS, Service

EPILOG = f"""\
Runs until SIGTERM or SIGINT, then stops within {STOP_TIMEOUT:g} s: exit 0 once it let go of everything (its election
lock node included). A second signal, or a stop not finished in {STOP_TIMEOUT:g} s, ends it at once with 128 + the
signal number (143 SIGTERM, 130 SIGINT); its lock node then goes when its ZooKeeper session expires.
Exit code 2: invalid flags, or the first config was unusable.
It logs one line per applied change (what changed, runtime API or reload, time taken), and says when it keeps the
current config (ZooKeeper unreachable, no servers registered, a candidate the binary refused) or goes standby.
The load balancer must already run with the same --runtime-dir: haproxy in master-worker mode (haproxy -W), nginx,
or apache2; the monitor finds it by the pid file there (or --pid-file)."""


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "monitor", parents=[common], help="keep a running load balancer in step with ZooKeeper (active/standby)",
        description="Watch the backends, render, check, swap the config atomically and reload gracefully; "
                    "server-state changes go over HAProxy's runtime API instead of a reload.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lb", required=True, choices=LB_KINDS, help="which load balancer")
    p.add_argument("--config", required=True, metavar="FILE", help="the load balancer's config file to maintain")
    p.add_argument("--profile", required=True, choices=sorted(PROFILES), help="what sits behind it")
    src = p.add_argument_group("backend source (one of)")
    src.add_argument("--from-zookeeper", metavar="HOSTS", help="watch the servers registered in ZooKeeper")
    src.add_argument("--servers-file", metavar="FILE", help="watch a file of HOST:PORT lines")
    src.add_argument("--layout", choices=sorted(LAYOUTS), default="hs2", help="registry layout (default hs2)")
    src.add_argument("--namespace", metavar="PATH", help="znode path (default: the layout's)")
    src.add_argument("--zk-timeout", type=float, default=10.0, metavar="S", help="ZooKeeper connect timeout (default 10)")
    src.add_argument("--zk-session-timeout", type=float, default=10.0, metavar="S",
                     help="ZooKeeper session timeout: how long a dead active monitor blocks the standby (default 10)")
    mon = p.add_argument_group("monitor")
    mon.add_argument("--min-reload-interval", type=float, default=2.0, metavar="S",
                     help="at most one reload per S seconds; changes in between are coalesced (default 2)")
    mon.add_argument("--debounce", type=float, default=0.1, metavar="S",
                     help="wait for S seconds without change before acting (default 0.1)")
    mon.add_argument("--pid-file", metavar="FILE", help="the load balancer's pid file (default: in --runtime-dir)")
    mon.add_argument("--no-check", action="store_true", help="do not validate candidates with the binary")
    mon.add_argument("--name", metavar="NAME", help="this monitor group's name (default: the profile)")
    mon.add_argument("--election-path", metavar="ZNODE",
                     help="leader-election znode (default /hive-ha/monitor/<lb>-<name>)")
    mon.add_argument("--no-election", action="store_true", help="act without leader election (a single monitor)")
    add_mode_argument(mon)
    add_model_arguments(p)
    p.set_defaults(func=run, server=[], shell_server=[], http_server=[])


def run(args: argparse.Namespace) -> int:
    if bool(args.from_zookeeper) == bool(args.servers_file):
        raise ConfigError("--from-zookeeper/--servers-file", None, "exactly one backend source")
    # The profile's options without backends: the source supplies them on every change.
    opts = options_from_args(argparse.Namespace(**{**vars(args), "from_zookeeper": None, "servers_file": None}))

    def make_model(binary, http):
        return build(args.lb, args.profile, dataclasses.replace(opts, servers=binary, http_servers=http))

    reloader = Reloader.for_paths(args.lb, opts.paths, args.pid_file)
    runtime = RuntimeApi(admin_socket(opts.paths)) if args.lb == "haproxy" else None
    logging.getLogger("hive_ha.lb").setLevel(logging.INFO)  # the one line per change is the point of this command
    pool = ClientPool()
    discovery = election = None

    def close() -> None:
        if election is not None:
            election.stop()  # its lock node goes at once: a standby takes over without waiting for session expiry
        if discovery is not None:
            discovery.close()
        pool.close_all()

    try:
        if args.from_zookeeper:
            settings = ZkSettings(hosts=args.from_zookeeper, connect_timeout=args.zk_timeout,
                                  session_timeout=args.zk_session_timeout)
            discovery = Discovery(settings, pool=pool)
            source = ZooKeeperSource(discovery, Service.of(args.layout, args.namespace))
            if not args.no_election:
                path = args.election_path or election_path(args.lb, args.name or args.profile)
                election = LeaderElection(pool.get(settings), path, f"{socket.gethostname()}:{os.getpid()}").start()
        else:
            source = FileSource(args.servers_file, IMPALA_HS2_PORT if args.profile == "impala" else None)
        monitor = Monitor(args.lb, make_model, args.config, source, reloader, runtime=runtime,
                          min_reload_interval=args.min_reload_interval, debounce=args.debounce, election=election,
                          check_config=not args.no_check, file_mode=args.mode)
    except BaseException:
        close()
        raise
    return run_until_stopped(monitor.run, close, name=f"hive-ha-monitor {args.lb}")
