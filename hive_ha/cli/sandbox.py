"""``hive-ha sandbox``: run a local ZooKeeper and HiveServer2-protocol test servers until SIGINT/SIGTERM.

The servers come from ``hive_ha.sandbox`` (the ``sandbox`` extra), imported when the command runs, not when the
command line starts: ``hive_ha.sandbox.cluster`` imports nothing of the rig at module level."""
from __future__ import annotations

import argparse
import signal
import sys

from hive_ha.cli.common import EXIT_OK, positive_float, positive_int
from hive_ha.sandbox.cluster import AUTHS, LAYOUTS, MAX_SERVERS, TRANSPORTS, Sandbox, SandboxOptions


def register(subparsers, common: argparse.ArgumentParser) -> None:
    s = subparsers.add_parser(
        "sandbox", parents=[common], help="run a local ZooKeeper and HiveServer2-protocol test servers until Ctrl-C",
        description="Start a ZooKeeper and N HiveServer2-protocol test servers registered in LAYOUT, print "
                    "'zookeeper=HOST:PORT namespace=/PATH' then one line per server, run until SIGINT/SIGTERM, "
                    "then stop everything and remove the temp dirs.",
        epilog="Exit codes: 0 stopped cleanly; 2 bad usage.", formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--servers", type=positive_int, default=2, metavar="N",
                   help=f"number of servers (1-{MAX_SERVERS}, default 2)")
    s.add_argument("--layout", choices=list(LAYOUTS), default="hs2",
                   help="hs2, hsi (LLAP without HA) or hsi-ha (Active/Passive; the first server is active)")
    s.add_argument("--namespace", metavar="PATH", help="znode path (default: the layout's Hive default)")
    s.add_argument("--auth", choices=AUTHS, help="hive.server2.authentication (default NONE; KERBEROS with --kerberos)")
    s.add_argument("--transport", choices=TRANSPORTS, default="binary", help="transport mode (default binary)")
    s.add_argument("--session-timeout", type=positive_float, default=4.0, metavar="S",
                   help="the servers' ZooKeeper session timeout (default 4)")
    s.add_argument("--kerberos", action="store_true",
                   help="also run an MIT KDC (realm EXAMPLE.TEST): ZooKeeper requires SASL GSSAPI, the servers "
                        "accept only Kerberos; prints the client environment and hue.ini keys to use")
    s.set_defaults(func=run)


class _Stop(BaseException):
    """Raised by the SIGINT/SIGTERM handler to unwind into the sandbox's cleanup."""


def _on_signal(signum, frame) -> None:
    # A second signal must not interrupt the cleanup the first one started; the servers it stops are not news.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    raise _Stop(signum)


def sandbox_options(args: argparse.Namespace) -> SandboxOptions:
    return SandboxOptions(servers=args.servers, layout=args.layout, namespace=args.namespace, auth=args.auth,
                          transport=args.transport, session_timeout=args.session_timeout, kerberos=args.kerberos)


def _report_ended(sandbox: Sandbox) -> None:
    """SIGCHLD: collect the servers someone killed (no zombie) and say what happens to their znodes."""
    for server in sandbox.reap():
        code = server.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        print(f"hive-ha sandbox: server={server.name} pid={server.pid} ended ({how}); its znode {server.znode} "
              f"goes when its ZooKeeper session expires (--session-timeout {sandbox.options.session_timeout:g} s)",
              file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    options = sandbox_options(args)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGCHLD] = signal.getsignal(signal.SIGCHLD)
    try:
        with Sandbox(options) as sandbox:
            print(sandbox.header_line(), flush=True)
            for line in sandbox.kerberos_lines():
                print(line, flush=True)
            for server in sandbox.servers:
                print(sandbox.server_line(server), flush=True)
            print(f"zookeeper_pid={sandbox.zookeeper.pid} zookeeper_dir={sandbox.zookeeper.dir}", flush=True)
            signal.signal(signal.SIGCHLD, lambda *_: _report_ended(sandbox))
            _report_ended(sandbox)  # one that ended before the handler was in place
            print("hive-ha sandbox: running; Ctrl-C (SIGINT) or SIGTERM stops everything", file=sys.stderr,
                  flush=True)
            while True:
                signal.pause()
    except _Stop:
        print("hive-ha sandbox: stopped; servers, ZooKeeper and temp dirs are gone", file=sys.stderr, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
