"""An MIT Kerberos KDC on loopback for tests, the sandbox and the demo; nothing touches the machine's own config.

Everything (krb5.conf, kdc.conf, database, keytabs, ticket caches, the KDC log) lives in one temp dir and is found
through environment variables (``Kdc.env``), so ``/etc/krb5.conf`` is never read or written::

    with KerberosRig() as rig:                          # KDC + the usual principals and keytabs, ~0.5 s
        zk = ZooKeeperServer(**rig.zookeeper_kwargs())   # ZooKeeper requiring SASL GSSAPI
        hs2 = HS2Server("hs2-a", auth="KERBEROS", kerberos=rig.hs2_acceptor())
        with rig.client_env("hue"):                      # this process now authenticates as hue@EXAMPLE.TEST
            ...

Facts this relies on (measured, see docs/kerberos.md): ``kadmin.local`` honours ONE ``-q`` per call;
``krb5kdc -n`` stays in the foreground; ``dns_canonicalize_hostname = false`` + ``rdns = false`` make a GSSAPI client
ask for exactly ``<service>/<host it dials>``, so servers are dialled as ``localhost`` (their principals'
host), never ``127.0.0.1``.
"""
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

from hive_ha.sandbox.lifecycle import Startable
from hive_ha.sandbox.zookeeper import free_port
from hive_ha.testing.waiting import wait_until

__all__ = ["Kdc", "KdcError", "KerberosRig", "DEFAULT_REALM"]

DEFAULT_REALM = "EXAMPLE.TEST"
SERVER_HOST = "localhost"
_BINARIES = {"krb5kdc": "krb5-kdc", "kdb5_util": "krb5-kdc", "kadmin.local": "krb5-admin-server", "kinit": "krb5-user"}
_live = set()
_live_lock = threading.Lock()


class KdcError(RuntimeError):
    """The KDC could not be set up or a kadmin command failed (the message carries its output)."""


def _binary(name):
    found = shutil.which(name) or next((p for p in ("/usr/sbin/" + name, "/usr/bin/" + name) if os.path.exists(p)),
                                       None)
    if not found:
        raise KdcError("%s not found (apt-get install %s)" % (name, _BINARIES.get(name, "krb5-kdc")))
    return found


class Kdc(Startable):
    """One MIT KDC process for ``realm`` on a free 127.0.0.1 port (TCP and UDP), data in a temp dir.

    ``ticket_lifetime`` / ``clockskew`` (seconds) go into krb5.conf: a small skew lets tests see an expired
    ticket refused without waiting the default five minutes.
    """

    def __init__(self, realm=DEFAULT_REALM, *, clockskew=300, ticket_lifetime="1d", directory=None):
        self.realm = realm
        self.clockskew = int(clockskew)
        self.ticket_lifetime = ticket_lifetime
        self.dir = directory
        self._own_dir = directory is None
        self.port = None
        self._process = None
        self._master_password = os.urandom(12).hex()

    # -- paths and environment
    @property
    def krb5_conf(self):
        return os.path.join(self.dir, "krb5.conf")

    @property
    def kdc_conf(self):
        return os.path.join(self.dir, "kdc.conf")

    @property
    def log_file(self):
        return os.path.join(self.dir, "kdc.log")

    @property
    def env(self):
        """What every Kerberos program (C or Java via -Djava.security.krb5.conf) needs to use this realm."""
        return {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf,
                "KRB5RCACHEDIR": os.path.join(self.dir, "rcache")}

    def principal(self, name):
        """``name`` with this realm appended unless it has one."""
        return name if "@" in name else "%s@%s" % (name, self.realm)

    # -- lifecycle
    def start(self):
        if self._process is not None:
            return self
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="hive-ha-kdc-")
        os.makedirs(os.path.join(self.dir, "rcache"), exist_ok=True)
        self.port = free_port()
        self._write_configs()
        self._run([_binary("kdb5_util"), "create", "-s", "-r", self.realm, "-P", self._master_password],
                  "create the KDC database")
        with _live_lock:
            _live.add(self)
        log = open(self.log_file, "ab")
        try:
            command = [_binary("krb5kdc"), "-n", "-r", self.realm]
            setpriv = shutil.which("setpriv")
            if setpriv and threading.current_thread() is threading.main_thread():
                command = [setpriv, "--pdeathsig", "KILL", "--"] + command  # dies with us, even on SIGKILL
            self._process = subprocess.Popen(command, env=self._full_env(),
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        finally:
            log.close()
        wait_until(self._listening, timeout=30.0, interval=0.02, message="KDC on port %s did not listen" % self.port)
        return self

    def stop(self):
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        with _live_lock:
            _live.discard(self)


    # -- principals
    def add_principal(self, name, keytab=None, *, max_life=None, max_renew=None, password=None):
        """Create ``name`` (random key unless ``password``); export its keys to ``keytab`` (appended) if given.

        ``max_life`` (e.g. ``"8 seconds"``) caps the principal's tickets (renewal tests); ``max_renew`` (e.g.
        ``"1 hour"``) how long they stay renewable with ``kinit -R`` (default: the realm's 7 days)."""
        principal = self.principal(name)
        flags = ("-pw %s" % password) if password else "-randkey"
        life = ' -maxlife "%s"' % max_life if max_life else ""
        life += ' -maxrenewlife "%s"' % max_renew if max_renew else ""
        self.kadmin("addprinc %s%s %s" % (flags, life, principal))
        if keytab:
            self.export(principal, keytab)
        return principal

    def export(self, principal, keytab):
        """Append ``principal``'s keys to ``keytab`` without changing them (``-norandkey``)."""
        self.kadmin("ktadd -norandkey -k %s %s" % (keytab, self.principal(principal)))
        return keytab

    def kadmin(self, query):
        """Run one ``kadmin.local`` query (one -q per call: several are silently reduced to the last)."""
        return self._run([_binary("kadmin.local"), "-r", self.realm, "-q", query], query)

    def kinit(self, principal, keytab, ccache, lifetime=None):
        """Get a TGT for ``principal`` from ``keytab`` into ``ccache`` (``FILE:...``)."""
        args = [_binary("kinit"), "-k", "-t", keytab, "-c", ccache]
        if lifetime:
            args += ["-l", lifetime]
        return self._run(args + [self.principal(principal)], "kinit " + principal)

    # -- internals
    def _full_env(self):
        env = dict(os.environ)
        env.update(self.env)
        return env

    def _run(self, args, what):
        result = subprocess.run(args, env=self._full_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=60)
        # kadmin.local exits 0 even when a query fails; its only harmless stderr line is the policy notice.
        noise = [line for line in result.stderr.splitlines() if line.strip() and "policy" not in line.lower()]
        if result.returncode != 0 or (noise and args[0].endswith("kadmin.local")):
            raise KdcError("%s failed (exit %s): %s%s" % (what, result.returncode, result.stdout, result.stderr))
        return result.stdout

    def _listening(self):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            return True
        if self._process.poll() is not None:
            raise KdcError("krb5kdc exited with %s: %s" % (self._process.returncode, _read(self.log_file)))
        return False

    def _write_configs(self):
        realm, port = self.realm, self.port
        with open(self.krb5_conf, "w") as handle:
            handle.write(
                "[libdefaults]\n"
                "    default_realm = %s\n"
                "    dns_lookup_realm = false\n"
                "    dns_lookup_kdc = false\n"
                # Ask for <service>/<host as dialled>: no DNS games on loopback, and Java behaves the same.
                "    dns_canonicalize_hostname = false\n"
                "    rdns = false\n"
                "    udp_preference_limit = 1\n"  # TCP (Java honours it too)
                "    clockskew = %d\n"
                "    ticket_lifetime = %s\n"
                "    renew_lifetime = 7d\n"  # renewable tickets (kinit -R), as Hue's kt_renewer expects
                "    forwardable = false\n"
                "[realms]\n"
                "    %s = {\n        kdc = 127.0.0.1:%d\n    }\n"
                "[domain_realm]\n"
                "    localhost = %s\n"
                % (realm, self.clockskew, self.ticket_lifetime, realm, port, realm)
            )
        with open(self.kdc_conf, "w") as handle:
            handle.write(
                "[kdcdefaults]\n"
                "    kdc_listen = 127.0.0.1:%d\n"
                "    kdc_tcp_listen = 127.0.0.1:%d\n"
                "[realms]\n"
                "    %s = {\n"
                "        database_name = %s\n"
                "        key_stash_file = %s\n"
                "        acl_file = %s\n"
                "        max_life = 1d\n"
                "        max_renewable_life = 7d\n"
                "        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
                "    }\n"
                "[logging]\n"
                "    kdc = FILE:%s\n"
                % (port, port, realm, os.path.join(self.dir, "principal"), os.path.join(self.dir, "stash"),
                   os.path.join(self.dir, "kadm5.acl"), self.log_file)
            )
        with open(os.path.join(self.dir, "kadm5.acl"), "w") as handle:
            handle.write("*/admin@%s *\n" % realm)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-4000:]
    except OSError:
        return "(no log)"


class KerberosRig(Startable):
    """A KDC with the principals a Kerberized Hive deployment has, and everything to wire servers and clients.

    Principals (realm ``EXAMPLE.TEST``): ``zookeeper/localhost`` (keytab ``zk_keytab``), ``hive/localhost``
    (keytab ``hive_keytab``: the HiveServer2 acceptors and the servers' own ZooKeeper identity), and the client
    users ``hue`` and ``alice`` (keytabs ``keytab("hue")``, ``keytab("alice")``). ``short_lived`` users get
    tickets of ``short_lifetime`` (renewal tests). ``hosts``: more server host names, each with its own
    ``hive/<host>`` (``hive_principal_for(host)``, keytab ``hive_keytab_for(host)``).
    """

    def __init__(self, directory=None, *, realm=DEFAULT_REALM, users=("hue", "alice"), short_lived=("renewer",),
                 short_lifetime="8 seconds", clockskew=2, hosts=()):
        self.kdc = Kdc(realm, directory=directory, clockskew=clockskew)
        self.hosts = tuple(dict.fromkeys((SERVER_HOST,) + tuple(h.lower() for h in hosts)))
        self.users = tuple(users)
        self.short_lived = tuple(short_lived)
        self.short_lifetime = short_lifetime
        self.keytabs = {}

    @property
    def realm(self):
        return self.kdc.realm

    @property
    def dir(self):
        return self.kdc.dir

    @property
    def env(self):
        return self.kdc.env

    @property
    def zk_principal(self):
        return self.kdc.principal("zookeeper/%s" % SERVER_HOST)

    @property
    def hive_principal(self):
        return self.kdc.principal("hive/%s" % SERVER_HOST)

    @property
    def zk_keytab(self):
        return self.keytabs["zookeeper"]

    @property
    def hive_keytab(self):
        return self.keytabs["hive"]

    def keytab(self, user):
        return self.keytabs[user]

    def hive_principal_for(self, host):
        return self.kdc.principal("hive/%s" % host.lower())

    def hive_keytab_for(self, host):
        return self.keytabs["hive" if host.lower() == SERVER_HOST else "hive/%s" % host.lower()]

    def principal(self, name):
        return self.kdc.principal(name)

    def start(self):
        self.kdc.start()
        self.kdc.add_principal("zookeeper/%s" % SERVER_HOST, self._keytab_path("zookeeper"))
        for host in self.hosts:
            key = "hive" if host == SERVER_HOST else "hive/" + host
            self.kdc.add_principal("hive/%s" % host, self._keytab_path(key))
        for user in self.users:
            self.kdc.add_principal(user, self._keytab_path(user))
        for user in self.short_lived:
            self.kdc.add_principal(user, self._keytab_path(user), max_life=self.short_lifetime)
        return self

    def stop(self):
        self.kdc.stop()


    def _keytab_path(self, name):
        self.keytabs[name] = os.path.join(self.dir, "%s.keytab" % name.replace("/", "_"))
        return self.keytabs[name]

    # -- wiring
    def jvm_flags(self):
        """Java flags so a JVM uses this realm (krb5.conf) instead of the machine's."""
        return ["-Djava.security.krb5.conf=%s" % self.kdc.krb5_conf, "-Dsun.security.krb5.disableReferrals=true"]

    def zookeeper_jaas(self):
        """JAAS ``Server`` section for a ZooKeeper with the ``zookeeper/localhost`` keytab."""
        return ('Server {\n    com.sun.security.auth.module.Krb5LoginModule required\n    useKeyTab=true\n'
                '    keyTab="%s"\n    storeKey=true\n    useTicketCache=false\n    principal="%s";\n};\n'
                % (self.zk_keytab, self.zk_principal))

    def zookeeper_kwargs(self, require_sasl=True):
        """Keyword arguments for ``ZooKeeperServer`` so it authenticates clients with SASL GSSAPI."""
        config = [("authProvider.1", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider")]
        if require_sasl:
            config.append(("sessionRequireClientSASLAuth", "true"))
        return {"extra_jaas": self.zookeeper_jaas(), "jvm_flags": self.jvm_flags(), "extra_config": config,
                "env": dict(self.env), "name": "zk-krb"}

    def zookeeper_hosts(self, server):
        """The connect string a GSSAPI client must use: the principal's host name, not 127.0.0.1."""
        return "%s:%d" % (SERVER_HOST, server.port)

    def hs2_acceptor(self, principal=None):
        """``(principal, keytab)`` for ``HS2Server(auth="KERBEROS", kerberos=...)``."""
        return (principal or self.hive_principal, self.hive_keytab)

    def process_env(self, user, ccache=None):
        """Environment for a client process authenticating as ``user`` from its keytab, no kinit needed."""
        env = dict(self.env)
        env["KRB5_CLIENT_KTNAME"] = self.keytab(user)
        env["KRB5CCNAME"] = ccache or "MEMORY:hive-ha-%s" % user.replace("/", "_")
        return env

    @contextlib.contextmanager
    def client_env(self, user, ccache=None):
        """Within the block this process's os.environ makes ``user`` its Kerberos identity (restored after)."""
        env = self.process_env(user, ccache)
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _stop_all_at_exit():
    with _live_lock:
        kdcs = list(_live)
    for kdc in kdcs:
        with contextlib.suppress(Exception):
            kdc.stop()


atexit.register(_stop_all_at_exit)
