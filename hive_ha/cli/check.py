"""``hive-ha check``: diagnose a deployment (``hive_ha.clients.deployment_check``) and print the report: aligned text
for people, one JSON document for programs."""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from hive_ha.cli.common import (EXIT_OK, EXIT_PROBLEMS, EXIT_UNREACHABLE, REGISTRY_EXIT_CODES, add_registry_flags,
                                password_from_env, positive_float, zk_settings)
from hive_ha.clients.deployment_check import FAIL, OK, SKIP, WARN, Credentials, Report, run_check
from hive_ha.clients.tls import TlsSettings, check_files
from hive_ha.core.config import load_config
from hive_ha.errors import ConfigError
from hive_ha.model.layouts import Service

_LABELS = {OK: "OK", WARN: "WARN", SKIP: "SKIP", FAIL: "FAIL"}


def render_text(report: Report, strict: bool = False) -> str:
    service = report.service
    lines = [f"hive-ha check: layout {service.layout.name}, namespace {service.namespace}, "
             f"ZooKeeper {report.zk_hosts}"]
    for f in report.findings:
        took = f" ({f.elapsed_ms:.0f} ms)" if f.elapsed_ms is not None else ""
        lines.append(f"  {_LABELS[f.status]:<5} {f.item:<13} {f.subject}: {f.detail}{took}")
        if f.hint and f.status != OK:
            lines.append(f"        next: {f.hint}")
    counts = ", ".join(f"{report.count(s)} {_LABELS[s].lower()}" for s in (OK, WARN, SKIP, FAIL))
    verdict = "healthy" if report.healthy(strict) else "PROBLEMS FOUND"
    lines.append(f"{verdict}: {counts}")
    return "\n".join(lines) + "\n"


def render_json(report: Report, strict: bool = False) -> str:
    return json.dumps(report.as_dict(strict), indent=2) + "\n"


def register(subparsers, common: argparse.ArgumentParser) -> None:
    c = subparsers.add_parser(
        "check", parents=[common], help="diagnose a deployment: ZooKeeper, namespace, each server's TCP and session",
        description="Check ZooKeeper (reachable, with which auth), the namespace, every registration, and each "
                    "server by TCP and by a real OpenSession with the transport and authentication it published.",
        epilog=REGISTRY_EXIT_CODES + "; 5 a problem found (each failed item says what to check next). Warnings "
               "(malformed znodes) and skipped items do not fail the check unless --strict.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_registry_flags(c)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--user", metavar="USER", help="user for the test sessions (default: the login name)")
    c.add_argument("--password-env", metavar="VAR",
                   help="environment variable holding the password of --user (LDAP/PAM/CUSTOM servers)")
    c.add_argument("--probe-timeout", type=positive_float, default=5.0, metavar="S",
                   help="timeout of each TCP connect and OpenSession (default 5)")
    c.add_argument("--strict", action="store_true", help="warnings fail the check too")
    tls = c.add_argument_group("TLS to the servers (those publishing hive.server2.use.SSL=true; always verified "
                               "unless --tls-no-verify)")
    tls.add_argument("--tls-ca", metavar="PEM",
                     help="trust only the CAs in this file (default: the system trust store)")
    tls.add_argument("--tls-cert", metavar="PEM", help="client certificate to present, for servers that ask for one")
    tls.add_argument("--tls-key", metavar="PEM", help="its unencrypted private key (default: in --tls-cert)")
    tls.add_argument("--tls-no-verify", action="store_true",
                     help="do not verify the servers' certificates and host names (to test only; logged as a warning)")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    service = Service.of(args.layout, args.namespace)
    settings = zk_settings(args)
    password = password_from_env("--password-env", args.password_env) if args.password_env else None
    creds = Credentials(args.user or _login_name(), password, _tls(args))
    hue_kerberos = load_config(args.config).hue_kerberos if args.config else None  # a Kerberized Hue's hue.ini
    report = run_check(settings, service, creds, zk_timeout=args.timeout, probe_timeout=args.probe_timeout,
                       hue_kerberos=hue_kerberos)
    render = render_json if args.json else render_text
    sys.stdout.write(render(report, args.strict))
    if report.findings[0].item == "zookeeper" and report.findings[0].status != "ok":
        return EXIT_UNREACHABLE
    return EXIT_OK if report.healthy(args.strict) else EXIT_PROBLEMS


_TLS_FLAGS = {"ssl_ca": "--tls-ca", "ssl_cert": "--tls-cert", "ssl_key": "--tls-key"}


def _tls(args: argparse.Namespace) -> TlsSettings:
    """The TLS flags, their files read now: an unusable one is a usage error (exit 2), not a finding per server."""
    try:
        tls = TlsSettings(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key, verify=not args.tls_no_verify)
        check_files(tls)
    except ConfigError as exc:
        raise ConfigError(_TLS_FLAGS.get(exc.key, exc.key), exc.value, exc.allowed) from None
    return tls


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "hive-ha-check"
