"""Kerberos for hive-ha's ZooKeeper client: whose ticket it uses, a ticket kept fresh from a keytab, and plain-words
diagnoses.

Framework-free. GSSAPI runs inside pure-sasl + pykerberos (kazoo's SASL client), which read the *default* ticket
cache. hive-ha never changes the process's default (``KRB5CCNAME``): a cache of its own is made the default of
hive-ha's own threads only (``thread_ccache``: MIT krb5's per-thread ``gss_krb5_ccache_name``, through
python-gssapi; pykerberos shares the library, so it follows), and every other Kerberos client of the process (Hue's
Thrift, HDFS and ZooKeeper clients) keeps the process's cache.

Where the ticket comes from (docs/kerberos.md, "Whose ticket"):

* a keytab login (``KerberosLogin``): ``kinit -k -t <keytab> -c <cache> <principal>`` into a cache in a private
  0700 directory (or the ``kerberos_ccache`` given), again at ~80 % of the ticket's lifetime, by one daemon thread;
* a given cache without a keytab (in a Kerberized Hue: Hue's ``ccache_path``, kept fresh by ``hue kt_renewer``):
  read as it is, never written;
* neither: the process's default cache.

Several processes (forked workers) sharing one cache: one of them writes it. The writer holds a POSIX lock on
``<cache>.lock`` (taken without waiting, released by the kernel when the writer dies, never inherited by ``fork()``);
the others follow the ticket it writes and take over when the lock comes free. A follower adopts that ticket only
from a cache file of its own user holding its own principal; a cache, lock or directory another local user made or
can change is refused (``UnsafeTicketCache``): such a user could otherwise hand hive-ha a ticket of their choosing.

Locks: ``_renewers_lock`` (the login -> renewer table) and each renewer's ``_state_lock`` are leaves, never held
across ``kinit``; concurrent starters of one login wait for the first one's result instead. Both are new in a
forked child.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every process writes its cache itself
    fcntl = None  # type: ignore[assignment]

from hive_ha import extras
from hive_ha.errors import ConfigError, KerberosLoginFailed, UnsafeTicketCache
from hive_ha.model.addressing import host_principal

log = logging.getLogger(__name__)

RENEW_AT = 0.8  # of the ticket's lifetime
MIN_RENEW_DELAY = 1.0
RETRY_DELAY = (1.0, 60.0)  # a failed kinit is retried with this doubling backoff
UNKNOWN_LIFETIME_RENEW = 3600.0  # when the end time cannot be read (not a FILE cache)
KINIT_TIMEOUT = 60.0
FOLLOW_POLL = 1.0  # a process following another's ticket looks again this often while it has none
#: Keytab logins without ``kerberos_ccache`` keep their cache in ``<temp dir>/<prefix><uid>``, made 0700.
PRIVATE_DIR_PREFIX = "hive-ha-krb5cc-"


def private_cache_dir() -> str:
    """The directory of this user's default keytab-login caches (made 0700 at the first login)."""
    return os.path.join(tempfile.gettempdir(), f"{PRIVATE_DIR_PREFIX}{os.getuid()}")


def cache_name(ccache: str) -> str:
    """``FILE:<path>`` for a plain path (what Hue's ``ccache_path`` and ``KRB5CCNAME`` often hold), else as is."""
    return ccache if ":" in ccache else "FILE:" + ccache


def file_path(ccache: str) -> Optional[str]:
    """The file of a FILE ticket cache (``FILE:<path>`` or a plain path); None for other types (MEMORY, DIR, ...)."""
    path = ccache[len("FILE:"):] if ccache.startswith("FILE:") else ccache
    return None if ":" in path else path


def process_ccache() -> str:
    """The process's default ticket cache: ``KRB5CCNAME``, else MIT's built-in default."""
    return os.environ.get("KRB5CCNAME") or f"FILE:/tmp/krb5cc_{os.getuid()}"


def same_principal(a: str, b: str) -> bool:
    """One principal? A name without a realm matches that name in any realm (``hue`` and ``hue@EXAMPLE.COM``)."""
    if "@" in a and "@" in b:
        return a == b
    return a.partition("@")[0] == b.partition("@")[0]


@dataclasses.dataclass(frozen=True)
class KerberosLogin:
    """Who to log in as (``principal``), from which ``keytab``, into which ticket cache (``ccache``; default: a file
    in this user's private directory, ``private_cache_dir()``)."""

    principal: str
    keytab: str
    ccache: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.principal or any(c.isspace() for c in self.principal):
            raise ConfigError("kerberos principal", self.principal, "a principal such as hue/host@REALM or hue@REALM")
        if not os.path.isfile(self.keytab):
            raise ConfigError("kerberos_keytab", self.keytab, "the path of a readable keytab file")
        if self.ccache and file_path(self.ccache) is None:
            raise ConfigError("kerberos_ccache", self.ccache,
                              "a FILE: ticket cache (or a plain path) for keytab logins")

    @property
    def cache_path(self) -> str:
        return self.cache_name[len("FILE:"):]

    @property
    def cache_name(self) -> str:
        """``FILE:<path>`` of the ticket cache this login fills."""
        if self.ccache:
            return cache_name(self.ccache)
        safe = "".join(c if c.isalnum() else "_" for c in self.principal)
        return "FILE:" + os.path.join(private_cache_dir(), f"krb5cc_{safe}")

    def refused(self, path: str, detail: str) -> UnsafeTicketCache:
        return UnsafeTicketCache(self.principal, self.keytab, path, detail)


@dataclasses.dataclass(frozen=True)
class HueKerberos:
    """A Kerberized Hue's own login (``[desktop] [[kerberos]]``, in force when ``hue_keytab`` is set): Hue's
    ``principal`` and its ticket cache (``ccache``: ``ccache_path``), which ``hue kt_renewer`` keeps fresh and Hue's
    ``desktop/settings.py`` exports as ``KRB5CCNAME`` for its whole process at start-up."""

    principal: str
    ccache: str

    #: Hue 4.11's default ``ccache_path`` (desktop/conf.py).
    DEFAULT_CCACHE = "/var/run/hue/hue_krb5_ccache"

    @classmethod
    def from_keys(cls, keys: Mapping[str, Any]) -> Optional["HueKerberos"]:
        """From the ``[[kerberos]]`` keys of a hue.ini; None when Hue is not Kerberized (no ``hue_keytab``). Hue's
        defaults fill in the others (``hue/<this host's FQDN>``, ``DEFAULT_CCACHE``)."""
        if not str(keys.get("hue_keytab") or "").strip():
            return None
        import socket

        principal = str(keys.get("hue_principal") or "").strip() or f"hue/{socket.getfqdn()}"
        return cls(principal, str(keys.get("ccache_path") or "").strip() or cls.DEFAULT_CCACHE)

    def is_cache(self, ccache: Optional[str]) -> bool:
        """``ccache`` names Hue's cache (``FILE:`` or not, through links)."""
        path = file_path(ccache) if ccache else None
        return path is not None and os.path.realpath(path) == os.path.realpath(self.ccache)


# -- the ticket cache of hive-ha's own threads --------------------------------------------------------------------
_thread_state = threading.local()


def use_in_this_thread(ccache: Optional[str]) -> None:
    """Make ``ccache`` the default ticket cache of GSSAPI in the calling thread only (None: back to the process's
    ``KRB5CCNAME``). MIT krb5 keeps it per thread; pykerberos, which kazoo's SASL client calls, uses the same
    library in the same process and so picks it up for every context the thread creates."""
    name = cache_name(ccache) if ccache else None
    if getattr(_thread_state, "ccache", None) == name:
        return
    extras.require("a ticket cache of hive-ha's own", "kerberos", only=("gssapi",))
    from gssapi.raw import krb5_ccache_name

    krb5_ccache_name(name.encode() if name else None)
    _thread_state.ccache = name


def current_ccache() -> str:
    """The ticket cache GSSAPI uses in the calling thread: the one hive-ha set for it, else the process's."""
    return getattr(_thread_state, "ccache", None) or process_ccache()


@contextlib.contextmanager
def thread_ccache(ccache: Optional[str]) -> Iterator[None]:
    """``ccache`` as the calling thread's default ticket cache within the block (nothing changes for None)."""
    if not ccache:
        yield
        return
    previous = getattr(_thread_state, "ccache", None)
    use_in_this_thread(ccache)
    try:
        yield
    finally:
        use_in_this_thread(previous)


def kinit(login: KerberosLogin) -> None:
    """Get a fresh TGT from the keytab into the login's ticket cache; ``KerberosLoginFailed`` says why not."""
    binary = shutil.which("kinit")
    if binary is None:
        raise KerberosLoginFailed(login.principal, login.keytab,
                                  "kinit not found on PATH (install krb5-user / krb5-workstation)")
    try:
        result = subprocess.run([binary, "-k", "-t", login.keytab, "-c", login.cache_name, login.principal],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=KINIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KerberosLoginFailed(login.principal, login.keytab, str(exc)) from None
    if result.returncode != 0:
        raise KerberosLoginFailed(login.principal, login.keytab, (result.stderr or result.stdout).strip())


# -- reading a FILE ticket cache (MIT format 3/4): its principal and the TGT's times --------------------------------
@dataclasses.dataclass(frozen=True)
class Ticket:
    """What a ticket cache holds: its ``principal`` and the newest TGT's start and end (epoch seconds; None when
    it holds no TGT). The start is when the TGT was last obtained or renewed (kinit, ``kinit -R``)."""

    principal: str
    starts: Optional[float]
    ends: Optional[float]


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


def read_cache(ccache: str) -> Optional[Ticket]:
    """The principal and newest TGT of a FILE ticket cache; None if it is not a FILE cache, absent or unreadable."""
    path = file_path(ccache)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            reader = _Reader(handle.read())
        version = reader.u16()
        if version not in (0x0503, 0x0504):
            return None
        if version == 0x0504:
            reader.take(reader.u16())  # header tags (KDC time offset)
        realm, names = reader.principal()  # the cache's default principal
        best: Optional[Tuple[float, float]] = None
        while reader.pos < len(reader.data):
            reader.principal()  # client
            server_realm, server = reader.principal()
            reader.u16()
            reader.counted()  # key block
            _auth, start, end, _renew = (reader.u32() for _ in range(4))
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
            if len(server) == 2 and server[0] == "krbtgt" and not server_realm.startswith("X-CACHECONF"):
                if best is None or end > best[1]:
                    best = (float(start), float(end))
        principal = "/".join(names) + "@" + realm
        return Ticket(principal, best[0] if best else None, best[1] if best else None)
    except (OSError, ValueError, struct.error):
        return None


def tgt_end_time(ccache: str) -> Optional[float]:
    """The end time (epoch seconds) of the newest TGT in a FILE ticket cache; None if unknown or unreadable."""
    ticket = read_cache(ccache)
    return ticket.ends if ticket else None


# -- who may have made a cache, its lock or its directory ------------------------------------------------------------
def _owner(uid: int) -> str:
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def file_problem(st: os.stat_result, what: str) -> Optional[str]:
    """Why a file with status ``st`` (an ``lstat``) must not be trusted as ``what``, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{what} is a symbolic link (another user may have planted it)"
    if not stat.S_ISREG(st.st_mode):
        return f"{what} is not a regular file"
    if st.st_uid != os.getuid():
        return (f"{what} belongs to {_owner(st.st_uid)}, not to this process's {_owner(os.getuid())}: another "
                "local user made it")
    if st.st_mode & 0o022:
        return f"{what} can be written by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def cache_problem(ccache: str, principal: Optional[str]) -> Optional[str]:
    """Why the existing FILE cache ``ccache`` must not be used as ``principal``'s ticket, or None (also when it does
    not exist yet or is not a FILE cache)."""
    path = file_path(ccache)
    if path is None:
        return None
    try:
        problem = file_problem(os.lstat(path), "the ticket cache")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot inspect it: {exc.strerror or exc}"
    if problem is None and principal:
        ticket = read_cache(path)
        if ticket is not None and not same_principal(ticket.principal, principal):
            problem = f"it holds tickets of {ticket.principal}, not of {principal}"
    return problem


def directory_problem(path: str, private: bool) -> Optional[str]:
    """Why the directory holding a ticket cache is unsafe, or None. ``private``: hive-ha's own directory, which must
    be this user's and mode 0700; any other must not let other users replace files in it (or be sticky, like
    /tmp), and must belong to this user or root."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect its directory {path}: {exc.strerror or exc}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory (a symbolic link or a file someone else may have made)"
    mode = stat.S_IMODE(st.st_mode)
    if private and (st.st_uid != os.getuid() or mode & 0o077):
        return (f"its directory {path} must be this user's with mode 700, but it belongs to {_owner(st.st_uid)} with "
                f"mode {mode:o}: another local user may have made it")
    if st.st_uid not in (os.getuid(), 0):
        return f"its directory {path} belongs to {_owner(st.st_uid)}, who can replace the cache"
    if mode & 0o022 and not mode & stat.S_ISVTX:
        return f"other users can replace files in its directory {path} (mode {mode:o}, not sticky)"
    return None


def _make_private_dir(login: KerberosLogin) -> None:
    path = os.path.dirname(login.cache_path)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise login.refused(login.cache_path, f"cannot create the directory {path}: {exc.strerror or exc}") from None
    problem = directory_problem(path, private=True)
    if problem:
        raise login.refused(login.cache_path, problem + "; remove it, or set kerberos_ccache to a cache in a "
                                                        "directory only this user can write")


def check_location(login: KerberosLogin) -> None:
    """Raise ``UnsafeTicketCache`` unless the login's cache may be written and read here: its directory (hive-ha's
    private one is created 0700), and the cache file if it exists (this user's, not a link)."""
    if login.ccache:
        problem = directory_problem(os.path.dirname(os.path.abspath(login.cache_path)), private=False)
        if problem:
            raise login.refused(login.cache_path, problem)
    else:
        _make_private_dir(login)
    try:
        problem = file_problem(os.lstat(login.cache_path), "the ticket cache")
    except FileNotFoundError:
        problem = None
    if problem:
        raise login.refused(login.cache_path, problem)


class _CacheLease:
    """Which process writes one FILE ticket cache: the holder of a POSIX lock on ``<cache>.lock``.

    Taken without waiting (``LOCK_NB``) and kept while the renewer runs; the kernel releases it when the holder
    exits. POSIX locks belong to a process and are not inherited by ``fork()``, so a forked worker never takes
    its parent's lease for its own. A lock file that is a link, or that another user made, is refused: whoever
    holds it would decide which ticket hive-ha adopts.
    """

    def __init__(self, login: KerberosLogin) -> None:
        self.login = login
        self.path = login.cache_path + ".lock"
        self._fd: Optional[int] = None
        self._fd_pid: Optional[int] = None
        self._holder: Optional[int] = None

    @property
    def held(self) -> bool:
        return fcntl is None or self._holder == os.getpid()

    def acquire(self) -> bool:
        """True if this process holds the lease (already, or now); never waits. ``UnsafeTicketCache`` for a lock
        file another user made."""
        if self.held:
            return True
        if self._fd_pid != os.getpid():
            if self._fd is not None:
                os.close(self._fd)  # the parent's descriptor: closing it here leaves the parent's lock alone
                self._fd = None
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as exc:
                if os.path.islink(self.path):
                    raise self.login.refused(self.path, "the lock file is a symbolic link (another user may have "
                                                        "planted it)") from None
                # no lock file possible: write the cache ourselves (kinit says if it can)
                log.warning("cannot create %s (%s): this process renews %s on its own", self.path, exc,
                            self.login.cache_path)
                self._holder = os.getpid()
                return True
            problem = file_problem(os.fstat(fd), "the lock file")
            if problem:
                os.close(fd)
                raise self.login.refused(self.path, problem + "; whoever holds that lock decides which ticket "
                                                              "hive-ha would adopt")
            self._fd, self._fd_pid = fd, os.getpid()
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

    ``start()`` logs in synchronously (so a bad keytab, principal or cache location is reported at once); a daemon
    thread then renews. A failed renewal is logged and retried with backoff; ``last_error`` keeps it. When another
    process writes the same cache (it holds the lease), this one only follows its ticket (``writer`` is False),
    after checking the cache is its own user's and holds its principal, and takes over if that process goes away.
    The process's ``KRB5CCNAME`` is left alone: the cache is used by the threads that ask for it
    (``thread_ccache``).
    """

    def __init__(self, login: KerberosLogin) -> None:
        self.login = login
        self.renewals = 0  # kinit runs by this process
        self.last_renewal: Optional[float] = None  # epoch seconds of this process's last kinit
        self.last_error: Optional[str] = None
        self.next_renewal: Optional[float] = None  # epoch seconds
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._lease = _CacheLease(login)
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
        check_location(self.login)
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
        check_location(self.login)  # never write our ticket into a file another user made in the meantime
        kinit(self.login)
        self.renewals += 1
        self.last_renewal = time.time()
        self.last_error = None
        return self._schedule(tgt_end_time(self.login.cache_name))

    def _follow(self) -> Optional[float]:
        """Another process writes the cache: seconds until we look again, or None while it holds no valid ticket.
        Raises ``UnsafeTicketCache`` for a cache of another user or another principal: never adopted."""
        problem = cache_problem(self.login.cache_name, self.login.principal)
        if problem:
            raise self.login.refused(self.login.cache_path, problem + f" (the process holding {self._lease.path} "
                                                                      "wrote it)")
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
        self.renewals, self.last_error, self.last_renewal = 0, None, None


_renewers: Dict[KerberosLogin, TicketRenewer] = {}
_renewers_lock = threading.Lock()


def ensure_login(login: KerberosLogin) -> TicketRenewer:
    """The process-wide renewer of ``login``, started (restarted after a fork); raises KerberosLoginFailed."""
    with _renewers_lock:
        renewer = _renewers.get(login)
        if renewer is None:
            renewer = _renewers[login] = TicketRenewer(login)
    return renewer.start()  # kinit (up to a minute): outside the table's lock


def renewer_of(login: KerberosLogin) -> Optional[TicketRenewer]:
    """The renewer of ``login`` in this process, if one was started (never starts one)."""
    with _renewers_lock:
        return _renewers.get(login)


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


# -- what an operator sees (hive-ha check, Hue's status view) ----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TicketState:
    """The ticket a GSSAPI client of hive-ha uses, for diagnostics: never a key, a password or the cache's path.

    ``source``: ``keytab`` (hive-ha's own login), ``hue`` (a Kerberized Hue's cache), ``cache`` (another cache
    given to hive-ha) or ``process`` (the process's default cache); ``renewed_by`` who keeps it fresh, in words.
    ``principal`` is the cache's, ``expected`` the configured one; ``starts``/``ends`` the TGT's (the start is its
    last renewal); ``problem`` says what is wrong, if anything; ``renewer`` hive-ha's own renewer's state.
    """

    source: str
    renewed_by: str
    expected: Optional[str]
    principal: Optional[str]
    starts: Optional[float]
    ends: Optional[float]
    problem: Optional[str]
    renewer: Optional[Dict[str, object]] = None

    def as_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


def ticket_state(source: str, renewed_by: str, ccache: str, expected: Optional[str],
                 renewer: Optional[TicketRenewer] = None, now: Optional[float] = None) -> TicketState:
    """Read ``ccache`` (a FILE cache; others cannot be read from outside GSSAPI) and say what state its ticket is in."""
    now = time.time() if now is None else now
    problem = cache_problem(ccache, expected)
    ticket = read_cache(ccache)
    if problem is None:
        if file_path(ccache) is None:
            problem = f"not a FILE cache ({ccache.split(':', 1)[0]}): its ticket cannot be inspected"
        elif ticket is None:
            problem = "no ticket cache yet (kinit, or Hue's kt_renewer, writes it)"
        elif ticket.ends is None:
            problem = f"no ticket-granting ticket of {ticket.principal} in the cache"
        elif ticket.ends <= now:
            problem = f"the ticket of {ticket.principal} expired"
    own = None
    if renewer is not None:
        error = _without_paths(renewer.last_error, ccache, renewer.login.keytab)
        own = {"writer": renewer.writer, "renewals": renewer.renewals, "last_renewal": renewer.last_renewal,
               "next_renewal": renewer.next_renewal, "last_error": error}
        problem = error or problem  # why the renewal fails says more than its consequence
    return TicketState(source, renewed_by, expected, ticket.principal if ticket else None,
                       ticket.starts if ticket else None, ticket.ends if ticket else None, problem, own)


def _without_paths(text: Optional[str], ccache: str, keytab: str) -> Optional[str]:
    """``text`` with the ticket cache's and the keytab's paths replaced by what they are (diagnostics name neither)."""
    path = file_path(ccache)
    for secret, word in ((path, "the ticket cache"), (keytab, "the keytab")):
        if text and secret:
            text = text.replace(secret, word)
    return text


# -- diagnoses -------------------------------------------------------------------------------------------------
def initiate_error(service: str, host: str, principal: Optional[str] = None) -> Optional[str]:
    """Try the client's first GSSAPI step for ``service@host`` as ``principal`` (in the calling thread, with its
    ticket cache); the GSS error text, or None if a service ticket was obtained (the problem is then elsewhere) or
    pykerberos is missing."""
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


def hints(gss_error: Optional[str], service: str, host: str, principal: Optional[str],
          ccache: Optional[str] = None) -> str:
    """What to check, in words, for a GSSAPI failure (most specific first); ``ccache`` is the cache used (default:
    the process's)."""
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
        where = "the ticket cache hive-ha was given" if ccache else "the process's ticket cache (KRB5CCNAME)"
        out.append(f"no ticket for {who} in {where}: run 'kinit {who}', set kerberos_keytab (check it with "
                   "'klist -k <keytab>'), or in a Kerberized Hue check that 'hue kt_renewer' runs")
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
