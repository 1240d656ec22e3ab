"""A local ZooKeeper plus HiveServer2-protocol test servers registered the way Hive registers them.

``hive-ha sandbox`` runs one until Ctrl-C; ``make demo`` and tests use the ``Sandbox`` class::

    with Sandbox(SandboxOptions(servers=3, layout="hs2")) as sandbox:
        print(sandbox.header_line())                   # zookeeper=127.0.0.1:PORT namespace=/hiveserver2
        hsi = sandbox.add_servers(2, "hsi-ha")         # a second layout on the same ZooKeeper
        sandbox.kill(sandbox.servers[0])               # kill -9 the process; its znode lingers until expiry
        sandbox.make_active(hsi[1])                    # HSI leader change

Each server is a separate process (``HS2ServerProcess``) that registers itself with its own ZooKeeper session, as
a real HiveServer2 does: a ``kill -9`` of its pid (by ``kill()`` or by anyone) ends that session, and its znode goes
when the session expires (``session_timeout``). Everything started is stopped, and every temp dir removed, by
``stop()``. Options go through ``SandboxOptions`` and the ``_*_kwargs`` methods, the places to extend.

The rig (test servers, ZooKeeper and KDC runners) is imported when a sandbox starts, not with this module: it needs
the ``sandbox`` extra (``extras.require`` says so), while the CLI imports this module for its flags.

``kerberos=True`` adds an MIT KDC (``hive_ha.sandbox.kdc.KerberosRig``, realm EXAMPLE.TEST): ZooKeeper requires SASL
GSSAPI (dial it as ``localhost:PORT``), the servers accept only GSSAPI as ``hive/localhost`` and are registered as
``localhost`` with Hive's secure ACL by the ``hive/localhost`` identity. While the sandbox runs, this process's
Kerberos environment (``KRB5_CONFIG``, ``KRB5CCNAME``, ``KRB5_CLIENT_KTNAME``) is that of hive plus the client users
(restored by ``stop()``); ``client_env(user)`` and ``hue_ini_keys()`` say what another process needs.
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Set

import hive_ha.extras as extras
from hive_ha.errors import ConfigError
from hive_ha.model.layouts import normalize_path

if TYPE_CHECKING:  # pragma: no cover - the rig is imported by Sandbox.start (see the module docstring)
    from hive_ha.sandbox.hs2server import HS2ServerProcess
    from hive_ha.sandbox.kdc import KerberosRig
    from hive_ha.sandbox.registrar import Registrar
    from hive_ha.sandbox.zookeeper import ZooKeeperServer

#: sandbox layout -> (registrar layout, default namespace, server name prefix)
LAYOUTS: Dict[str, tuple] = {
    "hs2": ("hs2", "/hiveserver2", "hs2"),
    "hsi": ("hs2", "/hiveserver2-hive2", "hsi"),  # HSI without HA registers like HiveServer2
    "hsi-ha": ("hsi-ha", "/hs2ActivePassiveHA-unsecure", "hsi"),
}
AUTHS = ("NOSASL", "NONE")
KERBEROS_AUTH = "KERBEROS"  # only with kerberos=True, and then the only one
#: Environment variables the Kerberos sandbox sets in this process (and restores).
_KRB_VARS = ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5RCACHEDIR", "KRB5CCNAME", "KRB5_CLIENT_KTNAME")
#: The identities this process holds in a Kerberos sandbox: hive registers, the users can be clients.
_KRB_IDENTITIES = ("hive", "hue", "alice")
TRANSPORTS = ("binary", "http")
MAX_SERVERS = 16


@dataclasses.dataclass(frozen=True)
class SandboxOptions:
    """What to start. ``session_timeout``: the servers' ZooKeeper sessions, i.e. how long a killed server's
    znode lingers. ``auth`` defaults to NONE, or KERBEROS with ``kerberos`` (a KDC, GSSAPI everywhere)."""

    servers: int = 2
    layout: str = "hs2"
    namespace: Optional[str] = None
    auth: Optional[str] = None
    transport: str = "binary"
    session_timeout: float = 4.0
    kerberos: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.servers, int) or not 1 <= self.servers <= MAX_SERVERS:
            raise ConfigError("--servers", self.servers, f"a number of servers in 1-{MAX_SERVERS}")
        if self.layout not in LAYOUTS:
            raise ConfigError("--layout", self.layout, "one of " + ", ".join(LAYOUTS))
        if self.auth is None:
            object.__setattr__(self, "auth", KERBEROS_AUTH if self.kerberos else "NONE")
        if self.kerberos and self.auth != KERBEROS_AUTH:
            raise ConfigError("--auth", self.auth, f"{KERBEROS_AUTH} (or unset) with --kerberos")
        if not self.kerberos and self.auth not in AUTHS:
            raise ConfigError("--auth", self.auth, "one of " + ", ".join(AUTHS) + f" ({KERBEROS_AUTH}: --kerberos)")
        if self.kerberos and self.transport != "binary":
            raise ConfigError("--transport", self.transport, "binary with --kerberos (the test servers speak "
                                                             "GSSAPI over the binary transport only)")
        if self.transport not in TRANSPORTS:
            raise ConfigError("--transport", self.transport, "one of " + ", ".join(TRANSPORTS))
        if not self.session_timeout > 0:
            raise ConfigError("--session-timeout", self.session_timeout, "a positive number of seconds")
        if self.namespace is not None:
            normalize_path(self.namespace)


def require_rig(options: SandboxOptions) -> None:
    """Raise ExtraRequired when the sandbox's test servers (or, with Kerberos, its GSSAPI parts) are not installed."""
    if options.kerberos:
        extras.require("the Kerberos sandbox", "sandbox", "kerberos", also=("gssapi",))
    else:
        extras.require("the sandbox", "sandbox")


@dataclasses.dataclass
class SandboxServer:
    """A server process and its registration. ``active``: hsi-ha only (None elsewhere)."""

    name: str
    layout: str
    namespace: str
    process: "HS2ServerProcess"
    active: Optional[bool] = None

    @property
    def address(self) -> str:
        return self.process.address

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    @property
    def znode(self) -> str:
        return self.process.znode


class Sandbox:
    """A ZooKeeper and HiveServer2-protocol servers; a context manager that always cleans up."""

    def __init__(self, options: SandboxOptions = SandboxOptions()) -> None:
        self.options = options
        self.zookeeper: Optional["ZooKeeperServer"] = None
        self.kerberos: Optional["KerberosRig"] = None
        self._saved_env: Optional[Dict[str, Optional[str]]] = None
        #: this process's own session (reads, e.g. ``registrar.client.get``); the servers register themselves
        self.registrar: Optional["Registrar"] = None
        self.servers: List[SandboxServer] = []
        self._processes: List["HS2ServerProcess"] = []  # every process ever created, registered or not
        self._counters: Dict[str, int] = {}
        self._ended: Set[str] = set()  # names of servers reap() reported

    # -- extension points: what the ZooKeeper, each server and each registration are given --------------------
    def _zookeeper_kwargs(self) -> dict:
        kw = self.kerberos.zookeeper_kwargs() if self.kerberos else {}
        kw["name"] = "hive-ha-sandbox-zk"
        return kw

    def _sasl_options(self) -> Optional[dict]:
        if not self.kerberos:
            return None
        return {"mechanism": "GSSAPI", "service": "zookeeper", "principal": self.kerberos.hive_principal}

    def _registrar_kwargs(self) -> dict:
        return {"sasl_options": self._sasl_options()} if self.kerberos else {}

    def _server_kwargs(self, name: str) -> dict:
        kw = {"auth": self.options.auth, "transport": self.options.transport}
        if self.kerberos:
            # The process is hive/localhost twice: the acceptor's keytab, and its ZooKeeper identity (a ticket of
            # its own from the keytab, in a memory cache no other process shares).
            kw.update(kerberos=self.kerberos.hs2_acceptor(),
                      env=self.kerberos.process_env("hive", ccache=f"MEMORY:hive-ha-sandbox-{name}"))
        return kw

    def _registration(self, registrar_layout: str, namespace: str, active: bool) -> dict:
        """What a server process registers (``HS2ServerProcess.registration``): where, how, with what data."""
        register = {"layout": registrar_layout, "namespace": namespace, "active": active,
                    "authentication": self.options.auth, "transport_mode": self.options.transport}
        spec = {"zk_hosts": self.hosts, "session_timeout": self.options.session_timeout, "register": register}
        if self.kerberos:
            from hive_ha.sandbox.kdc import SERVER_HOST

            register["principal"] = "hive/_HOST@" + self.kerberos.realm
            # A GSSAPI client asks for hive/<host it dials>: publish the principal's host, not the address.
            spec.update(sasl_options=self._sasl_options(), secure_acl=True, host=SERVER_HOST)
        return spec

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        require_rig(self.options)
        from hive_ha.sandbox.registrar import Registrar
        from hive_ha.sandbox.zookeeper import ZooKeeperServer

        if self.options.kerberos:
            self._start_kerberos()
        self.zookeeper = ZooKeeperServer(**self._zookeeper_kwargs())
        self.zookeeper.start()
        self.registrar = Registrar(self.hosts, session_timeout=self.options.session_timeout,
                                   **self._registrar_kwargs())
        self.add_servers(self.options.servers, self.options.layout, self.options.namespace)
        return self

    def _start_kerberos(self) -> None:
        """The KDC, then this process's identities: a DIR ticket-cache collection fed from one keytab with the
        keys of hive and the client users, so its own session (hive) and in-process clients coexist."""
        from hive_ha.sandbox.kdc import KerberosRig

        self.kerberos = KerberosRig()
        self.kerberos.start()
        merged = os.path.join(self.kerberos.dir, "sandbox-process.keytab")
        for user in _KRB_IDENTITIES:
            name = self.kerberos.hive_principal if user == "hive" else self.kerberos.principal(user)
            self.kerberos.kdc.export(name, merged)
        ccache = os.path.join(self.kerberos.dir, "sandbox-ccache")
        os.mkdir(ccache)
        self._saved_env = {key: os.environ.get(key) for key in _KRB_VARS}
        os.environ.update(self.kerberos.env, KRB5_CLIENT_KTNAME=merged, KRB5CCNAME="DIR:" + ccache)

    def _restore_env(self) -> None:
        saved, self._saved_env = self._saved_env, None
        for key, value in (saved or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @property
    def hosts(self) -> str:
        """The connect string (with Kerberos: ``localhost:PORT``, the host of ZooKeeper's principal)."""
        return self.kerberos.zookeeper_hosts(self.zookeeper) if self.kerberos else self.zookeeper.hosts

    @property
    def namespace(self) -> str:
        """The namespace of the first layout started (what ``discover --namespace`` takes)."""
        return self.namespace_of(self.options.layout, self.options.namespace)

    def namespace_of(self, layout: str, namespace: Optional[str] = None) -> str:
        default = LAYOUTS[layout][1]
        if self.options.kerberos and default.endswith("-unsecure"):  # Hive's HA root in secure mode
            default = default[: -len("-unsecure")] + "-sasl"
        return normalize_path(namespace or default)

    def add_servers(self, count: int, layout: str, namespace: Optional[str] = None) -> List[SandboxServer]:
        """Start ``count`` server processes, each registering itself, one after the other so that the registrations
        are as old as the names say (``hs2-1`` first); under hsi-ha the first is active (unless the namespace has an
        active one already)."""
        from hive_ha.sandbox.hs2server import HS2ServerProcess

        registrar_layout, _, prefix = LAYOUTS[layout]
        namespace = self.namespace_of(layout, namespace)
        first_active = layout == "hsi-ha" and not any(s.active for s in self.servers if s.namespace == namespace)
        added = []
        for index in range(count):
            self._counters[prefix] = self._counters.get(prefix, 0) + 1
            name = f"{prefix}-{self._counters[prefix]}"
            active = first_active and index == 0
            process = HS2ServerProcess(name, registration=self._registration(registrar_layout, namespace, active),
                                       **self._server_kwargs(name))
            added.append(SandboxServer(name, layout, namespace, process, active if layout == "hsi-ha" else None))
        self._processes.extend(server.process for server in added)  # stop() ends them even if a start fails
        for server in added:
            server.process.start()
        self.servers.extend(added)
        return added

    def kill(self, server: SandboxServer) -> None:
        """kill -9 the server process, as a crashed HiveServer2: the session it registered with is not closed, so the
        znode stays until that session expires (``session_timeout``)."""
        server.process.kill()

    def reap(self) -> List[SandboxServer]:
        """The servers whose process ended since the last call (someone killed it), collected so none stays a
        zombie. The ``hive-ha sandbox`` command calls it on SIGCHLD."""
        ended = [s for s in self.servers if s.name not in self._ended and s.process.returncode is not None]
        self._ended.update(s.name for s in ended)
        return ended

    def make_active(self, server: SandboxServer) -> None:
        """HSI leader change as Hive makes it: the old leader rewrites itself to passive first, then ``server``
        rewrites itself to active (each from its own session)."""
        for other in self.servers:
            if other is not server and other.namespace == server.namespace and other.active and other.process.alive:
                other.process.set_active(False)
                other.active = False
        server.process.set_active(True)
        server.active = True

    def stop(self) -> None:
        """Stop every server (each deregisters itself), stop ZooKeeper (and the KDC) and remove their temp dirs.
        Idempotent."""
        errors: List[BaseException] = []
        steps = [process.stop for process in self._processes]
        steps += [self.registrar.close] if self.registrar else []
        steps += [self.zookeeper.stop] if self.zookeeper else []
        steps += [self.kerberos.stop, self._restore_env] if self.kerberos else []
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - stop the rest, report the first
                errors.append(exc)
        self.registrar = None
        if errors:
            raise errors[0]

    def __enter__(self) -> "Sandbox":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- what the command prints ----------------------------------------------------------------------------
    def header_line(self) -> str:
        return f"zookeeper={self.hosts} namespace={self.namespace}"

    def client_env(self, user: str = "alice") -> Dict[str, str]:
        """The environment of a client process authenticating as ``user`` from its keytab (Kerberos only)."""
        env = self.kerberos.process_env(user)
        return {key: env[key] for key in ("KRB5_CONFIG", "KRB5_CLIENT_KTNAME", "KRB5CCNAME")}

    def hue_ini_keys(self, user: str = "hue") -> Dict[str, str]:
        """The ``[hive_ha]`` keys that make Hue (or ``--config``) read this ZooKeeper as ``user`` (Kerberos only)."""
        return {"zookeeper_auth": "sasl", "zookeeper_sasl_mechanism": "GSSAPI",
                "zookeeper_sasl_principal": self.kerberos.principal(user),
                "kerberos_keytab": self.kerberos.keytab(user)}

    def kerberos_lines(self) -> List[str]:
        """What a user needs to talk to a Kerberos sandbox from elsewhere (none without Kerberos)."""
        if not self.kerberos:
            return []
        env = self.client_env()
        return [f"KRB5_CONFIG={env['KRB5_CONFIG']}",
                "client_env " + " ".join(f"{key}={value}" for key, value in env.items()),
                "hue_ini [hive_ha] " + " ".join(f"{key}={value}" for key, value in self.hue_ini_keys().items())]

    @staticmethod
    def server_line(server: SandboxServer) -> str:
        role = "" if server.active is None else (" active" if server.active else " passive")
        return f"server={server.name} address={server.address} pid={server.pid} znode={server.znode}{role}"
