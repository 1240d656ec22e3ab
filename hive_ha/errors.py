"""The one exception tree of hive-ha.

::

    HiveHAError                      base of everything raised on purpose
    ├── ConfigError(ValueError)      a setting is invalid; names the key, the value and what is allowed
    │   ├── LoadBalancerConfigRejected
    │   │                            haproxy/nginx/apache2 refused a generated config (carries its output)
    │   ├── UnusableEndpoint         registered servers publish settings this client cannot use (SAML, a TLS mode
    │   │                            the driver lacks, ...): skipped, the others tried; raised when none is left
    │   └── CertificateNotVerified   a server's TLS certificate failed verification (untrusted CA, expired, another
    │                                host name): this client's trust settings, so raised at once, no server excluded
    ├── MalformedRegistration(ValueError)
    │                                a znode cannot be read as an endpoint; callers skip it with one warning
    ├── KerberosLoginFailed          no ticket could be obtained from the keytab (names principal, keytab, kinit's words)
    ├── ExtraRequired                what was asked needs an optional extra that is not installed (names the pip command)
    ├── ServerConnectionError        a connection-level failure of one server (``address``, ``kind``; the driver's
    │   │                            error is ``__cause__``), mapped by type in ``failover.map_connection_errors``
    │   ├── ServerUnreachable        nothing reached the server: refused, unreachable, connect timeout (kind "connect")
    │   └── ServerConnectionLost     the connection broke or timed out once open (kind "read")
    └── DiscoveryError               no usable endpoint could be produced
        ├── RegistryUnavailable      ZooKeeper is unreachable and nothing is known from before
        │   └── ZooKeeperAuthFailed  ZooKeeper refused our SASL (Kerberos) login; names principal, service, what to check
        ├── NoEndpointAvailable      the registry was read (or is known) but no endpoint is usable:
        │                            none registered, all dead (hive_ha.core.health) or skipped, or no HA leader
        ├── AllServersFailed         opening a connection failed on every server tried (the Hive JDBC
        │                            driver's final error; the last driver error is its __cause__)
        └── DiscoveryClosed          a lookup on a ``Discovery`` after its ``close()``
    LoadBalancerCommandFailed        a load-balancer command failed (reload signal, runtime API over the
                                     admin socket); names the binary and the command, carries its answer

Lower-layer errors (kazoo, sockets, Thrift) never escape the core's public API unmapped. Texts taken from
ZooKeeper are bounded (``bounded``): a 1 MB znode gives a short warning, not a 1 MB log line.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Protocol, Sequence

from hive_ha.redact import HIDDEN


class Describable(Protocol):
    """What an error needs of an endpoint it names (``hive_ha.model.endpoint.Endpoint`` is one); errors sit below
    the model, so they know it by this shape only."""

    def describe(self) -> str: ...


#: The most characters of an untrusted value (a znode name, a reason quoting its data) put in a message.
MAX_TEXT = 200


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class HiveHAError(Exception):
    """Base class of every error hive-ha raises on purpose."""


class ConfigError(HiveHAError, ValueError):
    """An invalid setting. ``key``, ``value`` and ``allowed`` say which, what and what would do."""

    def __init__(self, key: str, value: object, allowed: str, *, secret: bool = False) -> None:
        self.key = key
        self.value = HIDDEN if secret else value
        self.allowed = allowed
        super().__init__(f"invalid value {self.value!r} for {key}: expected {allowed}")


class LoadBalancerConfigRejected(ConfigError):
    """A load-balancer binary refused a generated config; ``output`` is what it printed."""

    def __init__(self, binary: str, output: str) -> None:
        self.binary = binary
        self.output = output
        self.key, self.value, self.allowed = binary, "(generated config)", "a config the binary accepts"
        ValueError.__init__(self, f"{binary} rejected the generated config: {output}")


class MalformedRegistration(HiveHAError, ValueError):
    """A znode whose name or data is not a valid Hive registration."""

    def __init__(self, znode: str, reason: str) -> None:
        self.znode = znode
        self.reason = bounded(reason)
        super().__init__(f"malformed registration {bounded(repr(znode))}: {self.reason}")


class UnusableEndpoint(ConfigError):
    """Registered servers publish settings this client cannot use (an authentication it cannot speak, a TLS mode
    its driver lacks, ...). ``reasons`` maps each server's address to the ConfigError saying why; ``key``,
    ``value`` and ``allowed`` are the first one's."""

    def __init__(self, reasons: Mapping[str, ConfigError]) -> None:
        self.reasons = dict(reasons)
        first = next(iter(self.reasons.values()))
        self.key, self.value, self.allowed = first.key, first.value, first.allowed
        servers = "; ".join(f"{address}: {error}" for address, error in self.reasons.items())
        prefix = "no registered server is usable by this client: " if len(self.reasons) > 1 else ""
        ValueError.__init__(self, prefix + servers)


class CertificateNotVerified(ConfigError):
    """This client could not verify the TLS certificate of the server at ``address``: ``reason`` is OpenSSL's,
    ``ca`` the CAs trusted (in words), ``fix`` what to change. A setting of this side, never a dead server."""

    def __init__(self, address: str, reason: str, ca: str, fix: str) -> None:
        self.address = address
        self.reason = reason
        self.ca = ca
        self.fix = fix
        self.key, self.value, self.allowed = "ssl_ca", ca, "the CA that signed the server's certificate"
        ValueError.__init__(self, f"the TLS certificate of HiveServer2 {address} was not verified: {reason} "
                                  f"(CAs trusted: {ca}); {fix}")


class ServerConnectionError(HiveHAError):
    """A connection-level failure of the server at ``address``; ``kind`` is "connect" or "read"."""

    kind = ""

    def __init__(self, address: str, error: BaseException) -> None:
        self.address = address
        self.error = error
        super().__init__(f"{address}: {type(error).__name__}: {error}")


class ServerUnreachable(ServerConnectionError):
    """Nothing reached the server (refused, unreachable, connect timeout): safe to send the request elsewhere."""

    kind = "connect"


class ServerConnectionLost(ServerConnectionError):
    """The connection broke or timed out after it was opened: a request may have run on the server."""

    kind = "read"


class DiscoveryError(HiveHAError):
    """No usable endpoint could be produced."""


class RegistryUnavailable(DiscoveryError):
    """ZooKeeper cannot be reached and no endpoint is known from an earlier read."""

    def __init__(self, zk_hosts: str, path: str, detail: str = "") -> None:
        self.zk_hosts = zk_hosts
        self.path = path
        msg = f"cannot read {path} from ZooKeeper at {zk_hosts} and no endpoint of it is known yet"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class NoEndpointAvailable(DiscoveryError):
    """The registry gave no usable endpoint. The message lists what was found and why the registered servers cannot
    be used (``excluded``: address -> why, e.g. "dead: connection refused")."""

    def __init__(
        self,
        zk_hosts: str,
        path: str,
        found: Sequence[Describable] = (),
        excluded: Optional[Mapping[str, str]] = None,
        reason: str = "",
        *,
        skipped: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.zk_hosts = zk_hosts
        self.path = path
        self.found = tuple(found)
        self.excluded = dict(excluded or {})
        self.reason = reason
        self.skipped = dict(skipped or {})
        super().__init__(self._compose())

    def with_skipped(self, skipped: Mapping[str, str]) -> "NoEndpointAvailable":
        """The same error, also naming the servers this client skipped (address -> why it cannot use them)."""
        return NoEndpointAvailable(self.zk_hosts, self.path, self.found, self.excluded, self.reason,
                                   skipped={**self.skipped, **skipped})

    def _compose(self) -> str:
        parts = [f"no HiveServer2 endpoint available under {self.path} in ZooKeeper {self.zk_hosts}"]
        if self.reason:
            parts.append(self.reason)
        parts.append("found: " + (_join(e.describe() for e in self.found) or "nothing registered"))
        if self.excluded:
            parts.append("not usable: " + _join(f"{addr} ({why})" for addr, why in sorted(self.excluded.items())))
        if self.skipped:
            parts.append("skipped, unusable for this client: "
                         + _join(f"{addr} ({why})" for addr, why in sorted(self.skipped.items())))
        return "; ".join(parts)


class AllServersFailed(DiscoveryError):
    """Opening a connection failed on every server tried, as the Hive JDBC driver reports it (SQLState 08S01).

    ``tried`` lists ``(address, error text)`` in the order tried; the last driver error is ``__cause__``.
    """

    sqlstate = "08S01"

    def __init__(self, zk_hosts: str, path: str, tried: Sequence["tuple[str, str]"]) -> None:
        self.zk_hosts = zk_hosts
        self.path = path
        self.tried = tuple(tried)
        servers = "; ".join(f"{address} ({error})" for address, error in self.tried) or "none"
        super().__init__(f"Could not open client transport for any of the Server URI's in ZooKeeper {zk_hosts} "
                         f"under {path}: tried {servers}")


class DiscoveryClosed(DiscoveryError):
    """A lookup on a ``Discovery`` that was closed (its watchers are stopped and stay stopped)."""

    def __init__(self, zk_hosts: str) -> None:
        self.zk_hosts = zk_hosts
        super().__init__(f"this Discovery (ZooKeeper {zk_hosts}) was closed; create a new one")


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)


class LoadBalancerCommandFailed(HiveHAError):
    """A command to a running load balancer failed (a reload, a runtime-API call); ``answer`` is what came back."""

    def __init__(self, binary: str, command: str, answer: str) -> None:
        self.binary = binary
        self.command = command
        self.answer = answer
        super().__init__(f"{binary}: {command!r} failed: {answer}")


class ExtraRequired(HiveHAError):
    """``what`` needs modules that are not installed (``missing``); ``hint`` is the pip command that adds them."""

    def __init__(self, what: str, missing: Sequence[str], hint: str) -> None:
        self.what = what
        self.missing = tuple(missing)
        self.hint = hint
        super().__init__(f"{what} needs modules that are not installed ({', '.join(self.missing)}): {hint}")


class KerberosLoginFailed(HiveHAError):
    """``kinit`` from a keytab failed; ``principal``, ``keytab`` and kinit's ``detail`` say why."""

    def __init__(self, principal: str, keytab: str, detail: str) -> None:
        self.principal = principal
        self.keytab = keytab
        super().__init__(f"cannot get a Kerberos ticket for {principal} from keytab {keytab}: {detail} "
                         f"(check 'klist -k {keytab}' lists {principal}, and the KDC in krb5.conf is reachable)")


class UnsafeTicketCache(KerberosLoginFailed):
    """A ticket cache (or its directory or lock) that another local user could have made or can change: hive-ha
    neither writes its ticket there nor adopts a ticket found there. ``path`` is the file, ``detail`` why."""

    def __init__(self, principal: str, keytab: str, path: str, detail: str) -> None:
        self.principal = principal
        self.keytab = keytab
        self.path = path
        HiveHAError.__init__(self, f"refusing the Kerberos ticket cache {path} for {principal}: {detail}")


class ZooKeeperAuthFailed(RegistryUnavailable):
    """ZooKeeper's SASL login failed (no/expired ticket, wrong principal or service name, host-name mismatch).

    ``principal`` is the client's, ``service`` ZooKeeper's service name; the message says what to check.
    """

    def __init__(self, zk_hosts: str, principal: Optional[str], service: str, detail: str) -> None:
        self.principal = principal
        self.service = service
        self.zk_hosts = zk_hosts
        self.path = ""
        DiscoveryError.__init__(
            self, f"SASL GSSAPI login to ZooKeeper at {zk_hosts} failed for client principal "
                  f"{principal or '(default from the ticket cache)'} and service {service!r}: {detail}")
