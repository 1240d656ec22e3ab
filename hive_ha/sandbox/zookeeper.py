"""Real Apache ZooKeeper servers for tests, the demo and a sandbox (in the spirit of ``kazoo.testing``).

Every server is a ``java ... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`` child process with its own
temporary directory (config, data, myid, TLS material, JAAS file and the server log ``zookeeper.log``; nothing goes to
the terminal) listening on free loopback ports.

    with ZooKeeperServer() as zk:                      # standalone, ready in ~1 s
        client = KazooClient(hosts=zk.hosts, timeout=3.0)
    with ZooKeeperServer(tls=True) as zk:              # plain port + TLS port (zk.secure_hosts, zk.ca_file)
    with ZooKeeperServer(sasl_users={"bob": "pw"}, require_sasl=True) as zk:   # SASL DIGEST-MD5
    with ZooKeeperEnsemble(size=3) as ens:             # real quorum; ens.kill(ens.leader()) to test fail-over

Timing choices (all tunable through the constructor):
  * ``tickTime=200`` ms. ZooKeeper's defaults derive the session bounds from it (min = 2 ticks, max = 20 ticks), which
    would cap sessions at 4 s; we set them explicitly instead: ``minSessionTimeout=400`` ms (so a test may ask for a
    1-4 s session and get exactly that, so a lost or crashed session expires within seconds) and
    ``maxSessionTimeout=60000`` ms (so kazoo's default 10 s and Hive-like 20-60 s sessions are granted unchanged). The
    server checks expiry once per tick, so an expiry arrives within ~200 ms of the negotiated timeout.
  * Ensembles: ``initLimit=25``/``syncLimit=10`` ticks (5 s / 2 s) and ``-Dzookeeper.cnxTimeout=1000`` so a killed
    leader is replaced in about a second.
  * ``forceSync=no`` (no fsync per write; the data dir is throw-away), ``maxClientCnxns=0`` (every test client comes
    from 127.0.0.1 and the default limit of 60 per IP is easily reached by a session-scoped server).

Processes never outlive the Python process: an ``atexit`` hook kills whatever is still running, and on Linux the
JVM is started through ``setpriv --pdeathsig KILL`` (when called from the main thread) so it dies even if Python is
SIGKILLed.
"""
import atexit
import errno
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from hive_ha.sandbox.lifecycle import Startable
from hive_ha.testing.waiting import WaitTimeout, wait_until

__all__ = [
    "ZooKeeperError",
    "ZooKeeperServer",
    "ZooKeeperEnsemble",
    "expire_session",
    "four_letter_word",
    "free_port",
    "java_executable",
    "zookeeper_classpath",
]

JAVA_DIR = os.environ.get("HIVE_HA_ZOOKEEPER_JARS", "/usr/share/java")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
#: Jars needed for the plain (NIO) server; zookeeper.jar's manifest Class-Path brings jute, netty-handler/transport/
#: buffer/common, jackson, jetty, metrics, snappy, commons-*, slf4j-api.
BASE_JARS = ("zookeeper.jar", "slf4j-simple.jar")
#: Extra jars for the Netty connection factory (needed for TLS): the manifest lacks codec and resolver, and the
#: native-epoll jar needs unix-common to load.
NETTY_JARS = ("netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar")
DEFAULT_FOUR_LETTER_WORDS = ("ruok", "mntr", "srvr", "stat", "cons", "conf", "dump", "envi", "wchs")
DEFAULT_JVM_FLAGS = (
    "-Xms16m",
    "-Xmx192m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: faster start, plenty for tests
    "-XX:-UsePerfData",  # no /tmp/hsperfdata_* files
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.admin.enableServer=false",
    "-Dzookeeper.jmx.log4j.disable=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
)
KEYSTORE_PASSWORD = "hive-ha-test"
LOOPBACK = "127.0.0.1"

_live = set()  # servers with a process or a directory; strong refs so atexit finds even forgotten ones
_live_lock = threading.Lock()
_recent_ports = []
_port_lock = threading.Lock()


class ZooKeeperError(RuntimeError):
    """A ZooKeeper server process could not be started (the message carries the tail of its log)."""


# --------------------------------------------------------------------------------------------------------------- helpers
def free_port(host=LOOPBACK):
    """Return a TCP port that is free on `host` right now (bind to port 0 and release it).

    Ports handed out recently by this process are never returned twice, so several servers allocated one after another
    get distinct ports even before any of them binds. (Another process may still grab the port in between: the server
    classes retry start-up on fresh ports when that happens.)
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        with _port_lock:
            if port in _recent_ports:
                continue
            _recent_ports.append(port)
            del _recent_ports[:-256]
            return port
    raise OSError("could not find a free port on %s" % host)


def java_executable():
    """Path of the ``java`` binary: $JAVA_HOME/bin/java if set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    found = shutil.which("java")
    if not found:
        raise ZooKeeperError("java not found (install a JRE, e.g. apt-get install default-jre-headless zookeeper)")
    return found


def zookeeper_classpath(netty=False, java_dir=None):
    """Class path for the server; with netty=True also the jars NettyServerCnxnFactory (TLS) needs."""
    java_dir = java_dir or JAVA_DIR
    names = BASE_JARS + (NETTY_JARS if netty else ())
    jars = [os.path.join(java_dir, name) for name in names]
    missing = [jar for jar in jars[:1] if not os.path.exists(jar)]
    if missing:
        raise ZooKeeperError("%s not found (apt-get install zookeeper)" % missing[0])
    return ":".join(jar for jar in jars if os.path.exists(jar))


def four_letter_word(port, word, host=LOOPBACK, timeout=2.0):
    """Send a four-letter-word command (``ruok``, ``srvr``, ``mntr``, ...) and return the answer as text.

    Raises OSError when nothing listens. A command missing from the whitelist answers
    ``"<cmd> is not executed because it is not in the whitelist."``.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _parse_mode(srvr_text):
    for line in srvr_text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def _tail(path, lines=40):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


def _kill_all_at_exit():
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server._kill_process(signal.SIGKILL)
            server._remove_dir()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(_kill_all_at_exit)


# ------------------------------------------------------------------------------------------------------------------ TLS
class _TlsMaterial:
    """Self-signed CA, a server certificate (CN=localhost, SAN localhost + 127.0.0.1) and a client certificate,
    written as PEM files plus a PKCS12 keystore and truststore that Java 17 reads."""

    def __init__(self, directory, password=KEYSTORE_PASSWORD):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        from hive_ha.sandbox.certs import TestCA

        self.password = password
        ca = TestCA(directory)
        server_key, server_cert = ca.issue_key_and_cert("localhost", ["localhost", LOOPBACK])
        client_key, client_cert = ca.issue_key_and_cert("hive-ha-test-client", client=True)

        def write(filename, data):
            path = os.path.join(directory, filename)
            with open(path, "wb") as handle:
                handle.write(data)
            return path

        self.ca_file = ca.ca_file
        self.server_cert_file = write("server.pem", ca.pem(server_cert))
        self.server_key_file = write("server-key.pem", ca.pem_key(server_key))
        self.client_cert_file = write("client.pem", ca.pem(client_cert))
        self.client_key_file = write("client-key.pem", ca.pem_key(client_key))
        encryption = serialization.BestAvailableEncryption(password.encode())
        self.keystore = write(
            "keystore.p12",
            pkcs12.serialize_key_and_certificates(b"server", server_key, server_cert, [ca.cert], encryption),
        )
        self.truststore = self._write_truststore(directory, ca.cert, encryption, write)

    def _write_truststore(self, directory, ca_cert, encryption, write):
        """A PKCS12 truststore needs Java's "trusted certificate" attribute: cryptography >= 45 writes it; older
        versions fall back to keytool; without either the server simply gets no truststore (fine for clientAuth=none)."""
        from cryptography.hazmat.primitives.serialization import pkcs12

        if hasattr(pkcs12, "serialize_java_truststore"):
            entry = pkcs12.PKCS12Certificate(ca_cert, b"hive-ha-ca")
            return write("truststore.p12", pkcs12.serialize_java_truststore([entry], encryption))
        keytool = shutil.which("keytool")
        if keytool:
            path = os.path.join(directory, "truststore.p12")
            subprocess.run(
                [keytool, "-importcert", "-noprompt", "-alias", "hive-ha-ca", "-file", self.ca_file,
                 "-keystore", path, "-storetype", "PKCS12", "-storepass", self.password],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            return path
        return None


# ---------------------------------------------------------------------------------------------------- ZooKeeperServer
class ZooKeeperServer(Startable):
    """One ZooKeeper server process (standalone, or a member of a `ZooKeeperEnsemble`).

    Lifecycle: ``start()`` (creates the temp dir on first use, launches, waits until it serves), ``kill()`` (SIGKILL,
    data kept), ``terminate()`` (SIGTERM, data kept), ``restart()`` (stop + start on the same ports and data),
    ``stop()`` (stop the process and delete the temp dir). Also a context manager (``__enter__`` starts, ``__exit__``
    stops).

    Parameters:
      tick_time / min_session_timeout / max_session_timeout: milliseconds (see the module docstring for the choice).
      tls: also listen on a TLS ``secureClientPort`` (Netty). ``tls_client_auth`` is ZooKeeper's ``ssl.clientAuth``:
        "none" (default: kazoo needs only ``ca=server.ca_file``), "want" or "need" (then pass
        ``certfile=client_cert_file, keyfile=client_key_file``).
      sasl_users: {"user": "password"} -> JAAS ``Server`` section with DigestLoginModule and the SASL auth provider, so
        kazoo can log in with ``sasl_options={"mechanism": "DIGEST-MD5", "username": ..., "password": ...}``.
      require_sasl: ``sessionRequireClientSASLAuth=true`` (sessions without SASL are refused).
      extra_jaas: text appended to the generated JAAS file (e.g. a Kerberos ``Server`` section; a JAAS file is written
        whenever sasl_users or extra_jaas is given).
      jvm_flags: extra JVM arguments (after the defaults, so they win); extra_config: extra ``zoo.cfg`` lines
        (dict or iterable of (key, value)); env: extra environment variables (e.g. KRB5_CONFIG).
      four_letter_words: the ``4lw.commands.whitelist``.
      start_timeout: seconds ``start()`` waits for the server to serve.
    """

    def __init__(
        self,
        *,
        tick_time=200,
        min_session_timeout=400,
        max_session_timeout=60000,
        tls=False,
        tls_client_auth="none",
        sasl_users=None,
        require_sasl=False,
        extra_jaas=None,
        jvm_flags=(),
        extra_config=None,
        env=None,
        four_letter_words=DEFAULT_FOUR_LETTER_WORDS,
        start_timeout=30.0,
        java_dir=None,
        name="zookeeper",
        _quorum=None,
    ):
        if tls_client_auth not in ("none", "want", "need"):
            raise ValueError("tls_client_auth must be none, want or need")
        self.tick_time = int(tick_time)
        self.min_session_timeout = int(min_session_timeout)
        self.max_session_timeout = int(max_session_timeout)
        self.tls = bool(tls)
        self.tls_client_auth = tls_client_auth
        self.sasl_users = dict(sasl_users or {})
        self.require_sasl = bool(require_sasl)
        self.extra_jaas = extra_jaas
        self.jvm_flags = list(jvm_flags)
        self.extra_config = list(dict(extra_config).items() if isinstance(extra_config, dict) else extra_config or ())
        self.env = dict(env or {})
        self.four_letter_words = tuple(four_letter_words)
        self.start_timeout = float(start_timeout)
        self.java_dir = java_dir
        self.name = name
        # _quorum: (myid, [(myid, peer_port, election_port, client_port), ...]) set by ZooKeeperEnsemble
        self._quorum = _quorum
        self.port = None
        self.secure_port = None
        self.dir = None
        self.tls_material = None
        self._process = None
        self._log_handle = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------------------------- properties
    @property
    def hosts(self):
        """Connect string of the plain client port, ``"127.0.0.1:PORT"``."""
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def secure_hosts(self):
        """Connect string of the TLS client port (tls=True only)."""
        if not self.tls:
            raise AttributeError("server was not started with tls=True")
        return "%s:%d" % (LOOPBACK, self.secure_port)

    @property
    def ca_file(self):
        """PEM file of the CA that signed the server certificate (tls=True only)."""
        return self._tls_attr("ca_file")

    @property
    def client_cert_file(self):
        return self._tls_attr("client_cert_file")

    @property
    def client_key_file(self):
        return self._tls_attr("client_key_file")

    def sasl_options(self, username=None, mechanism="DIGEST-MD5"):
        """kazoo ``sasl_options`` for one of `sasl_users` (the first one by default)."""
        if not self.sasl_users:
            raise AttributeError("server has no sasl_users")
        username = username or next(iter(self.sasl_users))
        return {"mechanism": mechanism, "username": username, "password": self.sasl_users[username]}

    def _tls_attr(self, attr):
        if not self.tls:
            raise AttributeError("server was not started with tls=True")
        if self.tls_material is None:
            raise AttributeError("TLS material is created by start()")
        return getattr(self.tls_material, attr)

    @property
    def log_file(self):
        return os.path.join(self.dir, "zookeeper.log") if self.dir else None

    @property
    def config_file(self):
        return os.path.join(self.dir, "zoo.cfg") if self.dir else None

    @property
    def jaas_file(self):
        return os.path.join(self.dir, "jaas.conf") if self.dir and (self.sasl_users or self.extra_jaas) else None

    @property
    def pid(self):
        return self._process.pid if self._process else None

    @property
    def running(self):
        """True while the process is alive (not necessarily serving)."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines=40):
        return _tail(self.log_file, lines) if self.log_file else "(not started)"

    # ------------------------------------------------------------------------------------------------ four-letter words
    def four_letter_word(self, word, timeout=2.0):
        return four_letter_word(self.port, word, timeout=timeout)

    def mode(self):
        """``"standalone"``, ``"leader"``, ``"follower"``, or None when not serving / not reachable."""
        try:
            return _parse_mode(self.four_letter_word("srvr", timeout=1.0))
        except OSError:
            return None

    def is_serving(self):
        """True when the server answers ``ruok`` and ``srvr`` reports a mode (i.e. it accepts sessions) and, with
        tls=True, the secure port completes a TLS handshake verified against `ca_file`."""
        try:
            if self.four_letter_word("ruok", timeout=1.0).strip() != "imok":
                return False
        except OSError:
            return False
        if self.mode() is None:
            return False
        return self._tls_handshake_ok() if self.tls else True

    def _tls_handshake_ok(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = False
        if self.tls_client_auth != "none":
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        try:
            with socket.create_connection((LOOPBACK, self.secure_port), timeout=1.0) as raw:
                with context.wrap_socket(raw) as tls_sock:
                    tls_sock.do_handshake()
            return True
        except (OSError, ssl.SSLError):
            return False

    # -------------------------------------------------------------------------------------------------------- lifecycle
    def start(self, wait=True):
        """Launch the server (creating its directory and ports on first use) and, if `wait`, block until it serves.

        If the first launch fails because another process took one of the ports, it retries on fresh ports.
        """
        with self._lock:
            if self.running:
                return self
            first = self.dir is None
            attempts = 3 if (first and self._quorum is None) else 1
            for attempt in range(attempts):
                if self.dir is None:
                    self._prepare()
                self._launch()
                if not wait:
                    return self
                try:
                    self.wait_serving(self.start_timeout)
                    return self
                except ZooKeeperError as exc:
                    if attempt + 1 < attempts and "Address already in use" in str(exc):
                        self.stop()
                        self.port = self.secure_port = None  # another process took a port: pick new ones
                        continue
                    self._kill_process(signal.SIGKILL)  # no half-started server; the dir (and log) stays
                    raise
        return self

    def wait_serving(self, timeout=None):
        """Block until the server serves; raises ZooKeeperError (with the log tail) if it dies or times out."""
        timeout = self.start_timeout if timeout is None else timeout

        def ready():
            if not self.running:
                raise ZooKeeperError(
                    "%s exited with %s during start-up; log %s:\n%s"
                    % (self.name, self._process and self._process.returncode, self.log_file, self.log_tail())
                )
            return self.is_serving()

        try:
            wait_until(ready, timeout=timeout, interval=0.05, message="%s did not start serving" % self.name)
        except WaitTimeout as exc:
            raise ZooKeeperError("%s; log %s:\n%s" % (exc, self.log_file, self.log_tail())) from None

    def kill(self):
        """SIGKILL the process (like a crash); data dir and ports are kept, so ``start()`` brings it back."""
        self._kill_process(signal.SIGKILL)

    def terminate(self, timeout=5.0):
        """Stop the process gracefully (SIGTERM, SIGKILL after `timeout` s); data dir and ports are kept."""
        self._kill_process(signal.SIGTERM, timeout)

    def restart(self, graceful=True, wait=True):
        """Stop the process and start it again on the same ports with the same data (sessions survive if the
        downtime is shorter than their timeout)."""
        if graceful:
            self.terminate()
        else:
            self.kill()
        return self.start(wait=wait)

    def stop(self):
        """Stop the process (SIGTERM, then SIGKILL after 5 s) and delete the temp dir. Safe to call repeatedly.
        A later ``start()`` begins with empty data (and new TLS material) on the same ports."""
        with self._lock:
            self._kill_process(signal.SIGTERM, 5.0)
            self._remove_dir()
            with _live_lock:
                _live.discard(self)

    close = stop


    def __repr__(self):
        state = "running" if self.running else "stopped"
        return "<ZooKeeperServer %s %s port=%s>" % (self.name, state, self.port)

    # ----------------------------------------------------------------------------------------------------- internals
    def _prepare(self):
        self.dir = tempfile.mkdtemp(prefix="hive-ha-%s-" % self.name)
        os.makedirs(os.path.join(self.dir, "data"))
        if self._quorum is None:
            self.port = self.port or free_port()
        else:
            myid, members = self._quorum
            self.port = [m[3] for m in members if m[0] == myid][0]
            with open(os.path.join(self.dir, "data", "myid"), "w") as handle:
                handle.write("%d\n" % myid)
        if self.tls:
            self.secure_port = self.secure_port or free_port()
            self.tls_material = _TlsMaterial(self.dir)
        if self.sasl_users or self.extra_jaas:
            with open(self.jaas_file, "w") as handle:
                handle.write(self._jaas_text())
        with open(self.config_file, "w") as handle:
            for key, value in self._config_items():
                handle.write("%s=%s\n" % (key, value))

    def _config_items(self):
        items = [
            ("tickTime", self.tick_time),
            ("dataDir", os.path.join(self.dir, "data")),
            ("clientPort", self.port),
            ("clientPortAddress", LOOPBACK),
            ("minSessionTimeout", self.min_session_timeout),
            ("maxSessionTimeout", self.max_session_timeout),
            ("maxClientCnxns", 0),
            ("4lw.commands.whitelist", ",".join(self.four_letter_words)),
            ("admin.enableServer", "false"),
            ("forceSync", "no"),
            ("preAllocSize", 1024),
            ("autopurge.purgeInterval", 0),
        ]
        if self._quorum is not None:
            _, members = self._quorum
            items += [("initLimit", 25), ("syncLimit", 10), ("standaloneEnabled", "false")]
            items += [
                ("server.%d" % myid, "%s:%d:%d" % (LOOPBACK, peer, election))
                for myid, peer, election, _client in members
            ]
        if self.tls:
            material = self.tls_material
            items += [
                ("secureClientPort", self.secure_port),
                ("secureClientPortAddress", LOOPBACK),
                ("ssl.keyStore.location", material.keystore),
                ("ssl.keyStore.password", material.password),
                ("ssl.keyStore.type", "PKCS12"),
                ("ssl.clientAuth", self.tls_client_auth),
            ]
            if material.truststore:
                items += [
                    ("ssl.trustStore.location", material.truststore),
                    ("ssl.trustStore.password", material.password),
                    ("ssl.trustStore.type", "PKCS12"),
                ]
        if self.sasl_users:
            items.append(("authProvider.1", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"))
        if self.require_sasl:
            items.append(("sessionRequireClientSASLAuth", "true"))
        items += self.extra_config
        return items

    def _jaas_text(self):
        text = ""
        if self.sasl_users:
            users = "".join(
                '\n    user_%s="%s"' % (user, password.replace("\\", "\\\\").replace('"', '\\"'))
                for user, password in self.sasl_users.items()
            )
            text += "Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required%s;\n};\n" % users
        if self.extra_jaas:
            text += "\n" + self.extra_jaas + "\n"
        return text

    def _command(self):
        flags = list(DEFAULT_JVM_FLAGS)
        if self._quorum is not None:
            flags.append("-Dzookeeper.cnxTimeout=1000")
        if self.tls:
            flags.append("-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory")
        if self.jaas_file:
            flags.append("-Djava.security.auth.login.config=%s" % self.jaas_file)
        flags += self.jvm_flags
        command = [java_executable()] + flags
        command += ["-cp", zookeeper_classpath(netty=self.tls, java_dir=self.java_dir), MAIN_CLASS, self.config_file]
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # The JVM gets SIGKILL when the (main thread of the) Python process dies, even by SIGKILL.
            command = [setpriv, "--pdeathsig", "KILL", "--"] + command
        return command

    def _launch(self):
        log = open(self.log_file, "ab")
        env = dict(os.environ)
        env.update(self.env)
        # The Debian wrapper variables must not leak into our JVM (e.g. a JVMFLAGS pointing at a log4j config).
        for var in ("JVMFLAGS", "SERVER_JVMFLAGS", "CLIENT_JVMFLAGS", "ZOOCFGDIR"):
            env.pop(var, None)
        try:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches Python, which then cleans up
            )
        finally:
            log.close()
        with _live_lock:
            _live.add(self)

    def _kill_process(self, sig, timeout=5.0):
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(sig)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
                process.wait()
        self._process = None

    def _remove_dir(self):
        if self.dir and os.environ.get("HIVE_HA_KEEP_ZOOKEEPER_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self.tls_material = None


# -------------------------------------------------------------------------------------------------- ZooKeeperEnsemble
class ZooKeeperEnsemble(Startable):
    """A ZooKeeper quorum of `size` servers on loopback (``server.N=127.0.0.1:peer:election`` + myid files), each a
    `ZooKeeperServer` with its own directory.

    ``start()`` launches all members together and waits until every one serves and exactly one reports
    ``Mode: leader``. ``hosts`` is the comma-separated connect string of all members. Members are addressed by index
    0..size-1 (``members[i]``, myid = i + 1): ``leader()``, ``kill(i)``, ``start_member(i)``. ``stop()`` stops all and
    deletes their directories. Keyword arguments are passed to every member (tick_time, jvm_flags, sasl_users, ...).
    """

    def __init__(self, size=3, start_timeout=60.0, **server_kwargs):
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size
        self.start_timeout = float(start_timeout)
        self._server_kwargs = server_kwargs
        self.members = []

    def _build(self):
        ports = [(i + 1, free_port(), free_port(), free_port()) for i in range(self.size)]
        self.members = [
            ZooKeeperServer(name="zookeeper-%d" % (i + 1), _quorum=(i + 1, ports), **self._server_kwargs)
            for i in range(self.size)
        ]

    @property
    def hosts(self):
        return ",".join(member.hosts for member in self.members)

    def hosts_of(self, *indexes):
        """Connect string of the given members only."""
        return ",".join(self.members[i].hosts for i in indexes)

    def start(self):
        last_error = None
        for _attempt in range(3):
            if not self.members:
                self._build()
            for member in self.members:
                member.start(wait=False)
            try:
                self.wait_ready(self.start_timeout)
                return self
            except ZooKeeperError as exc:
                last_error = exc
                address_in_use = any(
                    "Address already in use" in m.log_tail(400) for m in self.members if m.dir
                )
                self.stop()
                if not address_in_use:
                    raise
        raise last_error

    def wait_ready(self, timeout=30.0):
        """Wait until every running member serves and exactly one is the leader; returns the leader's index."""

        def ready():
            modes = []
            for member in self.members:
                if member.dir is not None and not member.running and member._process is not None:
                    raise ZooKeeperError("%s died:\n%s" % (member.name, member.log_tail()))
                modes.append(member.mode() if member.running else "down")
            if any(mode is None for mode in modes):
                return None
            leaders = [i for i, mode in enumerate(modes) if mode == "leader"]
            return (leaders[0] + 1) if len(leaders) == 1 else None

        try:
            return wait_until(ready, timeout=timeout, interval=0.05, message=self._describe) - 1
        except WaitTimeout as exc:
            logs = "\n".join("--- %s:\n%s" % (m.name, m.log_tail(15)) for m in self.members)
            raise ZooKeeperError("ensemble not ready: %s\n%s" % (exc, logs)) from None

    def _describe(self):
        return "ensemble modes: %s" % ", ".join(
            "%s=%s" % (m.name, m.mode() if m.running else "down") for m in self.members
        )

    def modes(self):
        """Mode of each member (None when down or not serving)."""
        return [member.mode() if member.running else None for member in self.members]

    def leader(self):
        """Index of the member that currently reports ``Mode: leader``, or None."""
        for index, mode in enumerate(self.modes()):
            if mode == "leader":
                return index
        return None

    def wait_for_leader(self, timeout=30.0):
        """Block until some member is leader (e.g. after killing the old one) and return its index."""

        def leader_plus_one():  # index 0 is falsy for wait_until
            index = self.leader()
            return None if index is None else index + 1

        return wait_until(leader_plus_one, timeout=timeout, interval=0.05, message=self._describe) - 1

    def kill(self, index):
        """SIGKILL member `index` (its data is kept; ``start_member(index)`` brings it back)."""
        self.members[index].kill()

    def terminate(self, index):
        self.members[index].terminate()

    def start_member(self, index, wait=True):
        """(Re)start member `index` and wait until it serves again (as follower or leader)."""
        member = self.members[index]
        member.start(wait=False)
        if wait:
            member.wait_serving(self.start_timeout)
        return member

    def stop(self):
        for member in self.members:
            member.stop()
        self.members = []

    close = stop


    def __repr__(self):
        return "<ZooKeeperEnsemble size=%d hosts=%s>" % (self.size, self.hosts if self.members else "-")


# ------------------------------------------------------------------------------------------------------ expire_session
def _same_server_client(client, **overrides):
    """A new KazooClient that talks to the same servers with the same TLS/SASL/auth settings as `client`."""
    from kazoo.client import KazooClient

    hosts = ",".join("%s:%s" % (host, port) for host, port in client.hosts)
    kwargs = dict(
        hosts=hosts + (client.chroot or ""),
        use_ssl=client.use_ssl,
        ca=client.ca,
        certfile=client.certfile,
        keyfile=client.keyfile,
        keyfile_password=client.keyfile_password,
        verify_certs=client.verify_certs,
        auth_data=list(client.auth_data),
        timeout=max(client._session_timeout / 1000.0, 1.0),
    )
    sasl_options = getattr(client._connection, "sasl_options", None)
    if sasl_options:
        kwargs["sasl_options"] = dict(sasl_options)
    kwargs.update(overrides)
    return KazooClient(**kwargs)


def expire_session(client, timeout=15.0):
    """Expire `client`'s ZooKeeper session on the server, for real, and wait until the client has seen it.

    Method (the classic kazoo-harness way, checked against ZooKeeper 3.8): open a second raw KazooClient with the same
    session id and password, then close it. The server moves the session to the second connection (dropping the
    original one) and the close ends the session, deleting its ephemeral znodes at once. The original client then
    reconnects, is told its session has expired, reports EXPIRED_SESSION / ``KazooState.LOST`` and (kazoo does this
    itself) opens a new session. If the original client wins the race and re-attaches before the close, the procedure
    is repeated. Returns the expired session id.
    """
    from kazoo.client import KazooState

    if not client.connected:
        raise RuntimeError("client is not connected")
    lost = threading.Event()

    def watch(state):
        if state == KazooState.LOST:
            lost.set()
            return True  # remove the listener
        return False

    session_id, password = client.client_id
    client.add_listener(watch)
    deadline = time.monotonic() + timeout
    try:
        while not lost.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout("session 0x%x of %r did not expire (waited %.1f s)" % (session_id, client, timeout))
            other = _same_server_client(client, client_id=(session_id, password))
            try:
                other.start(timeout=max(1.0, min(remaining, 10.0)))
                other.stop()
            except Exception:  # noqa: BLE001 - e.g. the session already expired: the original will see it
                try:
                    other.stop()
                except Exception:  # noqa: BLE001
                    pass
            finally:
                other.close()
            lost.wait(max(0.05, min(3.0, deadline - time.monotonic())))
    finally:
        client.remove_listener(watch)
    return session_id
