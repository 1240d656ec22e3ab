"""A real HiveServer2-protocol server for tests: Spark Thrift Server from the ``pyspark`` package, registered in
ZooKeeper the way HiveServer2 registers itself (Spark does not).

    with SparkThriftServer("spark-a", registrar=registrar, namespace="/spark") as spark:
        hive_ha.connect(zookeeper=zk.hosts, namespace="/spark", username="bob")   # lands on spark-a

    a, b = start_all([SparkThriftServer("spark-a", ...), SparkThriftServer("spark-b", ...)])  # boot in parallel

Each server is ``$SPARK_HOME/bin/spark-submit --master local[1] --class ...HiveThriftServer2 spark-internal``
(SPARK_HOME = the installed pyspark package) in its own process group, with its own temporary directory (warehouse,
Derby metastore, Spark conf dir, and ``spark.log``: everything the server prints, quoted when start-up fails). It
listens on a free loopback port; it is ready when the port accepts connections AND a real OpenSession succeeds.

ZooKeeper: once ready, the server is registered through the given `Registrar` in Hive's exact HS2 format
(``serverUri=host:port;version=...;sequence=...`` with the published ``hive.server2.*`` data), on its own ZooKeeper
session with the registrar's short session timeout. The registration follows the process like Hive's own does:
  * ``stop()``  clean shutdown: the znode is deleted first (as HiveServer2.stop() does), then SIGTERM.
  * ``kill()``  SIGKILL of the whole process group; the registration's connection is cut without closing the
                session (``RegisteredServer.crash()``), so the znode lingers until the session expires.
  * the process dying on its own is treated like ``kill()`` (a watcher thread crashes the registration).

Hooks for other set-ups (e.g. Kerberos): ``auth`` (hive.server2.authentication, NONE by default), ``conf`` (extra
``--conf``), ``hiveconf`` (extra ``--hiveconf``; a Kerberos principal given there is also published), ``java_options``
(driver JVM options such as ``-Djava.security.krb5.conf=...``), ``env``, and ``probe_args`` / ``probe`` (how the
ready check opens its session; by default PyHive with the mode matching ``auth``).

Start-up takes 8-9 s on an idle machine and much longer on a loaded one (hence the generous ``ready_timeout``); each
server uses ~400 MB. Processes never outlive Python: an atexit hook kills them, and on Linux the JVM gets SIGKILL
through ``setpriv --pdeathsig`` when the launching (main) thread dies.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from hive_ha.sandbox.lifecycle import rig_python
from hive_ha.testing.waiting import wait_until
from hive_ha.sandbox.zookeeper import free_port

__all__ = ["SparkThriftServer", "start_all", "spark_home", "MAIN_CLASS"]

LOOPBACK = "127.0.0.1"
MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
AUTH_MODES = ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS")
AUTH_KEY = "hive.server2.authentication"
PRINCIPAL_KEY = "hive.server2.authentication.kerberos.principal"
#: hiveconf keys the rig sets itself (one place each: the constructor's arguments).
_OWN_HIVECONF = ("hive.server2.thrift.port", "hive.server2.thrift.bind.host", AUTH_KEY, "hive.server2.transport.mode")
_BIND_ERRORS = ("Address already in use", "BindException")
_PORT_ATTEMPTS = 3
_LOG_TAIL = 6000

_live = set()
_live_lock = threading.Lock()


def _kill_all_at_exit():
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.kill()


atexit.register(_kill_all_at_exit)


def spark_home():
    """The installed pyspark package directory, which carries ``bin/spark-submit`` and the jars; or
    ``$HIVE_HA_SPARK_HOME`` (tests inside Hue's virtualenv use the dev venv's pyspark: `make test-hue` sets it)."""
    home = os.environ.get("HIVE_HA_SPARK_HOME")
    if not home:
        try:
            import pyspark
        except ImportError as exc:
            raise RuntimeError("pyspark is not installed (pip install 'hive-ha[test]'), and HIVE_HA_SPARK_HOME "
                               "is not set") from exc
        home = os.path.dirname(os.path.abspath(pyspark.__file__))
    if not os.access(os.path.join(home, "bin", "spark-submit"), os.X_OK):
        raise RuntimeError("no executable bin/spark-submit in the pyspark package at %s" % home)
    return home


class SparkThriftServer:
    """One Spark Thrift Server process (see the module docstring).

    name: the Spark application name (``SET spark.app.name`` returns it: tests use it to see who answered).
    registrar / namespace / register_kwargs: register in ZooKeeper once ready (no registrar: no registration);
    register_kwargs go to ``Registrar.register`` (e.g. ``version``, ``session_timeout``).
    advertised_host: the host published in ZooKeeper (default: `host`).
    """

    def __init__(self, name=None, *, host=LOOPBACK, port=0, auth="NONE", registrar=None, namespace=None,
                 register_kwargs=None, advertised_host=None, conf=None, hiveconf=None, java_options=(), env=None,
                 driver_memory="512m", master="local[1]", ready_timeout=300.0, probe=None, probe_args=None):
        auth = str(auth).upper()
        if auth not in AUTH_MODES:
            raise ValueError("auth must be one of %s, not %r" % (", ".join(AUTH_MODES), auth))
        clashing = sorted(set(hiveconf or {}) & set(_OWN_HIVECONF))
        if clashing:
            raise ValueError("hiveconf %s is set by SparkThriftServer itself (use host/port/auth)" % clashing[0])
        self._name = name
        self.host, self.port, self.auth = host, int(port), auth
        self.registrar, self.namespace = registrar, namespace
        self.register_kwargs = dict(register_kwargs or {})
        self.advertised_host = advertised_host or host
        self.conf = dict(conf or {})
        self.hiveconf = dict(hiveconf or {})
        self.java_options = list(java_options)
        self.env = dict(env or {})
        self.driver_memory, self.master = driver_memory, master
        self.ready_timeout = float(ready_timeout)
        if auth in ("LDAP", "CUSTOM") and probe is None and probe_args is None:
            raise ValueError("auth=%s needs probe_args (username, password) or a probe for the ready check" % auth)
        self.probe = probe or self._pyhive_probe
        self.probe_args = probe_args
        self.registration = None  # the RegisteredServer, once ready
        self.startup_seconds = None  # launch -> ready (including any port retries)
        self.exited_unexpectedly = False
        self.dir = None
        self._process = None
        self._auto_port = self.port == 0
        self._ending = False
        self._lock = threading.Lock()
        self._launched_at = None

    # -------------------------------------------------------------------------------------------------- properties
    @property
    def name(self):
        return self._name or "spark-%d" % self.port

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def pid(self):
        return self._process.pid if self._process else None

    @property
    def alive(self):
        return self._process is not None and self._process.poll() is None

    @property
    def log_file(self):
        return os.path.join(self.dir, "spark.log") if self.dir else None

    def log_text(self, limit=_LOG_TAIL):
        """The last `limit` characters of what the server printed ('' once its directory is gone)."""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - limit))
                return log.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def rss_bytes(self):
        """Resident memory of the whole process group (the JVM, after spark-submit's exec), from /proc."""
        total = 0
        pgid = self.pid
        for entry in os.listdir("/proc") if pgid else ():
            if not entry.isdigit():
                continue
            try:
                if os.getpgid(int(entry)) != pgid:
                    continue
                with open("/proc/%s/status" % entry) as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except (OSError, ValueError):
                continue  # exited meanwhile
        return total

    # ------------------------------------------------------------------------------------------------ command line
    def command(self):
        """The spark-submit command line (without the setpriv prefix)."""
        hiveconf = {
            "hive.server2.thrift.port": str(self.port),
            "hive.server2.thrift.bind.host": self.host,
            "hive.server2.transport.mode": "binary",
            AUTH_KEY: self.auth,
        }
        hiveconf.update(self.hiveconf)
        conf = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.bindAddress": self.host,
            "spark.driver.host": self.host,
            "spark.sql.shuffle.partitions": "1",
            "spark.sql.warehouse.dir": os.path.join(self.dir, "warehouse"),
            # The Hive client's embedded Derby metastore, kept in this server's directory.
            "spark.hadoop.javax.jdo.option.ConnectionURL":
                "jdbc:derby:;databaseName=%s;create=true" % os.path.join(self.dir, "metastore_db"),
        }
        conf.update(self.conf)
        # C1 only and the serial GC: start-up needs half the CPU (measured: 2 servers booting together on 2 cores,
        # 54 -> 27 CPU s, ready 32 -> 19 s); test queries are far too small to miss the C2 compiler.
        java_options = ["-Dderby.system.home=%s" % os.path.join(self.dir, "derby"),
                        "-Djava.io.tmpdir=%s" % os.path.join(self.dir, "tmp"),
                        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
        java_options += self.java_options
        cmd = [os.path.join(spark_home(), "bin", "spark-submit"), "--master", self.master,
               "--driver-memory", self.driver_memory, "--name", self.name, "--class", MAIN_CLASS,
               "--driver-java-options", " ".join(java_options)]
        for key, value in conf.items():
            cmd += ["--conf", "%s=%s" % (key, value)]
        for key, value in hiveconf.items():
            cmd += ["--hiveconf", "%s=%s" % (key, value)]
        return cmd + ["spark-internal"]

    def _environment(self):
        env = dict(os.environ)
        for var in ("SPARK_HOME", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS", "SPARK_SUBMIT_OPTS", "HADOOP_CONF_DIR"):
            env.pop(var, None)  # nothing from the caller's Spark set-up may leak in
        env.update(SPARK_HOME=spark_home(), SPARK_CONF_DIR=os.path.join(self.dir, "conf"), SPARK_LOCAL_IP=self.host,
                   SPARK_LOG_DIR=self.dir)
        env.update(self.env)
        return env

    # ------------------------------------------------------------------------------------------------ life cycle
    def launch(self):
        """Start the process without waiting (``start_all`` boots several in parallel this way)."""
        if self._process is not None:
            raise RuntimeError("%r already launched" % self)
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="hive-ha-spark-")
            for sub in ("conf", "derby", "tmp"):
                os.mkdir(os.path.join(self.dir, sub))
        if self._auto_port:
            self.port = free_port(self.host)
        command = self.command()
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            command = [setpriv, "--pdeathsig", "KILL", "--"] + command  # dies with this Python process
        with open(self.log_file, "ab") as log:
            log.write(("$ %s\n" % " ".join(command)).encode("utf-8"))
            log.flush()
            self._process = subprocess.Popen(command, cwd=self.dir, env=self._environment(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if self._launched_at is None:
            self._launched_at = time.monotonic()
        with _live_lock:
            _live.add(self)
        return self

    def wait_ready(self):
        """Wait until the port is open and an OpenSession succeeds, then register in ZooKeeper."""
        attempts = 1
        while True:
            try:
                wait_until(self._ready, timeout=self.ready_timeout, interval=0.2,
                           ignore=(OSError, EOFError, _ThriftError), message=lambda: "%s did not become ready on %s; log tail:\n%s"
                                           % (self.name, self.address, self.log_text()))
                break
            except _PortTaken:
                if attempts >= _PORT_ATTEMPTS:
                    raise RuntimeError("%s: %d free ports were taken before Spark could bind them; log tail:\n%s"
                                       % (self.name, attempts, self.log_text())) from None
                attempts += 1
                self._reap(signal.SIGKILL)
                self._process = None
                self.launch()  # a fresh free port (another process raced us for the old one)
            except BaseException:
                self.kill()
                raise
        self.startup_seconds = time.monotonic() - self._launched_at
        if self.registrar is not None:
            kwargs = dict(self.register_kwargs)
            kwargs.setdefault("version", _spark_version())
            if self.auth == "KERBEROS" and PRINCIPAL_KEY in self.hiveconf:
                kwargs.setdefault("principal", self.hiveconf[PRINCIPAL_KEY])
            try:
                self.registration = self.registrar.register(self.advertised_host, self.port, layout="hs2",
                                                            namespace=self.namespace, authentication=self.auth,
                                                            **kwargs)
            except BaseException:
                self.kill()
                raise
        threading.Thread(target=self._watch, args=(self._process,), daemon=True,
                         name="spark-watch-%s" % self.name).start()
        return self

    def start(self):
        return self.launch().wait_ready()

    def _ready(self):
        code = self._process.poll()
        if code is not None:
            log = self.log_text()
            if self._auto_port and any(marker in log for marker in _BIND_ERRORS):
                raise _PortTaken()
            raise RuntimeError("Spark Thrift Server %s exited with code %s during start-up; log tail:\n%s"
                               % (self.name, code, log))
        with socket.create_connection((self.host, self.port), timeout=5.0):
            pass
        self.probe(self)
        return True

    def _pyhive_probe(self, server):
        """A real OpenSession through PyHive (then closed); in the rig's interpreter when PyHive is not importable
        here (inside Hue's virtualenv)."""
        args = dict(self.probe_args if self.probe_args is not None else _default_probe_args(self))
        try:
            from pyhive import hive
        except ImportError:
            code = ("import json, sys; from pyhive import hive; a = json.loads(sys.argv[1]); "
                    "hive.connect(host=a.pop('host'), port=a.pop('port'), **a).close()")
            probe = subprocess.run([rig_python(), "-c", code, json.dumps(dict(args, host=self.host, port=self.port))],
                                   capture_output=True, text=True, timeout=60)
            if probe.returncode != 0:
                raise OSError("probe of %s failed: %s" % (self.address, probe.stderr.strip()[-500:]))
            return
        hive.connect(host=self.host, port=self.port, **args).close()

    def _watch(self, process):
        process.wait()
        with self._lock:
            if self._ending or process is not self._process:
                return
            self.exited_unexpectedly = True
        self._end_registration(crash=True)

    def _end_registration(self, crash):
        with self._lock:
            registration, self.registration = self.registration, None
        if registration is None:
            return
        if crash:
            registration.crash()
        else:
            registration.deregister()

    def kill(self):
        """A crash: SIGKILL the whole process group; the ZooKeeper registration lingers until its session expires."""
        with self._lock:
            self._ending = True
        self._reap(signal.SIGKILL)
        self._end_registration(crash=True)
        self._cleanup()

    def pause(self):
        """SIGSTOP the whole process group: a stop-the-world pause (a long GC, a swapping host). The kernel still
        accepts connections; nothing answers them. The registration stays."""
        os.killpg(self._process.pid, signal.SIGSTOP)

    def resume(self):
        """SIGCONT after ``pause()``."""
        os.killpg(self._process.pid, signal.SIGCONT)

    def stop(self, timeout=30.0):
        """Clean shutdown: deregister (the znode goes at once), SIGTERM, SIGKILL after `timeout` seconds."""
        with self._lock:
            self._ending = True
        self._end_registration(crash=False)
        self._reap(signal.SIGTERM, timeout)
        self._cleanup()

    def _reap(self, sig, timeout=30.0):
        process = self._process
        if process is None or process.returncode is not None:
            return  # never signal a reaped pid: it may belong to someone else by now
        for signum in (sig, signal.SIGKILL):
            try:
                os.killpg(process.pid, signum)  # spark-submit's launcher children too
                os.killpg(process.pid, signal.SIGCONT)  # a paused group acts on SIGTERM only once continued
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # the group leader is reaped; make sure no member of its group is left
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _cleanup(self):
        with _live_lock:
            _live.discard(self)
        if self.dir and os.environ.get("HIVE_HA_KEEP_SPARK_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return "<SparkThriftServer %s pid=%s %s>" % (self.name, self.pid, self.address)


def start_all(servers):
    """Launch every server, then wait for each (they boot in parallel); on any failure all of them are killed."""
    servers = list(servers)
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
    except BaseException:
        for server in servers:
            server.kill()
        raise
    return servers


def _spark_version():
    """pyspark's version, read from the package (importing it would need pyspark in this interpreter)."""
    with open(os.path.join(spark_home(), "version.py")) as f:
        match = re.search(r"""__version__[^=]*=\s*["']([^"']+)["']""", f.read())
    return match.group(1) if match else "unknown"


def _default_probe_args(server):
    if server.auth == "NOSASL":
        return {"auth": "NOSASL"}
    if server.auth == "KERBEROS":
        principal = server.hiveconf.get(PRINCIPAL_KEY) or "hive"
        return {"auth": "KERBEROS", "kerberos_service_name": principal.split("/", 1)[0].split("@", 1)[0]}
    return {"auth": "NONE", "username": "hive-ha-probe"}


class _PortTaken(Exception):
    """Start-up failed because another process bound the chosen port first."""


try:
    from thrift.Thrift import TException as _ThriftError
except ImportError:  # thrift is a dependency of the test extra; keep the module importable without it
    class _ThriftError(Exception):
        pass
