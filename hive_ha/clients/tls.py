"""TLS toward HiveServer2: the one place a client TLS context is built, for every client path of ours
(``hive_ha.connect`` with PyHive over binary or HTTP, the arguments given to impyla, ``hive-ha check``).

Verification is on by default: the server's certificate must chain to a trusted CA -- the PEM bundle ``ca`` when
given (then only it), else the system's default trust store -- and name the host dialled (the host the server
registered in ZooKeeper). ``verify=False`` is the one way to turn both checks off; it is never silent: a WARNING is
logged once per server and process. A certificate that fails verification is a setting on this side (the CA bundle,
the name the server registers), not a dead server: ``verification_error`` turns it into ``CertificateNotVerified``,
naming the server, the CAs trusted and the fixes.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import socket
import ssl
import threading
from typing import Optional, Set, Tuple

from hive_ha.core.failover import error_chain
from hive_ha.errors import CertificateNotVerified, ConfigError

__all__ = ["TlsSettings", "check_files", "client_context", "handshake_error", "impyla_tls_kwargs", "system_ca_file",
           "verification_error", "warn_unverified"]

_log = logging.getLogger(__name__)

_PATH = re.compile(r"[^\x00-\x1f\x7f]{1,4096}")
#: PyHive's words for its own ``ssl_cert`` argument: a sign that they were given where a file is expected.
_PYHIVE_WORDS = ("none", "optional", "required")
#: OpenSSL's verify codes for a certificate that chains fine but names another host or address.
_NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """How to authenticate HiveServer2s over TLS, and how to be authenticated by them. Keys in errors are
    ``hive_ha.connect``'s argument names.

    ``ca``: a PEM file of CA certificates to trust (None: the system's default trust store). ``cert``/``key``: a
    client certificate (PEM) and its unencrypted private key (None: in ``cert``), for servers that ask for one.
    ``verify``: False turns certificate and host-name checks off (logged as a WARNING once per server).
    """

    ca: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    verify: bool = True

    def __post_init__(self) -> None:
        for key, value in (("ssl_ca", self.ca), ("ssl_cert", self.cert), ("ssl_key", self.key)):
            if value is None:
                continue
            if not isinstance(value, str) or not _PATH.fullmatch(value):
                raise ConfigError(key, value, "the path of a PEM file")
            if value.strip().lower() in _PYHIVE_WORDS:
                raise ConfigError(key, value, "the path of a PEM file (PyHive's ssl_cert='required' is what hive-ha "
                                              "does by default; ssl_verify=False turns verification off)")
        if self.key is not None and self.cert is None:
            raise ConfigError("ssl_key", self.key, "unset unless ssl_cert (the client certificate) is given")
        if not isinstance(self.verify, bool):
            raise ConfigError("ssl_verify", self.verify, "True or False")

    def describe_ca(self) -> str:
        """The CAs trusted, in words, for messages."""
        if not self.verify:
            return "none (verification is off)"
        if self.ca:
            return self.ca
        default = system_ca_file() or ssl.get_default_verify_paths().capath
        return f"the system default trust store ({default})" if default else "the system default trust store"


def system_ca_file() -> Optional[str]:
    """The system's default CA bundle file (``SSL_CERT_FILE`` or OpenSSL's), if there is one."""
    path = ssl.get_default_verify_paths().cafile
    return path if path and os.path.isfile(path) else None


def client_context(tls: TlsSettings, address: str) -> ssl.SSLContext:
    """The client context for a TLS connection to the server at ``address`` (``host:port``; the host name to check is
    given to the socket by the transport): TLS 1.2 or later, the CA bundle or the system trust store, the client
    certificate if any. With ``verify`` off: no checks, and the WARNING for ``address``. A CA, certificate or key file
    that cannot be read is a ``ConfigError`` (this machine's, so no server is excluded for it)."""
    context = _load(tls)
    if not tls.verify:
        warn_unverified(address)
    return context


def check_files(tls: TlsSettings) -> None:
    """Read the CA, certificate and key files now (``ConfigError`` if one cannot be used), before any connection."""
    _load(tls)


def _load(tls: TlsSettings) -> ssl.SSLContext:
    """The context for ``tls``, shared while its files are unchanged: reading the system trust store takes tens of
    milliseconds, and a context is safe to share between threads (its sessions can then be resumed, too). A changed
    file (a renewed certificate, an updated bundle) gives a new one."""
    files = (tls.ca or ssl.get_default_verify_paths().cafile, tls.cert, tls.key)
    return _build(tls, tuple(_stamp(path) for path in files))


def _stamp(path: Optional[str]) -> Optional[Tuple[int, int, int]]:
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None  # reading it will say why
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns) if stat else None


@functools.lru_cache(maxsize=16)
def _build(tls: TlsSettings, stamps: Tuple) -> ssl.SSLContext:  # stamps: part of the cache key only
    try:
        context = ssl.create_default_context(cafile=tls.ca)  # a CA file given: only it is trusted
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("ssl_ca", tls.ca, f"a readable PEM file of CA certificates ({exc})") from None
    context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
    if tls.cert:
        try:
            context.load_cert_chain(tls.cert, tls.key, password=_encrypted_key(tls))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("ssl_cert", tls.cert, "a readable PEM client certificate and its unencrypted private "
                                                    f"key ({exc})") from None
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _encrypted_key(tls: TlsSettings):
    def refuse():  # OpenSSL would otherwise prompt on the terminal of a server process
        raise ConfigError("ssl_key", tls.key or tls.cert, "an unencrypted private key (hive-ha takes no key password)")

    return refuse


def impyla_tls_kwargs(tls: TlsSettings, address: str, http: bool = False) -> dict:
    """impyla's TLS arguments for the same settings. impyla builds its own sockets and verifies only when given a CA
    file (``ca_cert``; without one it does not verify), so the system bundle's path is given when no CA is. Over
    HTTP impyla (up to 0.21, the last for thrift 0.16) refuses a CA file and never verifies: a ``ConfigError`` unless
    verification is turned off."""
    if tls.cert:
        raise ConfigError("ssl_cert", tls.cert, "unset with driver='impyla' (impyla cannot present a client "
                                                "certificate); or use driver='pyhive'")
    if not tls.verify:
        warn_unverified(address)
        return {"ca_cert": None}
    if http:
        raise ConfigError("driver", "impyla", "'pyhive' for HTTPS: impyla cannot verify a server certificate over the "
                                              "HTTP transport (it refuses ca_cert there); ssl_verify=False connects "
                                              "without verification, to test only")
    ca = tls.ca or system_ca_file()
    if ca is None:
        raise ConfigError("ssl_ca", None, "a PEM file of CA certificates: impyla verifies only against a CA file, and "
                                          "this system's default trust store has none (ssl.get_default_verify_paths)")
    return {"ca_cert": ca}


def handshake_error(host: str, port: int, tls: TlsSettings, timeout: float) -> Optional[ssl.SSLCertVerificationError]:
    """The certificate error a verified TLS handshake with ``host:port`` meets (None: none, or another failure). For a
    driver that drops the cause of a failed handshake: impyla's binary path, where thrift's ``TSocket`` logs it and
    raises a bare "Could not connect"."""
    try:
        with socket.create_connection((host, port), timeout) as sock:
            sock.settimeout(timeout)
            with client_context(tls, f"{host}:{port}").wrap_socket(sock, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as exc:
        return exc
    except OSError:
        return None


def verification_error(exc: BaseException, address: str, host: str, tls: TlsSettings,
                       fix: str = "ssl_ca= (sslCa= in URLs)",
                       opt_out: str = "ssl_verify=False (sslVerify=false)") -> Optional[CertificateNotVerified]:
    """``CertificateNotVerified`` when a certificate check failed anywhere in ``exc``'s chain, else None. ``fix`` and
    ``opt_out`` name the settings of the path that failed."""
    failed = next((e for e in error_chain(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)
    if failed is None:
        return None
    reason = getattr(failed, "verify_message", None) or str(failed)
    if getattr(failed, "verify_code", None) in _NAME_MISMATCH:
        advice = (f"the certificate must name the host the server registers in ZooKeeper ({host}): reissue it with "
                  f"that name as a subjectAltName, or register the server under a name the certificate has")
    else:
        advice = f"trust the CA that signed the server's certificate with {fix}"
    return CertificateNotVerified(address, reason, tls.describe_ca(), f"{advice}; only to test: {opt_out}")


# -- the opt-out's warning, once per server and process --------------------------------------------------
_warned: Set[str] = set()
_warned_lock = threading.Lock()


def warn_unverified(address: str) -> None:
    with _warned_lock:
        if address in _warned:
            return
        _warned.add(address)
    _log.warning("TLS certificate verification is OFF for HiveServer2 %s (ssl_verify=False, sslVerify=false or "
                 "--tls-no-verify): its certificate and host name are not checked, so anyone in the path can pose as "
                 "the server and read what is sent to it, passwords included", address)


def _after_fork_in_child() -> None:
    global _warned_lock
    _warned_lock = threading.Lock()  # the parent's may have been held by a thread the child does not have


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
