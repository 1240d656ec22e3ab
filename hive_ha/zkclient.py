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
from typing import Dict, Optional, Tuple

from .errors import ConfigError

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
    sasl_principal: Optional[str] = None
    use_ssl: bool = False
    ssl_ca: Optional[str] = None
    ssl_cert: Optional[str] = None
    ssl_key: Optional[str] = None
    ssl_key_password: Optional[str] = dataclasses.field(default=None, repr=False)
    ssl_verify: bool = True

    def __post_init__(self) -> None:
        if not self.hosts or any(c.isspace() for c in self.hosts):
            raise ConfigError("zookeeper hosts", self.hosts, "host:port[,host:port...][/chroot]")
        if self.auth_scheme not in AUTH_SCHEMES:
            raise ConfigError("zookeeper_auth", self.auth_scheme, "one of " + ", ".join(AUTH_SCHEMES))
        if self.auth_scheme == "digest" and not (self.digest_user and self.digest_password is not None):
            raise ConfigError("zookeeper_digest_user", self.digest_user, "a user and a password for digest auth")
        if self.auth_scheme == "sasl" and self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError("zookeeper_sasl_mechanism", self.sasl_mechanism, "one of " + ", ".join(SASL_MECHANISMS))
        if self.auth_scheme == "sasl" and self.sasl_mechanism == "DIGEST-MD5" and not self.sasl_username:
            raise ConfigError("zookeeper_sasl_username", self.sasl_username, "a user name for DIGEST-MD5")
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


class ClientPool:
    """Process-wide kazoo clients, one per distinct ``ZkSettings``; fork-aware."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: Dict[Tuple, object] = {}
        self._pid = os.getpid()

    def get(self, settings: ZkSettings):
        """The shared, started (connecting in the background) client for ``settings``."""
        from kazoo.client import KazooClient  # imported here: parsing and the cache need no kazoo

        with self._lock:
            self._check_fork()
            key = settings.cache_key()
            client = self._clients.get(key)
            if client is None:
                client = KazooClient(logger=logging.getLogger("hive_ha.kazoo"), **settings.kazoo_kwargs())
                client.start_async()
                self._clients[key] = client
                log.info("started ZooKeeper client for %s", settings.hosts)
            return client

    def close_all(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
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
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a fork we were not told about (register_at_fork is the norm)
            self._clients = {}
            self._pid = os.getpid()


POOL = ClientPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.after_fork_in_child)
