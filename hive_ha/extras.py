"""Which optional extra provides what: the one place a command asks before it needs more than kazoo.

A plain ``pip install hive-ha`` brings kazoo and configobj only; ``discover``, ``watch``, ``check``'s ZooKeeper part,
``emit`` and ``monitor`` need nothing else. What needs more asks here first and, when something is missing, raises
``ExtraRequired`` naming the extra to install (the CLI prints it and exits 2)::

    extras.require("the sandbox", "sandbox")              # before importing the test servers
    extras.missing("dbapi")                               # -> ("TCLIService", ...), or () when installed
"""
from __future__ import annotations

import importlib.util
from typing import Dict, Iterable, Optional, Tuple

from hive_ha.errors import ExtraRequired

#: extra (setup.py) -> the top-level modules of it that hive-ha imports.
MODULES: Dict[str, Tuple[str, ...]] = {
    # The HiveServer2-protocol test servers speak Thrift with PyHive's generated TCLIService.
    "sandbox": ("TCLIService", "thrift"),
    # A real OpenSession (hive_ha.connect, check's session probe): the same plus SASL over Thrift.
    "dbapi": ("pyhive", "TCLIService", "thrift", "thrift_sasl", "puresasl"),
    # kazoo's SASL client (DIGEST-MD5 and GSSAPI) and, for GSSAPI, the Kerberos bindings: pykerberos (pure-sasl's)
    # and python-gssapi (keeps a ticket cache of hive-ha's own to hive-ha's threads).
    "kerberos": ("puresasl", "kerberos", "gssapi"),
}


def missing(*extras: str, only: Optional[Iterable[str]] = None, also: Iterable[str] = ()) -> Tuple[str, ...]:
    """The modules that cannot be imported here: those of ``extras`` (or just ``only`` of them) and ``also``."""
    wanted = list(only) if only is not None else [name for extra in extras for name in MODULES[extra]]
    return tuple(name for name in dict.fromkeys(wanted + list(also)) if importlib.util.find_spec(name) is None)


def require(what: str, *extras: str, only: Optional[Iterable[str]] = None, also: Iterable[str] = ()) -> None:
    """Raise ``ExtraRequired`` when something ``what`` needs is not installed: the modules of ``extras`` (or just
    ``only`` of them), and ``also``, packages no extra brings (named like their modules)."""
    also = tuple(also)
    absent = missing(*extras, only=only, also=also)
    if absent:
        raise ExtraRequired(what, absent, install_hint(*extras, also=also))


def install_hint(*extras: str, also: Iterable[str] = ()) -> str:
    """The pip command that installs ``extras`` (and the packages ``also``)."""
    return f"pip install 'hive-ha[{','.join(extras)}]'" + "".join(f" {name}" for name in also)
