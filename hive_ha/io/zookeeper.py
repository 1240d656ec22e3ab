"""ZooKeeper connection settings and the one long-lived kazoo client per process and ensemble.

Clients are shared by every watcher that uses the same settings. After ``fork()`` the child drops
the inherited clients without closing them (closing would end the parent's session over the shared
socket) and builds its own on first use.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Dict, Optional, Tuple

from hive_ha.errors import ConfigError, KerberosLoginFailed, UnsafeTicketCache, ZooKeeperAuthFailed
from hive_ha.model.addressing import host_principal
from hive_ha.model.values import choice

log = logging.getLogger(__name__)

AUTH_SCHEMES = ("none", "digest", "sasl")
SASL_MECHANISMS = ("DIGEST-MD5", "GSSAPI")


@dataclasses.dataclass(frozen=True)
class ZkSettings:
    """How to reach and authenticate to one ZooKeeper ensemble.

    ``hosts`` is kazoo's connect string and may end in a chroot (``zk1:2181,zk2:2181/hive``).
    Secrets are excluded from ``repr`` so a settings object can be logged.
    """

    hosts: str = "localhost:2181"
    connect_timeout: float = 30.0
    session_timeout: float = 30.0
    read_only: bool = False
    auth_scheme: str = "none"
    digest_user: Optional[str] = None
    digest_password: Optional[str] = dataclasses.field(default=None, repr=False)
    sasl_mechanism: str = "GSSAPI"
    sasl_service: str = "zookeeper"
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = dataclasses.field(default=None, repr=False)
    sasl_principal: Optional[str] = None  # GSSAPI: the CLIENT principal (None: whatever the ticket cache holds)
    kerberos_keytab: Optional[str] = None  # GSSAPI: log in from this keytab and keep the ticket fresh (kerberos.py)
    kerberos_ccache: Optional[str] = None  # GSSAPI: the ticket cache to use (with a keytab: the one to fill)
    use_ssl: bool = False
    ssl_ca: Optional[str] = None
    ssl_cert: Optional[str] = None
    ssl_key: Optional[str] = None
    ssl_key_password: Optional[str] = dataclasses.field(default=None, repr=False)
    ssl_verify: bool = True

    def __post_init__(self) -> None:
        if not self.hosts or any(c.isspace() for c in self.hosts):
            raise ConfigError("zookeeper hosts", self.hosts, "host:port[,host:port...][/chroot]")
        choice("zookeeper_auth", self.auth_scheme, AUTH_SCHEMES, fold=None)
        if self.auth_scheme == "digest" and not (self.digest_user and self.digest_password is not None):
            raise ConfigError("zookeeper_digest_user", self.digest_user, "a user and a password for digest auth")
        if self.auth_scheme == "sasl":
            choice("zookeeper_sasl_mechanism", self.sasl_mechanism, SASL_MECHANISMS, fold=None)
        if self.auth_scheme == "sasl" and self.sasl_mechanism == "DIGEST-MD5" and not self.sasl_username:
            raise ConfigError("zookeeper_sasl_username", self.sasl_username, "a user name for DIGEST-MD5")
        if (self.kerberos_keytab or self.kerberos_ccache) and not self.uses_gssapi:
            raise ConfigError("kerberos_keytab", self.kerberos_keytab or self.kerberos_ccache,
                              "unset unless zookeeper_auth=sasl and zookeeper_sasl_mechanism=GSSAPI")
        if self.kerberos_keytab and not self.sasl_principal:
            raise ConfigError("zookeeper_sasl_principal", self.sasl_principal,
                              f"the client principal to log in as from the keytab {self.kerberos_keytab}")
        if self.kerberos_keytab:
            self.kerberos_login()  # validates the keytab path and ticket cache now, not at first use
        for key in ("connect_timeout", "session_timeout"):
            if not getattr(self, key) > 0:
                raise ConfigError(key, getattr(self, key), "a positive number of seconds")

    def kazoo_kwargs(self) -> dict:
        """Arguments for ``KazooClient`` (kazoo 2.8 API)."""
        kw: dict = {
            "hosts": self.hosts,
            "timeout": self.session_timeout,
            "read_only": self.read_only,
            # Reconnect forever with a capped backoff: the watcher must outlive any outage.
            "connection_retry": {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 5.0},
            "command_retry": {"max_tries": 3, "delay": 0.1, "backoff": 2, "max_delay": 2.0},
        }
        if self.auth_scheme == "digest":
            kw["auth_data"] = [("digest", f"{self.digest_user}:{self.digest_password}")]
        elif self.auth_scheme == "sasl":
            sasl = {"mechanism": self.sasl_mechanism, "service": self.sasl_service}
            if self.sasl_mechanism == "DIGEST-MD5":
                sasl.update(username=self.sasl_username, password=self.sasl_password or "")
            elif self.sasl_principal:
                sasl["principal"] = self.sasl_principal
            kw["sasl_options"] = sasl
        if self.use_ssl:
            kw.update(use_ssl=True, verify_certs=self.ssl_verify, ca=self.ssl_ca,
                      certfile=self.ssl_cert, keyfile=self.ssl_key, keyfile_password=self.ssl_key_password)
        return kw

    def cache_key(self) -> Tuple:
        return dataclasses.astuple(self)

    @property
    def uses_gssapi(self) -> bool:
        return self.auth_scheme == "sasl" and self.sasl_mechanism == "GSSAPI"

    def kerberos_login(self):
        """The keytab login to keep fresh (``kerberos.KerberosLogin``), or None to use the ticket cache as is."""
        if not (self.uses_gssapi and self.kerberos_keytab):
            return None
        from hive_ha.io.kerberos import KerberosLogin

        return KerberosLogin(self.sasl_principal or "", self.kerberos_keytab, self.kerberos_ccache)

    @property
    def ticket_cache(self) -> Optional[str]:
        """The ticket cache hive-ha's GSSAPI threads use (``FILE:...``): the keytab login's, or ``kerberos_ccache``;
        None: the process's default cache, whatever ``KRB5CCNAME`` names."""
        if not self.uses_gssapi:
            return None
        login = self.kerberos_login()
        if login is not None:
            return login.cache_name
        if self.kerberos_ccache:
            from hive_ha.io.kerberos import cache_name

            return cache_name(self.kerberos_ccache)
        return None

    def first_host(self) -> str:
        """The host of the first server in the connect string: what GSSAPI builds ``<service>/<host>`` from."""
        first = self.hosts.split("/", 1)[0].split(",", 1)[0].strip()
        if first.startswith("["):  # [v6]:port
            return first[1:first.find("]")]
        return first.rsplit(":", 1)[0] if first.count(":") == 1 else first


def ticket_in_use(settings: ZkSettings, hue=None):
    """The ticket hive-ha's GSSAPI clients use with ``settings`` (a ``kerberos.TicketState``; None without GSSAPI),
    read for diagnostics; ``hue``: the Kerberized Hue's own login (``kerberos.HueKerberos``), if any."""
    if not settings.uses_gssapi:
        return None
    from hive_ha.io import kerberos

    login, cache = settings.kerberos_login(), settings.ticket_cache
    if login is not None:
        return kerberos.ticket_state("keytab", "hive-ha (kinit from kerberos_keytab)", cache, settings.sasl_principal,
                                     kerberos.renewer_of(login))
    if cache and hue is not None and hue.is_cache(cache):
        return kerberos.ticket_state("hue", "Hue's kt_renewer", cache, settings.sasl_principal)
    if cache:
        return kerberos.ticket_state("cache", "not hive-ha: whoever writes kerberos_ccache", cache,
                                     settings.sasl_principal)
    return kerberos.ticket_state("process", "not hive-ha: the process's ticket cache (KRB5CCNAME)",
                                 kerberos.process_ccache(), settings.sasl_principal)


class ClientPool:
    """Process-wide kazoo clients, one per distinct ``ZkSettings``; fork-aware.

    ``_lock`` guards the two tables only and is never held across a login, a client's creation or a wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: Dict[Tuple, object] = {}
        self._guards: Dict[Tuple, "_SaslGuard"] = {}
        self._pid = os.getpid()

    def get(self, settings: ZkSettings):
        """The shared, started (connecting in the background) client for ``settings``.

        With SASL GSSAPI, the first call also logs in (``kinit`` from a keytab, up to 60 s) and waits (up to
        ``connect_timeout``) for a first authenticated operation, and every call checks the client is still
        alive: a Kerberos failure raises ``ZooKeeperAuthFailed`` instead of leaving a dead or never-authenticated
        client behind. Two threads creating the same client at once each build one; the first to register it
        wins and the other's (never started) is dropped.
        """
        key = settings.cache_key()
        with self._lock:
            self._check_fork()
            client, guard = self._clients.get(key), self._guards.get(key)
        new = client is None
        if new:
            client, guard, new = self._create(key, settings)
        if guard is not None:
            if settings.kerberos_keytab:
                _kerberos_login(settings)  # restarts the renewer if it was lost (fork)
            guard.check(first=new)
        return client

    def _create(self, key: Tuple, settings: ZkSettings):
        candidate = new_client(settings)
        candidate_guard = _SaslGuard(candidate, settings) if settings.uses_gssapi else None
        with self._lock:
            self._check_fork()
            client = self._clients.get(key)
            if client is None:
                self._clients[key] = client = candidate
                if candidate_guard is not None:
                    self._guards[key] = candidate_guard
            guard = self._guards.get(key)
        if client is not candidate:  # another thread was first
            if candidate_guard is not None:
                candidate_guard.close()
            candidate.close()
            return client, guard, False
        candidate.start_async()
        log.info("started ZooKeeper client for %s", settings.hosts)
        return candidate, guard, True

    def peek(self, settings: ZkSettings):
        """The client for ``settings`` if one exists in this process, else None (never creates one)."""
        with self._lock:
            self._check_fork()
            return self._clients.get(settings.cache_key())

    def close_all(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            guards, self._guards = list(self._guards.values()), {}
        for guard in guards:
            guard.close()
        for client in clients:
            try:
                client.stop()
                client.close()
            except Exception:  # noqa: BLE001 - best effort during shutdown
                log.debug("error closing ZooKeeper client", exc_info=True)

    def after_fork_in_child(self) -> None:
        # The inherited lock may be held by a thread that did not survive the fork.
        self._lock = threading.Lock()
        self._clients = {}
        self._guards = {}
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a fork we were not told about (register_at_fork is the norm)
            self._clients = {}
            self._guards = {}
            self._pid = os.getpid()


def new_client(settings: ZkSettings, **overrides):
    """A new, unstarted kazoo client for ``settings`` (``kazoo_kwargs()``, ``overrides`` replacing some of them): the
    one place a client is built. With SASL GSSAPI it logs in first (``kinit`` from the keytab, up to 60 s, or the
    configured ticket cache), raising ``ZooKeeperAuthFailed`` when that fails; the client's threads then use that
    ticket cache (``settings.ticket_cache``), and the rest of the process keeps its own."""
    from kazoo.client import KazooClient  # imported here: parsing and the cache need no kazoo

    kwargs = {**settings.kazoo_kwargs(), **overrides}
    if settings.uses_gssapi:
        _kerberos_login(settings)
        if settings.ticket_cache:
            kwargs.setdefault("handler", _ticket_cache_handler(settings.ticket_cache))
    return KazooClient(logger=logging.getLogger("hive_ha.kazoo"), **kwargs)


def _kerberos_login(settings: ZkSettings) -> None:
    """With a keytab, log in and keep the ticket fresh; with a given ticket cache, check it may be used."""
    from hive_ha import extras
    from hive_ha.io import kerberos

    login = settings.kerberos_login()
    if settings.ticket_cache:  # kept to hive-ha's own threads, which needs python-gssapi
        extras.require("a Kerberos ticket cache of hive-ha's own (kerberos_keytab, kerberos_ccache)", "kerberos",
                       only=("gssapi",))
    try:
        if login is not None:
            kerberos.ensure_login(login)
        elif settings.kerberos_ccache:
            problem = kerberos.cache_problem(settings.kerberos_ccache, settings.sasl_principal)
            if problem:
                raise UnsafeTicketCache(settings.sasl_principal or "(any principal)", "(no keytab)",
                                        settings.kerberos_ccache, problem)
    except KerberosLoginFailed as exc:
        raise ZooKeeperAuthFailed(settings.hosts, settings.sasl_principal, settings.sasl_service, str(exc)) from None


def _ticket_cache_handler(ccache: str):
    """kazoo's threading handler, whose threads (the connection loop, which runs SASL, and the callback workers) use
    ``ccache`` as their default ticket cache: the process's ``KRB5CCNAME`` stays what it is."""
    from kazoo.handlers.threading import SequentialThreadingHandler

    from hive_ha.io import kerberos

    class TicketCacheHandler(SequentialThreadingHandler):
        def spawn(self, func, *args, **kwargs):
            def run():
                kerberos.use_in_this_thread(ccache)
                try:
                    return func(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - kazoo's connection loop ends on a GSSAPI error (no ticket
                    # yet): said once here instead of an unhandled exception in a thread; _SaslGuard revives the client
                    log.warning("hive-ha: a ZooKeeper client thread ended: %s: %s", type(exc).__name__, exc)
                    return None

            return super().spawn(run)

    return TicketCacheHandler()


class _SaslGuard:
    """Watches one GSSAPI client for the ways kazoo 2.8 fails silently.

    kazoo reports CONNECTED before SASL runs; a failed SASL exchange ends its connection thread (AUTH_FAILED, or an
    unhandled pykerberos error on a bad client principal), after which the client never reconnects. The guard
    proves authentication with a first operation, turns a dead thread into ``ZooKeeperAuthFailed`` (diagnosed
    with a direct GSSAPI attempt), and restarts the client with backoff so it recovers once tickets are fixed.
    """

    BACKOFF = (1.0, 30.0)

    def __init__(self, client, settings: ZkSettings) -> None:
        self.client = client
        self.settings = settings
        self.error: Optional[str] = None
        self._failures = 0
        self._closed = False
        self._lock = threading.Lock()
        self._timer: Optional[threading.Timer] = None
        client.add_listener(self._on_state)

    def _dead(self) -> bool:
        # kazoo 2.8 internals: the connection loop ended while nobody asked the client to stop. Its event is also set
        # from start_async() until the new thread enters the loop, so the thread itself must be gone too.
        connection = self.client._connection
        routine = getattr(connection, "_connection_routine", None)
        return (connection.connection_stopped.is_set() and not self.client._stopped.is_set()
                and not (routine is not None and routine.is_alive()))

    def check(self, first: bool = False) -> None:
        """Raise ZooKeeperAuthFailed if the login failed; on ``first`` wait for proof of a working login."""
        if first:
            self._verify(self.settings.connect_timeout)
        elif self._dead() and self.error is None:
            self._record(self._diagnose("the ZooKeeper client's connection thread stopped during SASL"))
        if self.error is not None:
            raise ZooKeeperAuthFailed(self.settings.hosts, self.settings.sasl_principal, self.settings.sasl_service,
                                      self.error)

    def _verify(self, timeout: float) -> bool:
        """Wait for a first authenticated round trip; record a diagnosis if the login fails. True on success."""
        from kazoo.exceptions import AuthFailedError, ConnectionClosedError, KazooException

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._closed:
            if self._dead():
                self._record(self._diagnose("the SASL exchange failed and stopped the ZooKeeper client"))
                return False
            if self.client.connected:
                try:
                    # Queued behind the SASL exchange: it completes only once the login succeeded.
                    self.client.exists_async("/").get(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
                    self._succeeded()
                    return True
                except (AuthFailedError, ConnectionClosedError):
                    continue  # the thread ends right after: the next round diagnoses it
                except KazooException:
                    pass  # connection loss or timeout: still trying
            self.client.handler.sleep_func(0.05)
        return False  # not reachable (yet): an outage, not a login problem

    def _diagnose(self, what: str) -> str:
        from hive_ha.io import kerberos

        host = self.settings.first_host()
        service, principal = self.settings.sasl_service, self.settings.sasl_principal
        ccache = self.settings.ticket_cache
        with kerberos.thread_ccache(ccache):  # the ticket the client's own threads use
            gss = kerberos.initiate_error(service, host, principal)
        wanted = host_principal(service, host)
        reason = f"{what}; GSSAPI says: {gss}" if gss else (
            f"{what} although a ticket for {wanted} was obtained: check the server's keytab, its JAAS "
            f"principal (must be {wanted}@<realm>) and its zookeeper.sasl settings")
        return f"{reason}. To check: {kerberos.hints(gss, service, host, principal, ccache)}"

    def _record(self, message: str) -> None:
        with self._lock:
            first = self.error is None
            self.error = message
        if first:
            log.error("ZooKeeper SASL login failed (%s): %s", self.settings.hosts, message)

    def _succeeded(self) -> None:
        with self._lock:
            recovered, self.error, self._failures = self.error is not None, None, 0
        if recovered:
            log.warning("ZooKeeper SASL login to %s works again", self.settings.hosts)

    # -- revival: a LOST client whose loop ended is restarted with backoff
    def _on_state(self, state) -> None:
        from kazoo.protocol.states import KazooState

        if state == KazooState.LOST and not self._closed:
            with self._lock:
                self._failures += 1
                delay = min(self.BACKOFF[1], self.BACKOFF[0] * 2 ** (self._failures - 1))
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = threading.Timer(delay, self._revive)
                self._timer.daemon = True
                self._timer.start()

    def _revive(self) -> None:
        if self._closed or not self._dead():
            return  # still looping (an expired session reconnects by itself) or stopped on purpose
        if self.error is None:
            self._record(self._diagnose("the ZooKeeper client's connection thread stopped during SASL"))
        log.info("restarting the ZooKeeper client for %s after a SASL failure", self.settings.hosts)
        try:
            # start_async alone: stop() would queue a Close that the new connection would send first.
            self.client.start_async()
        except Exception:  # noqa: BLE001 - the next LOST schedules another try
            log.debug("restart of the ZooKeeper client failed", exc_info=True)
            return
        self._verify(self.settings.connect_timeout)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        try:
            self.client.remove_listener(self._on_state)
        except Exception:  # noqa: BLE001
            pass


POOL = ClientPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.after_fork_in_child)
