"""What the commands share: exit codes, flag value types, and the flags of every command that reads the registry
(``discover``, ``watch``, ``check``) with the ZooKeeper settings they make."""
from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional

import hive_ha.extras as extras
from hive_ha.core.config import load_config
from hive_ha.errors import ConfigError
from hive_ha.io.zookeeper import ZkSettings
from hive_ha.model.layouts import LAYOUTS

EXIT_OK, EXIT_USAGE, EXIT_NO_ENDPOINT, EXIT_UNREACHABLE = 0, 2, 3, 4
EXIT_PROBLEMS = 5
#: What every exit code means: the epilog of ``hive-ha --help`` and ``hive-ha discover --help``.
EXIT_CODES_HELP = """
Exit codes (all commands):
  0  success
  2  usage or configuration error (bad flag, bad value, unreadable file), or an optional extra is missing
  3  no endpoint available (the NoEndpointAvailable message is printed)
  4  ZooKeeper unreachable within --timeout and nothing known
  5  check: the deployment has a problem (each failed item is in the report)
  130, 143  monitor: its stop was cut short by a second SIGINT/SIGTERM, or did not finish within 10 s
"""
REGISTRY_EXIT_CODES = "Exit codes: 0 success; 2 bad usage or configuration; 4 ZooKeeper unreachable within --timeout"


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
                         digest_password=password_from_env("--zk-password-env", args.zk_password_env,
                                                           "holding the password for --zk-digest-user"))
    if args.zk_sasl_user:
        overrides.update(auth_scheme="sasl", sasl_mechanism="DIGEST-MD5", sasl_username=args.zk_sasl_user,
                         sasl_password=password_from_env("--zk-password-env", args.zk_password_env,
                                                         "holding the password for --zk-sasl-user"))
    if args.zk_tls_ca:
        overrides.update(use_ssl=True, ssl_ca=args.zk_tls_ca)
    settings = dataclasses.replace(base, **overrides)
    if settings.auth_scheme == "sasl":  # kazoo's SASL client is pure-sasl; GSSAPI also needs the Kerberos bindings
        extras.require(f"ZooKeeper SASL {settings.sasl_mechanism}", "kerberos",
                       only=None if settings.sasl_mechanism == "GSSAPI" else ("puresasl",))
    return settings


def password_from_env(flag: str, var: Optional[str], holding: str = "", *, allow_empty: bool = True) -> str:
    """The password in the environment variable ``var`` that ``flag`` names. Passwords never go on the command line
    (``ps`` shows it); a missing variable (or an empty one, unless ``allow_empty``) is a ``ConfigError``."""
    value = os.environ.get(var) if var else None
    if value is None or (not value and not allow_empty):
        raise ConfigError(flag, var, "the name of a set environment variable" + (f" {holding}" if holding else ""))
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value
