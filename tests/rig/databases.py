"""The database servers Hue runs on in production, for tests: Debian's PostgreSQL and MariaDB, each started in its own
temporary directory on a free loopback port (as ``hive_ha.sandbox.zookeeper`` does for ZooKeeper).

    with PostgresServer() as pg:                       # initdb + postgres, ready in ~2 s
        database = pg.create_database("hue")           # a database and its owner, as a Hue admin creates them
        database.hue_ini()                             # the [[database]] section of hue.ini for it
    with MariaDBServer() as maria:                     # mariadb-install-db + mariadbd, ready in ~4 s

Each server is one child process in its own process group, with its data, socket, pid file and log (``server.log``)
in its temporary directory. It is ready when its own command-line client runs a query through the server's socket.
``kill()`` is ``kill -9`` of the process group (a real fault; the data stays), ``start()`` brings it back on the
same port, ``stop()`` shuts it down cleanly and deletes the directory. Nothing outlives Python: an ``atexit`` hook
kills what is left, and the server gets SIGKILL through ``setpriv --pdeathsig`` when the launching (main) thread dies.

Root: PostgreSQL's ``initdb`` and ``postgres`` refuse to run as root, and so does ``mariadbd`` unless told a user.
When the tests run as root, every command of the server runs as the unprivileged system user ``hive-ha-db`` (created
by scripts/install-system-deps.sh; no login, no home) through ``setpriv --reuid --regid --clear-groups``, which
execs the command (no extra process stands between us and the server's PID); the temporary directory is handed to
that user. Otherwise they run as the current user. The administrative SQL goes through the server's socket, as its
superuser (PostgreSQL ``trust`` on the socket only; MariaDB's ``root@localhost``), the application user through TCP
with a password.
"""
import atexit
import contextlib
import dataclasses
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Dict, Optional

from hive_ha.sandbox.lifecycle import Startable
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import WaitTimeout, wait_until

__all__ = ["DatabaseError", "DatabaseServer", "HueDatabase", "MariaDBServer", "PostgresServer", "SERVERS", "DB_USER"]

LOOPBACK = "127.0.0.1"
#: The unprivileged user the servers run as when the tests run as root.
DB_USER = os.environ.get("HIVE_HA_DB_USER", "hive-ha-db")
#: The application user Hue connects as (its password is made per server).
APP_USER = "hue"
COMMAND_TIMEOUT = 120.0  # seconds for one initdb / install / client command

_live = set()
_live_lock = threading.Lock()


class DatabaseError(RuntimeError):
    """A database server could not be prepared or started (the message carries the tail of its log)."""


def _kill_all_at_exit():
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.stop(timeout=5.0)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(_kill_all_at_exit)


@dataclasses.dataclass(frozen=True)
class HueDatabase:
    """One database on a server, as Hue's ``[desktop] [[database]]`` keys name it."""

    engine: str
    host: str
    port: int
    user: str
    password: str
    name: str
    options: Dict[str, object]

    def hue_ini(self) -> str:
        """The ``[[database]]`` section an admin writes (place it under ``[desktop]``)."""
        return (f"[[database]]\nengine={self.engine}\nhost={self.host}\nport={self.port}\nuser={self.user}\n"
                f"password={self.password}\nname={self.name}\noptions={json.dumps(self.options)}\n")


class DatabaseServer(Startable):
    """What PostgreSQL and MariaDB share: directory, port, launch, readiness, kill, restart and stop."""

    kind = ""  #: what HIVE_HA_HUE_DB names it
    engine = ""  #: Hue's hue.ini engine value

    def __init__(self, name: Optional[str] = None, start_timeout: float = 90.0) -> None:
        self.name = name or self.kind
        self.start_timeout = start_timeout
        self.dir: Optional[str] = None
        self.port: Optional[int] = None
        self.password = secrets.token_urlsafe(16)  # the application user's
        self._process: Optional[subprocess.Popen] = None
        self._initialised = False
        self._lock = threading.RLock()

    # -- what each server defines --------------------------------------------------------------------------------------
    def _initialise(self) -> None:
        raise NotImplementedError

    def _server_command(self) -> list:
        raise NotImplementedError

    def _client_command(self, sql: str, database: Optional[str]) -> list:
        raise NotImplementedError

    def _setup_sql(self) -> str:
        raise NotImplementedError

    def _database_sql(self, name: str) -> str:
        raise NotImplementedError

    def _drop_sql(self, name: str) -> str:
        raise NotImplementedError

    def _refuse_sql(self, refuse: bool) -> str:
        raise NotImplementedError

    def _options(self) -> Dict[str, object]:
        return {"connect_timeout": 10}

    #: signal for a clean, quick shutdown
    _stop_signal = signal.SIGTERM

    # -- paths ---------------------------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Optional[str]:
        return os.path.join(self.dir, "data") if self.dir else None

    @property
    def run_dir(self) -> Optional[str]:
        return os.path.join(self.dir, "run") if self.dir else None

    @property
    def log_file(self) -> Optional[str]:
        return os.path.join(self.dir, "server.log") if self.dir else None

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 16384))
                return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return "(no log)"

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    def start(self) -> "DatabaseServer":
        """Prepare (once), launch and wait until the server answers; again after ``kill()``, on the same port and
        data. The first start retries on a fresh port when another process took the chosen one."""
        with self._lock:
            if self.running:
                return self
            attempts = 1 if self._initialised else 3
            for attempt in range(attempts):
                if self.dir is None:
                    self._prepare()
                self._launch()
                try:
                    self._wait_ready()
                    break
                except DatabaseError as exc:
                    self._kill_group(signal.SIGKILL)
                    if attempt + 1 < attempts and "already in use" in str(exc):
                        self.port = free_port()
                        continue
                    raise
            if not self._initialised:
                self.sql(self._setup_sql())
                self._initialised = True
        return self

    def kill(self) -> None:
        """``kill -9`` of the server and everything it forked (its data stays; ``start()`` brings it back)."""
        with self._lock:
            self._kill_group(signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the server down (cleanly, SIGKILL after ``timeout``) and delete its directory. Safe to repeat."""
        with self._lock:
            self._terminate(timeout)
            if self.dir and os.environ.get("HIVE_HA_KEEP_DATABASE_DIRS") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self._initialised = False
            with _live_lock:
                _live.discard(self)

    close = stop

    # -- SQL and databases ---------------------------------------------------------------------------------------------
    def sql(self, statements: str, database: Optional[str] = None) -> str:
        """Run ``statements`` as the server's superuser through its socket; returns the client's output."""
        done = subprocess.run(self._client_command(statements, database), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, cwd=self.dir)
        if done.returncode != 0:
            raise DatabaseError(f"{self.name}: SQL failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def create_database(self, name: str) -> HueDatabase:
        """A database owned by (MariaDB: all privileges to) the application user, with the section of hue.ini that
        points Hue at it. Django's test database ``test_<name>`` may be created by that user too."""
        self.sql(self._database_sql(name))
        return HueDatabase(self.engine, LOOPBACK, self.port, APP_USER, self.password, name, self._options())

    def drop_database(self, name: str) -> None:
        self.sql(self._drop_sql(name))

    @contextlib.contextmanager
    def refusing_new_connections(self):
        """While inside, the server refuses every new connection of the application user (a fault of the server's
        own: PostgreSQL's role connection limit, MariaDB's account lock); connections already open keep working."""
        self.sql(self._refuse_sql(True))
        try:
            yield self
        finally:
            self.sql(self._refuse_sql(False))

    # -- internals -----------------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        self.dir = tempfile.mkdtemp(prefix=f"hive-ha-{self.name}-")
        with _live_lock:
            _live.add(self)
        os.makedirs(self.run_dir)
        self.port = free_port()
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(DB_USER)
            except KeyError:
                raise DatabaseError(f"user {DB_USER} is missing: database servers refuse to run as root "
                                    f"(scripts/install-system-deps.sh creates it)") from None
            for path in (self.dir, self.run_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._initialise()

    def _as_db_user(self, command: list, die_with_parent: bool = False) -> list:
        """``command`` as the user the server runs as: ``setpriv`` execs it (no process in between)."""
        prefix = []
        if os.geteuid() == 0:
            prefix += [f"--reuid={DB_USER}", f"--regid={DB_USER}", "--clear-groups"]
        if die_with_parent and threading.current_thread() is threading.main_thread():
            prefix += ["--pdeathsig", "KILL"]  # dies with the main thread even when Python is SIGKILLed
        return (["setpriv", *prefix, "--", *command]) if prefix else command

    def _run_setup_command(self, command: list, what: str) -> None:
        with open(os.path.join(self.dir, f"{what}.log"), "wb") as log:
            done = subprocess.run(self._as_db_user(command), stdout=log, stderr=subprocess.STDOUT,
                                  timeout=COMMAND_TIMEOUT, cwd=self.dir)
        if done.returncode != 0:
            with open(os.path.join(self.dir, f"{what}.log"), errors="replace") as log:
                raise DatabaseError(f"{self.name}: {what} failed ({done.returncode}):\n{log.read()[-3000:]}")

    def _launch(self) -> None:
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(self._as_db_user(self._server_command(), die_with_parent=True),
                                             cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_ready(self) -> None:
        def answers():
            if not self.running:
                raise DatabaseError(f"{self.name} exited with {self._process.returncode} during start-up; "
                                    f"log {self.log_file}:\n{self.log_tail()}")
            try:
                self.sql("SELECT 1")
                return True
            except (DatabaseError, subprocess.TimeoutExpired):
                return False

        try:
            wait_until(answers, timeout=self.start_timeout, interval=0.1, message=f"{self.name} did not answer")
        except WaitTimeout as exc:
            raise DatabaseError(f"{exc}; log {self.log_file}:\n{self.log_tail()}") from None

    def _terminate(self, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(self._stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group(signal.SIGKILL)

    def _kill_group(self, sig: int) -> None:
        """Signal the server's process group and every process it forked (PostgreSQL's backends each lead a process
        group of their own: they must not outlive their postmaster, whose successor would find their shared memory
        in use), reap it, and wait until none of them is left."""
        process = self._process
        if process is None:
            return
        children = _children(process.pid)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        for child in children:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass
        process.wait(30)
        # The group may outlive its leader for a moment (backends exiting): wait until it is empty.
        wait_until(lambda: not group_alive(process.pid) and not any(_alive(child) for child in children),
                   timeout=30, interval=0.05, message=f"{self.name}'s processes did not exit")
        self._process = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'running' if self.running else 'stopped'} port={self.port}>"


def _children(pid: int) -> list:
    """The processes whose parent is ``pid`` now (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie no longer holds memory or sockets; its parent, gone, leaves it to init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    """A process of the group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# ------------------------------------------------------------------------------------------------------- PostgreSQL
def postgres_bindir() -> str:
    """``$HIVE_HA_POSTGRES_BIN``, else the newest of Debian's ``/usr/lib/postgresql/<version>/bin``."""
    configured = os.environ.get("HIVE_HA_POSTGRES_BIN")
    if configured:
        return configured
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise DatabaseError("PostgreSQL not found (apt-get install postgresql; scripts/install-system-deps.sh)")
    return os.path.dirname(found[-1])


class PostgresServer(DatabaseServer):
    """``initdb`` then ``postgres`` (Debian's PostgreSQL): TCP on 127.0.0.1 with scram-sha-256 passwords, a socket
    in the directory with ``trust`` for the superuser ``postgres``. No ``fsync`` (the data is thrown away): a commit
    reaches the operating system, so it survives ``kill -9`` of the server, not a crash of the machine. Locking and
    transactions are PostgreSQL's own."""

    kind = "postgresql"
    engine = "postgresql_psycopg2"
    _stop_signal = signal.SIGINT  # "fast" shutdown: clients are disconnected, no wait for them

    def __init__(self, name=None, start_timeout=90.0):
        super().__init__(name, start_timeout)
        self.bindir = postgres_bindir()

    def _initialise(self):
        self._run_setup_command([os.path.join(self.bindir, "initdb"), "-D", self.data_dir, "-U", "postgres",
                                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                                 "--no-sync"], "initdb")

    def _server_command(self):
        settings = {
            "port": self.port, "listen_addresses": LOOPBACK, "unix_socket_directories": self.run_dir,
            "fsync": "off", "full_page_writes": "off", "shared_buffers": "32MB",
            "max_connections": 200, "logging_collector": "off",
        }
        command = [os.path.join(self.bindir, "postgres"), "-D", self.data_dir]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _client_command(self, sql, database):
        return [os.path.join(self.bindir, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.run_dir,
                "-p", str(self.port), "-U", "postgres", "-d", database or "postgres", "-c", sql]

    def _setup_sql(self):
        return f"CREATE ROLE {APP_USER} LOGIN CREATEDB PASSWORD {_sql_literal(self.password)}"

    def _database_sql(self, name):
        return f'CREATE DATABASE "{name}" OWNER {APP_USER}'

    def _drop_sql(self, name):
        return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'

    def _refuse_sql(self, refuse):
        return f"ALTER ROLE {APP_USER} CONNECTION LIMIT {0 if refuse else -1}"


# ---------------------------------------------------------------------------------------------------------- MariaDB
class MariaDBServer(DatabaseServer):
    """``mariadb-install-db`` then ``mariadbd`` (Debian's MariaDB): TCP on 127.0.0.1, the application user
    ``hue@127.0.0.1`` with a password, ``root@localhost`` on the socket. InnoDB with its defaults for locking
    (``innodb_lock_wait_timeout`` 50 s, deadlock detection on); a small buffer pool, and a commit written to the
    operating system without a flush to disk (``innodb_flush_log_at_trx_commit=2``: it survives ``kill -9`` of the
    server, not a crash of the machine)."""

    kind = "mysql"
    engine = "mysql"

    def _initialise(self):
        os.makedirs(os.path.join(self.dir, "tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam(DB_USER)
            os.chown(os.path.join(self.dir, "tmp"), user.pw_uid, user.pw_gid)
        self._run_setup_command(["mariadb-install-db", "--no-defaults", f"--datadir={self.data_dir}",
                                 "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                                 *self._tuning()], "install")

    def _tuning(self):
        return ["--innodb-buffer-pool-size=64M", "--innodb-log-file-size=32M", "--innodb-flush-log-at-trx-commit=2",
                "--innodb-doublewrite=0", f"--tmpdir={os.path.join(self.dir, 'tmp')}"]

    def _server_command(self):
        return ["mariadbd", "--no-defaults", f"--datadir={self.data_dir}", f"--port={self.port}",
                f"--bind-address={LOOPBACK}", f"--socket={self.socket}",
                f"--pid-file={os.path.join(self.run_dir, 'mariadbd.pid')}", "--skip-name-resolve", "--skip-log-bin",
                "--performance-schema=OFF", "--max-connections=300", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci", *self._tuning()]

    @property
    def socket(self):
        return os.path.join(self.run_dir, "mariadbd.sock") if self.dir else None

    def _client_command(self, sql, database):
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root", "--batch", "--skip-column-names",
                *(["-D", database] if database else []), "-e", sql]

    def _setup_sql(self):
        return f"CREATE USER '{APP_USER}'@'{LOOPBACK}' IDENTIFIED BY {_sql_literal(self.password)}"

    def _database_sql(self, name):
        test_name = "test\\_" + name.replace("_", "\\_")  # Django's test database, a pattern in GRANT
        return (f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci; "
                f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{APP_USER}'@'{LOOPBACK}'; "
                f"GRANT ALL PRIVILEGES ON `{test_name}`.* TO '{APP_USER}'@'{LOOPBACK}'")

    def _drop_sql(self, name):
        return f"DROP DATABASE IF EXISTS `{name}`"

    def _refuse_sql(self, refuse):
        return f"ALTER USER '{APP_USER}'@'{LOOPBACK}' ACCOUNT {'LOCK' if refuse else 'UNLOCK'}"


#: The server classes by the name ``HIVE_HA_HUE_DB`` uses.
SERVERS = {server.kind: server for server in (PostgresServer, MariaDBServer)}
