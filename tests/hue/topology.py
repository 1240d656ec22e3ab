"""Hue as it runs in production, on one machine: several Hue instances (``hue rungunicornserver``, forked workers)
sharing one database, behind HAProxy configured by ``hive-ha emit haproxy --profile hue`` and kept in step by
``hive-ha monitor``; users reach Hue through the load balancer only.

    with Topology(PostgresServer(), hue_ini, instances=2) as topology:   # the database server stays the caller's
        topology.url                                  # the load balancer: what users open
        topology.hues[0].kill()                       # kill -9 of one Hue instance (master and workers)
        topology.lb.set_servers([...])                # an admin edits the file of Hue servers: the monitor applies it

What an admin configures for that (docs/hue.md, "Hue in production"): every instance has the same hue.ini but its
own port: the same ``secret_key`` (Django's session cookies and Hue's JWTs are signed with it, so a user signed in on
one instance is signed in on all) and the same ``[[database]]`` (sessions, users, query history, the HiveServer2
``Session`` rows hive-ha reads live there); the load balancer's client settings (``use_x_forwarded_host``). The
load balancer's config is ``emit``'s, checked by the haproxy binary before it is written. The Hue profile's backends
are the Hue instances, which no registry lists: the monitor watches a file of them (``--servers-file``), which the
admin edits to add, drain or remove an instance; a Hue that dies is taken out by HAProxy's own health check
(``/desktop/debug/is_alive``), not by the monitor. HiveServer2 is not behind this load balancer: hive-ha in each Hue
finds it in ZooKeeper.

Every process (Hue masters and workers, HAProxy, the monitor) is stopped by its PID or process group on ``close()``,
also when a start failed half-way; the database made for the topology is dropped.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from hive_ha.lb.runtime_api import RuntimeApi
from hive_ha.sandbox.lifecycle import rig_python
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import wait_until
from tests.hue.hue_process import HueHome
from tests.rig.lbrig import lb_workdir, listening, pdeathsig

LOOPBACK = "127.0.0.1"
#: The backend the Hue profile's config names (HAProxy ``backend hue``).
BACKEND = "hue"


def hive_ha_command():
    """The ``hive-ha`` console script of the rig's environment (the machine the load balancer runs on), this
    checkout's code first."""
    script = os.path.join(os.path.dirname(rig_python()), "hive-ha")
    return [script] if os.path.exists(script) else [rig_python(), "-m", "hive_ha.cli"]


def _env():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


class HueLoadBalancer:
    """HAProxy in front of ``servers`` (``(host, port)``): its config from ``hive-ha emit haproxy --profile hue``
    (checked by the binary), HAProxy in master-worker mode, and ``hive-ha monitor`` watching the file of Hue servers.
    ``emit_command`` and ``config`` are what ran and what it wrote (docs/hue.md quotes them)."""

    def __init__(self, servers, check_interval=2.0):
        self.dir = lb_workdir("hive-ha-hue-lb-")
        self.port = free_port()
        self.servers_file = os.path.join(self.dir, "hue-servers")
        self.config_file = os.path.join(self.dir, "haproxy.cfg")
        self.monitor_log = os.path.join(self.dir, "monitor.log")
        self.haproxy_log = os.path.join(self.dir, "haproxy.log")
        self.haproxy = self.monitor = None
        self._write_servers(servers)
        # The flags that shape the config: emit and monitor must be given the same ones.
        self.profile_flags = ["--profile", "hue", "--bind", LOOPBACK, "--bind", f"hue={LOOPBACK}:{self.port}",
                              "--check-interval", f"{check_interval:g}", "--runtime-dir", self.dir,
                              "--log-dir", self.dir, "--no-stats"]
        self.emit_command = [*hive_ha_command(), "emit", "haproxy", "--servers-file", self.servers_file,
                             *self.profile_flags, "--check", "-o", self.config_file]
        self.config = self.client_settings = None

    @property
    def url(self):
        return f"http://{LOOPBACK}:{self.port}"

    def start(self):
        done = subprocess.run(self.emit_command, env=_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"hive-ha emit: {done.returncode}: {done.stderr}"
        with open(self.config_file) as f:
            self.config = f.read()
        with open(self.config_file + ".clients.txt") as f:
            self.client_settings = f.read()
        # Master-worker mode (-W), in the foreground (-db), as the monitor's graceful reloads need.
        self.haproxy = subprocess.Popen(
            [*pdeathsig(), shutil.which("haproxy"), "-W", "-db", "-f", self.config_file], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=open(self.haproxy_log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(lambda: self.haproxy.poll() is not None or listening(self.port), 30,
                   message=lambda: f"haproxy did not listen on {self.port}: {self.log('haproxy')}")
        assert self.haproxy.poll() is None, f"haproxy exited: {self.log('haproxy')}"
        self.monitor = subprocess.Popen(
            [*pdeathsig(), *hive_ha_command(), "monitor", "--lb", "haproxy", "--config", self.config_file,
             "--servers-file", self.servers_file, *self.profile_flags], cwd=self.dir, env=_env(),
            stdin=subprocess.DEVNULL, stdout=open(self.monitor_log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(lambda: self.monitor.poll() is not None or "config already current" in self.log("monitor"), 60,
                   message=lambda: f"hive-ha monitor did not start: {self.log('monitor')}")
        assert self.monitor.poll() is None, f"hive-ha monitor exited: {self.log('monitor')}"
        return self

    def set_servers(self, servers):
        """What an admin does to add, drain or remove a Hue instance: edit the file (atomically); the monitor
        applies it."""
        self._write_servers(servers)

    def _write_servers(self, servers):
        temporary = self.servers_file + ".new"
        with open(temporary, "w") as f:
            f.write("# the Hue instances behind the load balancer\n")
            f.writelines(f"{host}:{port}\n" for host, port in servers)
        os.replace(temporary, self.servers_file)

    def states(self):
        """Server name (``s_<host>_<port>``) -> HAProxy's state of it: UP, DOWN (its health check failed) or MAINT
        (taken out by the monitor)."""
        return {fields[1]: fields[17].split()[0] for fields in self._server_stats()}

    def served(self):
        """Server name -> requests HAProxy sent it so far (its ``stot``)."""
        return {fields[1]: int(fields[7] or 0) for fields in self._server_stats()}

    def _server_stats(self):
        """The CSV fields of ``show stat`` for each server of the Hue backend."""
        for line in RuntimeApi(os.path.join(self.dir, "admin.sock")).command("show stat").splitlines():
            fields = line.split(",")
            if len(fields) > 17 and fields[0] == BACKEND and fields[1] not in ("BACKEND", "FRONTEND"):
                yield fields

    def log(self, which):
        path = self.monitor_log if which == "monitor" else self.haproxy_log
        try:
            with open(path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return "(no log)"

    def close(self):
        if self.monitor is not None:
            _stop(self.monitor, signal.SIGTERM, 15)  # it stops within 10 s (its documented bound)
        if self.haproxy is not None:
            _stop(self.haproxy, signal.SIGTERM, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


#: ``[desktop]`` keys of a production Hue behind the load balancer: emit's client settings for the Hue profile, and
#: no debug pages (Hue's defaults show Django's debug page, with settings and a traceback, on every server error).
PRODUCTION_DESKTOP = """\
use_x_forwarded_host=true
secure_proxy_ssl_header=false
django_debug_mode=false
http_500_debug_mode=false
"""


def server_name(home):
    """HAProxy's name for a Hue instance, which is also its stickiness cookie's value."""
    return f"s_{LOOPBACK}_{home.port}"


class Topology:
    """``instances`` Hue instances with ``workers`` gunicorn workers each, on one new database of ``db_server`` (a
    started ``tests.rig.databases`` server, the caller's), behind ``HueLoadBalancer``. ``hue_ini``: the sections
    after ``[desktop]`` (``[beeswax]``, ``[libzookeeper]``, ``[hive_ha]``), the same on every instance."""

    def __init__(self, db_server, hue_ini, instances=2, workers=2, check_interval=2.0):
        self.db_server, self.hue_ini = db_server, hue_ini
        self.instances, self.workers, self.check_interval = instances, workers, check_interval
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex  # one per deployment, the same on every instance
        self.database_name = "hue_" + uuid.uuid4().hex[:12]
        self.hues, self.lb, self._database = [], None, None

    @property
    def url(self):
        return self.lb.url

    def start(self, users=(), password=""):
        """Create the database, migrate it once, add ``users``, start every Hue instance and the load balancer."""
        try:
            self._database = self.db_server.create_database(self.database_name)
            self.hues = [HueHome(self.hue_ini, workers=self.workers, database=self._database.hue_ini(),
                                 desktop=PRODUCTION_DESKTOP, secret_key=self.secret_key)
                         for _ in range(self.instances)]
            self.hues[0].hue("migrate", "--noinput")  # one database: migrated once, by one instance
            if users:
                self.hues[0].add_users(*users, password=password)
            with ThreadPoolExecutor(len(self.hues)) as pool:
                list(pool.map(lambda home: home.start_server(), self.hues))
            self.lb = HueLoadBalancer([(LOOPBACK, home.port) for home in self.hues], self.check_interval).start()
            self.wait_all_up()
        except BaseException:
            self.close()
            raise
        return self

    def wait_all_up(self, timeout=60):
        """Until HAProxy's health checks see every instance answer."""
        wanted = {server_name(home) for home in self.hues}
        wait_until(lambda: {name for name, state in self.lb.states().items() if state == "UP"} >= wanted, timeout,
                   interval=0.1, message=lambda: f"not every Hue is UP in HAProxy: {self.lb.states()}")

    def instance_of(self, cookie_value):
        """The Hue instance a stickiness cookie names."""
        return next(home for home in self.hues if server_name(home) == cookie_value)

    def logs(self):
        return "\n".join(home.log() for home in self.hues)

    def close(self):
        """Stop everything this topology started (safe to repeat)."""
        errors = []
        lb, hues, self.lb, self.hues = self.lb, self.hues, None, []

        def run(step):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - every process is stopped; the first failure is raised
                errors.append(exc)
        if lb is not None:
            run(lb.close)
        if hues:
            with ThreadPoolExecutor(len(hues)) as pool:  # each waits for its gunicorn to stop
                list(pool.map(lambda home: run(home.stop), hues))
        if self._database is not None:
            self._database = None
            try:
                self.db_server.drop_database(self.database_name)
            except Exception as exc:  # noqa: BLE001 - a database server killed by the test and not restarted
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _stop(process, sig, timeout):
    """Stop ``process`` and its process group by PID: ``sig``, then SIGKILL after ``timeout`` s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def timed(fn):
    """``(result or the exception, seconds)`` of ``fn()``."""
    start = time.monotonic()
    try:
        return fn(), time.monotonic() - start
    except Exception as exc:  # noqa: BLE001 - what the user got
        return exc, time.monotonic() - start
