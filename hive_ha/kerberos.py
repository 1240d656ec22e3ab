"""Kerberos for the ZooKeeper client: a ticket cache kept fresh from a keytab, and plain-words diagnoses.

Framework-free. GSSAPI itself runs inside pure-sasl + pykerberos (the ``kerberos`` package), which always use the
process's default ticket cache (``KRB5CCNAME``). So a keytab login here means: ``kinit -k -t <keytab> -c <ccache>
<principal>`` into a FILE ticket cache, ``KRB5CCNAME`` pointed at it, and the same again at ~80 % of the ticket's
lifetime (read from the cache file) by one daemon thread per login, so a watcher running for months keeps
re-authenticating after every reconnect. Without a keytab the process's existing ticket cache is used as is (Hue's
``kt_renewer`` keeps it fresh).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from typing import Dict, Optional, Tuple

from .errors import ConfigError, KerberosLoginFailed

log = logging.getLogger(__name__)

RENEW_AT = 0.8  # of the ticket's lifetime
MIN_RENEW_DELAY = 1.0
RETRY_DELAY = (1.0, 60.0)  # a failed kinit is retried with this doubling backoff
UNKNOWN_LIFETIME_RENEW = 3600.0  # when the end time cannot be read (not a FILE cache)


@dataclasses.dataclass(frozen=True)
class KerberosLogin:
    """Who to log in as (``principal``), from which ``keytab``, into which ticket cache (``ccache``; default: a
    private FILE cache in the temp dir)."""

    principal: str
    keytab: str
    ccache: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.principal or any(c.isspace() for c in self.principal):
            raise ConfigError("kerberos principal", self.principal, "a principal such as hue/host@REALM or hue@REALM")
        if not os.path.isfile(self.keytab):
            raise ConfigError("kerberos_keytab", self.keytab, "the path of a readable keytab file")
        if self.ccache and ":" in self.ccache and not self.ccache.startswith("FILE:"):
            raise ConfigError("kerberos_ccache", self.ccache, "a FILE: ticket cache (or a plain path) for keytab logins")

    @property
    def cache_name(self) -> str:
        """``FILE:<path>`` of the ticket cache this login fills."""
        if self.ccache:
            return self.ccache if self.ccache.startswith("FILE:") else "FILE:" + self.ccache
        safe = "".join(c if c.isalnum() else "_" for c in self.principal)
        return "FILE:" + os.path.join(tempfile.gettempdir(), f"hive_ha_krb5cc_{os.getuid()}_{safe}")


def use_ccache(ccache: str) -> None:
    """Make ``ccache`` the process's default ticket cache (what pykerberos reads on every new context)."""
    name = ccache if ":" in ccache else "FILE:" + ccache
    if os.environ.get("KRB5CCNAME") != name:
        os.environ["KRB5CCNAME"] = name
        log.info("Kerberos ticket cache for this process: %s", name)


def kinit(login: KerberosLogin) -> None:
    """Get a fresh TGT from the keytab into the login's ticket cache; ``KerberosLoginFailed`` says why not."""
    binary = shutil.which("kinit")
    if binary is None:
        raise KerberosLoginFailed(login.principal, login.keytab, "kinit not found on PATH (install krb5-user / krb5-workstation)")
    try:
        result = subprocess.run([binary, "-k", "-t", login.keytab, "-c", login.cache_name, login.principal],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KerberosLoginFailed(login.principal, login.keytab, str(exc)) from None
    if result.returncode != 0:
        raise KerberosLoginFailed(login.principal, login.keytab, (result.stderr or result.stdout).strip())


# -- reading a FILE ticket cache (MIT format 3/4): only the TGT's end time is needed ----------------------------
class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated ticket cache")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def counted(self) -> bytes:
        return self.take(self.u32())

    def principal(self) -> Tuple[str, Tuple[str, ...]]:
        self.u32()  # name type
        count = self.u32()
        realm = self.counted().decode("utf-8", "replace")
        return realm, tuple(self.counted().decode("utf-8", "replace") for _ in range(count))


def tgt_end_time(ccache: str) -> Optional[float]:
    """The end time (epoch seconds) of the newest TGT in a FILE ticket cache; None if unknown or unreadable."""
    path = ccache[5:] if ccache.startswith("FILE:") else ccache
    if ":" in path:
        return None  # not a FILE cache
    try:
        with open(path, "rb") as handle:
            reader = _Reader(handle.read())
        version = reader.u16()
        if version not in (0x0503, 0x0504):
            return None
        if version == 0x0504:
            reader.take(reader.u16())  # header tags (KDC time offset)
        reader.principal()  # default principal
        best: Optional[float] = None
        while reader.pos < len(reader.data):
            reader.principal()  # client
            realm, server = reader.principal()
            reader.u16()
            reader.counted()  # key block
            _auth, _start, end, _renew = (reader.u32() for _ in range(4))
            reader.u8()
            reader.u32()  # is_skey, flags
            for _ in range(reader.u32()):  # addresses
                reader.u16()
                reader.counted()
            for _ in range(reader.u32()):  # authdata
                reader.u16()
                reader.counted()
            reader.counted()
            reader.counted()  # ticket, second ticket
            if len(server) == 2 and server[0] == "krbtgt" and not realm.startswith("X-CACHECONF"):
                best = max(best or 0.0, float(end))
        return best
    except (OSError, ValueError, struct.error):
        return None


class TicketRenewer:
    """Keeps one login's ticket cache fresh: kinit now, again at ``RENEW_AT`` of each ticket's lifetime.

    ``start()`` logs in synchronously (so a bad keytab or principal is reported at once) and sets ``KRB5CCNAME``;
    a daemon thread then renews. A failed renewal is logged and retried with backoff; ``last_error`` keeps it.
    """

    def __init__(self, login: KerberosLogin) -> None:
        self.login = login
        self.renewals = 0
        self.last_error: Optional[str] = None
        self.next_renewal: Optional[float] = None  # epoch seconds
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def start(self) -> "TicketRenewer":
        if self.alive:
            return self
        self._pid = os.getpid()
        delay = self._renew()  # raises KerberosLoginFailed
        use_ccache(self.login.cache_name)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(delay,), daemon=True,
                                        name=f"hive-ha-kinit {self.login.principal}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _renew(self) -> float:
        """kinit; return seconds until the next renewal."""
        kinit(self.login)
        self.renewals += 1
        self.last_error = None
        now = time.time()
        end = tgt_end_time(self.login.cache_name)
        delay = UNKNOWN_LIFETIME_RENEW if end is None else max(MIN_RENEW_DELAY, (end - now) * RENEW_AT)
        self.next_renewal = now + delay
        log.debug("Kerberos ticket for %s valid until %s; renewing in %.0f s", self.login.principal, end, delay)
        return delay

    def _run(self, delay: float) -> None:
        failures = 0
        while not self._stop.wait(delay):
            try:
                delay = self._renew()
                failures = 0
            except KerberosLoginFailed as exc:
                failures += 1
                self.last_error = str(exc)
                delay = min(RETRY_DELAY[1], RETRY_DELAY[0] * 2 ** (failures - 1))
                log.warning("%s; retrying in %.0f s", exc, delay)


_renewers: Dict[KerberosLogin, TicketRenewer] = {}
_renewers_lock = threading.Lock()


def ensure_login(login: KerberosLogin) -> TicketRenewer:
    """The process-wide renewer of ``login``, started (restarted after a fork); raises KerberosLoginFailed."""
    with _renewers_lock:
        renewer = _renewers.get(login)
        if renewer is None:
            renewer = _renewers[login] = TicketRenewer(login)
        return renewer.start()


def stop_logins() -> None:
    """Stop every renewer thread (tests; interpreter shutdown needs nothing: the threads are daemons)."""
    with _renewers_lock:
        renewers = list(_renewers.values())
        _renewers.clear()
    for renewer in renewers:
        renewer.stop()


# -- diagnoses -------------------------------------------------------------------------------------------------
def initiate_error(service: str, host: str, principal: Optional[str] = None) -> Optional[str]:
    """Try the client's first GSSAPI step for ``service@host`` as ``principal``; the GSS error text, or None if a
    service ticket was obtained (the problem is then elsewhere) or pykerberos is missing."""
    try:
        import kerberos
    except ImportError:
        return "the 'kerberos' Python package is not installed (pip install 'hive-ha[kerberos]')"
    context = None
    try:
        _, context = kerberos.authGSSClientInit(f"{service}@{host}", principal=principal)
        kerberos.authGSSClientStep(context, "")
        return None
    except kerberos.GSSError as exc:
        return "; ".join(part[0] for part in exc.args[0:2] if isinstance(part, tuple) and part) or str(exc)
    finally:
        if context is not None:
            kerberos.authGSSClientClean(context)


def hints(gss_error: Optional[str], service: str, host: str, principal: Optional[str]) -> str:
    """What to check, in words, for a GSSAPI failure (most specific first)."""
    wanted = f"{service}/{host}"
    text = (gss_error or "").lower()
    out = []
    if _looks_like_ip(host) or "not found in kerberos database" in text:
        out.append(f"the client asks for the service principal {wanted}@<realm> because it dials {host!r}: connect "
                   f"with the host name in the server's principal ({service}/<host>), e.g. 'localhost' rather than "
                   "'127.0.0.1', since host names are not canonicalised (dns_canonicalize_hostname/rdns)")
    if "expired" in text:
        out.append("the ticket has expired: set kerberos_keytab so hive-ha renews it, or keep the ticket cache "
                   "renewed (Hue's kt_renewer)")
    if "no kerberos credentials" in text or "no credentials" in text or "does not match desired name" in text:
        who = principal or "the client principal"
        out.append(f"no ticket for {who} in the ticket cache {os.environ.get('KRB5CCNAME', '(default)')}: run "
                   f"'kinit {who}' or set kerberos_keytab (check it with 'klist -k <keytab>')")
    if "skew" in text:
        out.append("the clocks of this host and the KDC differ by more than the allowed skew: synchronise them")
    out.append("check with 'klist' and 'klist -k <keytab>'; the KDC must know " + wanted)
    return "; ".join(out)


def _looks_like_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False
