"""Kerberos for the ZooKeeper client: a ticket cache kept fresh from a keytab, and plain-words diagnoses.

Framework-free. GSSAPI itself runs inside pure-sasl + pykerberos (the ``kerberos`` package), which always use the
process's default ticket cache (``KRB5CCNAME``). So a keytab login here means: ``kinit -k -t <keytab> -c <ccache>
<principal>`` into a FILE ticket cache, ``KRB5CCNAME`` pointed at it, and the same again at ~80 % of the ticket's
lifetime (read from the cache file) by one daemon thread per login, so a watcher running for months keeps
re-authenticating after every reconnect. Without a keytab the process's existing ticket cache is used as is (Hue's
``kt_renewer`` keeps it fresh).

Several processes (forked workers) sharing one ticket cache: one of them writes it. The writer holds a POSIX
lock on ``<cache>.lock`` (taken without waiting, released by the kernel when the writer dies, never inherited by
``fork()``); the others follow the ticket it writes and take over when the lock comes free.

Locks: ``_renewers_lock`` (the login -> renewer table) and each renewer's ``_state_lock`` are leaves, never held
across ``kinit``; concurrent starters of one login wait for the first one's result instead. Both are new in a
forked child.
"""
from __future__ import annotations

import concurrent.futures
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

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every process writes its cache itself
    fcntl = None  # type: ignore[assignment]

from hive_ha.errors import ConfigError, KerberosLoginFailed
from hive_ha.model.addressing import host_principal

log = logging.getLogger(__name__)

RENEW_AT = 0.8  # of the ticket's lifetime
MIN_RENEW_DELAY = 1.0
RETRY_DELAY = (1.0, 60.0)  # a failed kinit is retried with this doubling backoff
UNKNOWN_LIFETIME_RENEW = 3600.0  # when the end time cannot be read (not a FILE cache)
KINIT_TIMEOUT = 60.0
FOLLOW_POLL = 1.0  # a process following another's ticket looks again this often while it has none


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
    def cache_path(self) -> str:
        return self.cache_name[len("FILE:"):]

    @property
    def cache_name(self) -> str:
        """``FILE:<path>`` of the ticket cache this login fills."""
        if self.ccache:
            return self.ccache if self.ccache.startswith("FILE:") else "FILE:" + self.ccache
        safe = "".join(c if c.isalnum() else "_" for c in self.principal)
        return "FILE:" + os.path.join(tempfile.gettempdir(), f"hive_ha_krb5cc_{os.getuid()}_{safe}")


def use_ccache(ccache: str) -> None:
    """Make ``ccache`` the process's default ticket cache (what pykerberos reads on every new context).

    Process-wide because it must be: pykerberos (pure-sasl's GSSAPI, inside kazoo) reads only the default cache
    and has no per-context choice. It is set only for an explicit ``kerberos_keytab``/``kerberos_ccache`` setting,
    once when a login starts (forked children inherit it), and replacing another value (Hue's own cache, say) is
    logged as a warning naming both: every other Kerberos client of the process follows the switch.
    """
    name = ccache if ":" in ccache else "FILE:" + ccache
    current = os.environ.get("KRB5CCNAME")
    if current == name:
        return
    if current:
        log.warning("KRB5CCNAME was %s; hive-ha points it at %s for its ZooKeeper login (pykerberos reads only the "
                    "process's default ticket cache), so other Kerberos clients of this process use that cache "
                    "too. To keep one cache, set kerberos_ccache=%s.", current, name, current)
    else:
        log.info("Kerberos ticket cache for this process: %s", name)
    os.environ["KRB5CCNAME"] = name


def kinit(login: KerberosLogin) -> None:
    """Get a fresh TGT from the keytab into the login's ticket cache; ``KerberosLoginFailed`` says why not."""
    binary = shutil.which("kinit")
    if binary is None:
        raise KerberosLoginFailed(login.principal, login.keytab, "kinit not found on PATH (install krb5-user / krb5-workstation)")
    try:
        result = subprocess.run([binary, "-k", "-t", login.keytab, "-c", login.cache_name, login.principal],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=KINIT_TIMEOUT)
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


class _CacheLease:
    """Which process writes one FILE ticket cache: the holder of a POSIX lock on ``<cache>.lock``.

    Taken without waiting (``LOCK_NB``) and kept while the renewer runs; the kernel releases it when the holder
    exits. POSIX locks belong to a process and are not inherited by ``fork()``, so a forked worker never takes
    its parent's lease for its own.
    """

    def __init__(self, cache_path: str) -> None:
        self.path = cache_path + ".lock"
        self._fd: Optional[int] = None
        self._fd_pid: Optional[int] = None
        self._holder: Optional[int] = None

    @property
    def held(self) -> bool:
        return fcntl is None or self._holder == os.getpid()

    def acquire(self) -> bool:
        """True if this process holds the lease (already, or now); never waits."""
        if self.held:
            return True
        if self._fd_pid != os.getpid():
            if self._fd is not None:
                os.close(self._fd)  # the parent's descriptor: closing it here leaves the parent's lock alone
                self._fd = None
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # no lock file possible: write the cache ourselves (kinit says if it can)
                log.warning("cannot create %s (%s): this process renews %s on its own", self.path, exc, self.path[:-5])
                self._holder = os.getpid()
                return True
            self._fd_pid = os.getpid()
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another process writes the cache
        self._holder = os.getpid()
        return True

    def release(self) -> None:
        if self.held and self._fd is not None and fcntl is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        self._holder = None


class TicketRenewer:
    """Keeps one login's ticket cache fresh: kinit now, again at ``RENEW_AT`` of each ticket's lifetime.

    ``start()`` logs in synchronously (so a bad keytab or principal is reported at once) and sets ``KRB5CCNAME``;
    a daemon thread then renews. A failed renewal is logged and retried with backoff; ``last_error`` keeps it.
    When another process writes the same cache (it holds the lease), this one only follows its ticket (``writer``
    is False) and takes over if that process goes away.
    """

    def __init__(self, login: KerberosLogin) -> None:
        self.login = login
        self.renewals = 0  # kinit runs by this process
        self.last_error: Optional[str] = None
        self.next_renewal: Optional[float] = None  # epoch seconds
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._lease = _CacheLease(login.cache_path)
        self._state_lock = threading.Lock()
        self._starting: Optional[concurrent.futures.Future] = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    @property
    def writer(self) -> bool:
        """This process writes the ticket cache (others follow it)."""
        return self._lease.held

    def start(self) -> "TicketRenewer":
        with self._state_lock:
            if self.alive:
                return self
            future, first = self._starting, self._starting is None
            if first:
                future = self._starting = concurrent.futures.Future()
        if not first:  # another thread is logging in: its result is ours
            future.result(timeout=KINIT_TIMEOUT + 10)
            return self
        try:
            self._pid = os.getpid()
            delay = self._first_ticket()  # raises KerberosLoginFailed
            use_ccache(self.login.cache_name)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(delay,), daemon=True,
                                            name=f"hive-ha-kinit {self.login.principal}")
            self._thread.start()
            future.set_result(self)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._state_lock:
                self._starting = None
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._lease.release()

    def _first_ticket(self) -> float:
        """Write the cache (holding the lease) or wait for the writer's ticket; seconds until the next look."""
        deadline = time.monotonic() + KINIT_TIMEOUT + 5
        while True:
            if self._lease.acquire():
                try:
                    return self._renew()
                except BaseException:
                    self._lease.release()  # let another process try
                    raise
            delay = self._follow()
            if delay is not None:
                return delay
            if time.monotonic() > deadline:
                raise KerberosLoginFailed(self.login.principal, self.login.keytab,
                                          f"another process writes {self.login.cache_name} (it holds "
                                          f"{self._lease.path}) but no valid ticket appeared in it")
            time.sleep(0.1)

    def _renew(self) -> float:
        """kinit; return seconds until the next renewal."""
        kinit(self.login)
        self.renewals += 1
        self.last_error = None
        return self._schedule(tgt_end_time(self.login.cache_name))

    def _follow(self) -> Optional[float]:
        """Another process writes the cache: seconds until we look again, or None while it holds no valid ticket."""
        end = tgt_end_time(self.login.cache_name)
        if end is None or end - time.time() < MIN_RENEW_DELAY:
            return None
        return self._schedule(end)

    def _schedule(self, end: Optional[float]) -> float:
        now = time.time()
        delay = UNKNOWN_LIFETIME_RENEW if end is None else max(MIN_RENEW_DELAY, (end - now) * RENEW_AT)
        self.next_renewal = now + delay
        log.debug("Kerberos ticket for %s valid until %s; next look in %.0f s", self.login.principal, end, delay)
        return delay

    def _run(self, delay: float) -> None:
        failures = 0
        while not self._stop.wait(delay):
            try:
                if self._lease.acquire():
                    delay = self._renew()
                else:
                    delay = self._follow() or FOLLOW_POLL
                failures = 0
            except KerberosLoginFailed as exc:
                failures += 1
                self.last_error = str(exc)
                delay = min(RETRY_DELAY[1], RETRY_DELAY[0] * 2 ** (failures - 1))
                log.warning("%s; retrying in %.0f s", exc, delay)

    def _after_fork_in_child(self) -> None:
        # The parent's thread is gone here and its lease is not ours; the counters start again for this process.
        self._state_lock = threading.Lock()
        self._starting = None
        self._stop = threading.Event()
        self.renewals, self.last_error = 0, None


_renewers: Dict[KerberosLogin, TicketRenewer] = {}
_renewers_lock = threading.Lock()


def ensure_login(login: KerberosLogin) -> TicketRenewer:
    """The process-wide renewer of ``login``, started (restarted after a fork); raises KerberosLoginFailed."""
    with _renewers_lock:
        renewer = _renewers.get(login)
        if renewer is None:
            renewer = _renewers[login] = TicketRenewer(login)
    return renewer.start()  # kinit (up to a minute): outside the table's lock


def stop_logins() -> None:
    """Stop every renewer thread (tests; interpreter shutdown needs nothing: the threads are daemons)."""
    with _renewers_lock:
        renewers = list(_renewers.values())
        _renewers.clear()
    for renewer in renewers:
        renewer.stop()


def _after_fork_in_child() -> None:
    global _renewers_lock
    _renewers_lock = threading.Lock()  # the parent's may have been held by a thread the child does not have
    for renewer in _renewers.values():
        renewer._after_fork_in_child()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    wanted = host_principal(service, host)
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
