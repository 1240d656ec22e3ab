"""Tests of the database-server rig itself (tests/rig/databases.py): Debian's PostgreSQL and MariaDB in temporary
directories, reached as Hue reaches them (TCP, the application user's password), killed, restarted, gone without a
trace."""
import dataclasses
import os
import pwd
import socket
import subprocess

import pytest

from tests.rig.databases import DB_USER, DatabaseError, MariaDBServer

pytestmark = pytest.mark.database  # also the test that starts a server without the fixture

KINDS = ("postgresql", "mysql")


def as_application(server, database, sql):
    """``sql`` run by the application user over TCP with its password, through the server's own client."""
    if server.kind == "postgresql":
        command = [os.path.join(server.bindir, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", database.host,
                   "-p", str(database.port), "-U", database.user, "-d", database.name, "-c", sql]
        env = dict(os.environ, PGPASSWORD=database.password, PGCONNECT_TIMEOUT="5")
    else:
        command = ["mariadb", "--no-defaults", "--protocol=TCP", "-h", database.host, "-P", str(database.port),
                   "-u", database.user, "--batch", "--skip-column-names", "--connect-timeout=5", "-D", database.name,
                   "-e", sql]
        env = dict(os.environ, MYSQL_PWD=database.password)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("kind", KINDS)
def test_a_hue_database_survives_kill_9_and_nothing_is_left_after_stop(database_server_factory, kind):
    server = database_server_factory(kind)
    database = server.create_database("hue")
    assert f"engine={server.engine}\n" in database.hue_ini() and f"port={server.port}\n" in database.hue_ini()
    created = as_application(server, database, "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (7)")
    assert created.returncode == 0, created.stderr
    assert as_application(server, dataclasses.replace(database, password="wrong"), "SELECT 1").returncode != 0
    if os.geteuid() == 0:
        assert os.stat(f"/proc/{server.pid}").st_uid == pwd.getpwnam(DB_USER).pw_uid  # never root
    port, directory, pid = server.port, server.dir, server.pid

    server.kill()  # a real fault: the process group is gone, clients are refused
    assert not os.path.exists(f"/proc/{pid}") and not listening(port)
    assert as_application(server, database, "SELECT 1").returncode != 0
    server.start()  # back on the same port with the same data
    assert server.port == port
    assert as_application(server, database, "SELECT id FROM t").stdout.split() == ["7"]

    pid = server.pid
    server.stop()
    assert not os.path.exists(directory) and not listening(port) and not os.path.exists(f"/proc/{pid}")


def test_a_taken_port_is_replaced_on_the_first_start(database_server_factory, monkeypatch):
    from tests.rig import databases

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = iter([taken.getsockname()[1]])
        monkeypatch.setattr(databases, "free_port", lambda: next(ports, None) or _free())
        server = database_server_factory("mysql")
        assert server.port != taken.getsockname()[1] and listening(server.port)


def _free():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_that_cannot_start_says_why_and_leaves_nothing(tmp_path):
    server = MariaDBServer(start_timeout=30)
    server._tuning = lambda: ["--innodb-buffer-pool-size=not-a-size"]  # mariadbd refuses to start
    with pytest.raises(DatabaseError) as failed:
        with server:
            pass
    assert "install failed" in str(failed.value) or "exited" in str(failed.value)
    assert server.dir is None and not server.running


@pytest.mark.parametrize("kind", KINDS)
def test_refusing_new_connections_is_the_servers_own_refusal_and_ends(database_server_factory, kind):
    server = database_server_factory(kind)
    database = server.create_database("hue")
    with server.refusing_new_connections():
        refused = as_application(server, database, "SELECT 1")
        assert refused.returncode != 0
        assert "too many connections for role" in refused.stderr or "account is locked" in refused.stderr
    assert as_application(server, database, "SELECT 1").returncode == 0
