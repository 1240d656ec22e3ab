"""Connections of their own to the database Hue runs on in the tests (not Django's), and a sampler of lock waits.

    with LockSampler() as sampler:       # polls the server's own lock tables from a separate connection
        ...                              # users failing at once
    sampler.longest, sampler.most        # the longest lock wait seen (s), the most sessions waiting at once

PostgreSQL: ``pg_locks`` every 5 ms (every lock not granted; ``waitstart`` says since when): a wait's length is the
longer of what the server says and how long the sampler has seen it without a break.

MariaDB 10.11 has no ``performance_schema.data_lock_waits`` (MySQL 8's). ``information_schema.INNODB_TRX`` lists the
transactions in ``LOCK WAIT``, but InnoDB refreshes those tables only when they were not read for 0.1 s, and
``trx_wait_started`` has whole seconds: it is read every 0.11 s, for who waits at once and for a lower bound of a
wait seen without a break. InnoDB's own counters give the rest exactly: ``Innodb_row_lock_waits`` (waits begun) and
``Innodb_row_lock_time`` (milliseconds spent in them, counted when each ends) since the sampler started; their sum is
an upper bound of the longest, which ``longest`` reports when larger.
"""
import threading
import time

#: Seconds between two reads of the lock tables (InnoDB's are not refreshed more often than every 0.1 s).
SAMPLE_EVERY = {"postgresql": 0.005, "mysql": 0.11}


def _settings():
    from django.db import connection

    return connection.settings_dict


def _run_server():
    from tests.hue import environment  # the run's database server (started on import)

    return environment.DATABASE_SERVER


def admin_connection(server=None):
    """The server's superuser, through the server's socket, autocommit (what it reads is server-wide); ``server``:
    a ``tests.rig.databases`` server, by default the run's."""
    server = server or _run_server()
    if server.kind == "postgresql":
        import psycopg2

        connection = psycopg2.connect(host=server.run_dir, port=server.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        return connection
    import MySQLdb

    return MySQLdb.connect(unix_socket=server.socket, user="root", autocommit=True)


def application_connection():
    """Another connection as Hue's own user (what another request's transaction runs on), not in autocommit."""
    settings, server = _settings(), _run_server()
    if server.kind == "postgresql":
        import psycopg2

        return psycopg2.connect(host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
                                password=settings["PASSWORD"], dbname=settings["NAME"], connect_timeout=10)
    import MySQLdb

    connection = MySQLdb.connect(host=settings["HOST"], port=int(settings["PORT"]), user=settings["USER"],
                                 password=settings["PASSWORD"], database=settings["NAME"], connect_timeout=10)
    connection.autocommit(False)
    with connection.cursor() as cursor:  # as Django sets it for MySQL
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    return connection


def hold_rows(connection, ids, nowait=False):
    """Lock rows of Hue's Session table in ``connection``'s transaction, as a request saving them holds them; with
    ``nowait`` the driver raises at once when another transaction holds one."""
    with connection.cursor() as cursor:
        marks = ",".join(["%s"] * len(ids))
        cursor.execute(f"SELECT id FROM beeswax_session WHERE id IN ({marks}) ORDER BY id FOR UPDATE"
                       + (" NOWAIT" if nowait else ""), list(ids))
        return [row[0] for row in cursor.fetchall()]


class LockSampler:
    """A thread reading the server's lock tables every ``SAMPLE_EVERY`` s on a connection of its own.

    ``longest``: the longest lock wait seen (s); ``most``: the most sessions seen waiting at once; ``waits``: how many
    waits began (MariaDB: InnoDB's count; PostgreSQL: the waits sampled); ``lengths``: each wait seen, how long it
    was seen to last (s; MariaDB: in steps of the 0.11 s samples, a lower bound); ``deadlocks``: deadlocks the server
    detected meanwhile (PostgreSQL ``pg_stat_database``, MariaDB ``Innodb_deadlocks``). ``server``: a
    ``tests.rig.databases`` server, by default the run's."""

    def __init__(self, server=None):
        self.server = server or _run_server()
        self.kind = self.server.kind
        self.longest, self.most, self.waits, self.samples, self.deadlocks = 0.0, 0, 0, 0, 0
        self.lengths = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = self._error = self._base = None

    def __enter__(self):
        self._connection = admin_connection(self.server)
        self._base = self._counters()
        self._deadlocks_base = self._deadlock_count()
        self._thread = threading.Thread(target=self._run, name="lock sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        if self._error is None:
            self._take_counters()
            self.deadlocks = self._deadlock_count() - self._deadlocks_base
        self._connection.close()
        if self._error is not None and exc[0] is None:
            raise self._error

    def _waiting(self, cursor):
        """``[(waiter, seconds waited so far as the server says, or None)]`` right now."""
        if self.kind == "postgresql":
            cursor.execute("SELECT pid, extract(epoch FROM clock_timestamp() - waitstart) FROM pg_locks "
                           "WHERE NOT granted AND pid <> pg_backend_pid()")
            return [(pid, float(seconds) if seconds is not None else None) for pid, seconds in cursor.fetchall()]
        cursor.execute("SELECT trx_id, trx_requested_lock_id FROM information_schema.INNODB_TRX "
                       "WHERE trx_state = 'LOCK WAIT'")
        return [((trx, lock), None) for trx, lock in cursor.fetchall()]

    def _counters(self):
        """MariaDB: (row lock waits begun, milliseconds waited) since the server started; PostgreSQL: none."""
        if self.kind != "mysql":
            return (0, 0)
        with self._connection.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', "
                           "'Innodb_row_lock_time')")
            values = dict(cursor.fetchall())
        return int(values["Innodb_row_lock_waits"]), int(values["Innodb_row_lock_time"])

    def _deadlock_count(self):
        with self._connection.cursor() as cursor:
            if self.kind == "postgresql":
                cursor.execute("SELECT coalesce(sum(deadlocks), 0) FROM pg_stat_database")
                return int(cursor.fetchone()[0])
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
            row = cursor.fetchone()
            return int(row[1]) if row else 0

    def over(self, seconds):
        """How many waits were seen to last longer than ``seconds``."""
        with self._lock:
            return sum(1 for length in self.lengths.values() if length > seconds)

    def _take_counters(self):
        if self.kind != "mysql":
            return
        waits, milliseconds = self._counters()
        with self._lock:
            self.waits = waits - self._base[0]
            self.longest = max(self.longest, (milliseconds - self._base[1]) / 1000.0)

    def _run(self):
        first_seen, seen = {}, set()
        try:
            while not self._stop.is_set():
                with self._connection.cursor() as cursor:
                    now, waiting = time.monotonic(), self._waiting(cursor)
                first_seen = {key: first_seen.get(key, now) for key, _ in waiting}
                seen.update((key, first_seen[key]) for key, _ in waiting)
                lengths = [max(reported or 0.0, now - first_seen[key]) for key, reported in waiting]
                with self._lock:
                    for (key, _), length in zip(waiting, lengths):
                        self.lengths[(key, first_seen[key])] = length
                    self.samples += 1
                    self.most = max(self.most, len(waiting))
                    self.longest = max([self.longest, *lengths])
                    if self.kind == "postgresql":
                        self.waits = len(seen)
                self._take_counters()
                self._stop.wait(SAMPLE_EVERY[self.kind])
        except Exception as exc:  # noqa: BLE001 - reported by __exit__
            self._error = exc
