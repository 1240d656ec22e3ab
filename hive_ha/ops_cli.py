"""``hive-ha watch``, ``hive-ha check`` and ``hive-ha sandbox``: the operator's commands.

This module only maps flags to ``watch_cmd``, ``check`` (+ ``check_render``) and ``sandbox``.
"""
from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys

from . import check_render
from .check import Credentials, run_check
from .cli import EXIT_OK, EXIT_PROBLEMS, EXIT_UNREACHABLE, add_registry_flags, zk_settings
from .errors import ConfigError
from .layouts import Service
from .sandbox import AUTHS, LAYOUTS, MAX_SERVERS, TRANSPORTS, Sandbox, SandboxOptions
from .watch_cmd import watch

EXIT_CODES = "Exit codes: 0 success; 2 bad usage or configuration; 4 ZooKeeper unreachable within --timeout"


def register(subparsers, common: argparse.ArgumentParser) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    w = subparsers.add_parser(
        "watch", parents=[common], help="live view: one timestamped line per endpoint change",
        description="Print the endpoints registered in ZooKeeper, then one ISO-8601 timestamped line per change "
                    "(added, removed, changed, leader, no-leader, malformed, stale, live) until Ctrl-C.",
        epilog=EXIT_CODES + " (before the first reading). Ctrl-C ends with 0.", formatter_class=raw)
    add_registry_flags(w)
    w.add_argument("--json", action="store_true", help="one JSON object per line")
    w.add_argument("--count", type=_positive_int, metavar="N", help="exit after N change lines (initial set excluded)")
    w.add_argument("--duration", type=_positive_float, metavar="S", help="exit after S seconds")
    w.set_defaults(func=cmd_watch)

    c = subparsers.add_parser(
        "check", parents=[common], help="diagnose a deployment: ZooKeeper, namespace, each server's TCP and session",
        description="Check ZooKeeper (reachable, with which auth), the namespace, every registration, and each "
                    "server by TCP and by a real OpenSession with the transport and authentication it published.",
        epilog=EXIT_CODES + "; 5 a problem found (each failed item says what to check next). Warnings (malformed "
               "znodes) and skipped items do not fail the check unless --strict.", formatter_class=raw)
    add_registry_flags(c)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--user", metavar="USER", help="user for the test sessions (default: the login name)")
    c.add_argument("--password-env", metavar="VAR",
                   help="environment variable holding the password of --user (LDAP/PAM/CUSTOM servers)")
    c.add_argument("--probe-timeout", type=_positive_float, default=5.0, metavar="S",
                   help="timeout of each TCP connect and OpenSession (default 5)")
    c.add_argument("--strict", action="store_true", help="warnings fail the check too")
    c.set_defaults(func=cmd_check)

    s = subparsers.add_parser(
        "sandbox", parents=[common], help="run a local ZooKeeper and HiveServer2-protocol test servers until Ctrl-C",
        description="Start a ZooKeeper and N HiveServer2-protocol test servers registered in LAYOUT, print "
                    "'zookeeper=HOST:PORT namespace=/PATH' then one line per server, run until SIGINT/SIGTERM, "
                    "then stop everything and remove the temp dirs.",
        epilog="Exit codes: 0 stopped cleanly; 2 bad usage.", formatter_class=raw)
    s.add_argument("--servers", type=_positive_int, default=2, metavar="N",
                   help=f"number of servers (1-{MAX_SERVERS}, default 2)")
    s.add_argument("--layout", choices=list(LAYOUTS), default="hs2",
                   help="hs2, hsi (LLAP without HA) or hsi-ha (Active/Passive; the first server is active)")
    s.add_argument("--namespace", metavar="PATH", help="znode path (default: the layout's Hive default)")
    s.add_argument("--auth", choices=AUTHS, help="hive.server2.authentication (default NONE; KERBEROS with --kerberos)")
    s.add_argument("--transport", choices=TRANSPORTS, default="binary", help="transport mode (default binary)")
    s.add_argument("--session-timeout", type=_positive_float, default=4.0, metavar="S",
                   help="the servers' ZooKeeper session timeout (default 4)")
    s.add_argument("--kerberos", action="store_true",
                   help="also run an MIT KDC (realm EXAMPLE.TEST): ZooKeeper requires SASL GSSAPI, the servers "
                        "accept only Kerberos; prints the client environment and hue.ini keys to use")
    s.set_defaults(func=cmd_sandbox)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


# -- watch -------------------------------------------------------------------------------------------------------
def cmd_watch(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    try:
        watch(zk_settings(args), service, sys.stdout, as_json=args.json, timeout=args.timeout, count=args.count,
              duration=args.duration)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live view ends
    return EXIT_OK


# -- check -------------------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    settings = zk_settings(args)
    password = None
    if args.password_env:
        if args.password_env not in os.environ:
            raise ConfigError("--password-env", args.password_env, "the name of a set environment variable")
        password = os.environ[args.password_env]
    creds = Credentials(args.user or _login_name(), password)
    report = run_check(settings, service, creds, zk_timeout=args.timeout, probe_timeout=args.probe_timeout)
    render = check_render.render_json if args.json else check_render.render_text
    sys.stdout.write(render(report, args.strict))
    if report.findings[0].item == "zookeeper" and report.findings[0].status != "ok":
        return EXIT_UNREACHABLE
    return EXIT_OK if report.healthy(args.strict) else EXIT_PROBLEMS


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "hive-ha-check"


# -- sandbox -----------------------------------------------------------------------------------------------------
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


def cmd_sandbox(args: argparse.Namespace) -> int:
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
