"""A Kerberized cluster for the Hue tests and ``benchmarks/hue_failover.py --kerberos``: an MIT KDC, a ZooKeeper that
requires SASL GSSAPI, HiveServer2s accepting only GSSAPI that register themselves (Hive's secure ACL, their own
ZooKeeper session and identity), the cluster's hive-site.xml, and Hue's own side: its keytab and ``hue kt_renewer``.

    cluster = KerberizedCluster().start()            # KDC + ZooKeeper; two host names of this machine
    a = cluster.hs2("hs2-a", cluster.hosts[0], "/hiveserver2")   # hive/<host>@EXAMPLE.TEST, registered by name
    renewer = KtRenewer.for_home(HueHome(kt_renewer_ini(cluster, ccache)), ccache).start()  # `hue kt_renewer`: its
    configure_hue(cluster, "/hiveserver2", hive_conf_dir, set_value)  # own process; this Hue as the cluster's

Nothing is mocked. The servers run on two names of this machine, ``localhost`` and its host name, both found in
/etc/hosts as on any Debian machine (each may resolve to a different loopback address, or to the same one): a
client must ask the KDC for ``hive/<the host it dials>``, and each server accepts only its own principal. Hue's
tickets are short (``TICKET_LIFETIME``, renewable) and ``hue kt_renewer`` renews them every ``REINIT_FREQUENCY``
seconds, so every test outlives the ticket it started with.
"""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from hive_ha.io import kerberos
from hive_ha.sandbox.kdc import KerberosRig
from hive_ha.sandbox.zookeeper import ZooKeeperServer
from hive_ha.testing.waiting import wait_until

REALM = "EXAMPLE.TEST"
TICKET_LIFETIME = 12  # seconds: Hue's tickets, shorter than every test that uses them
REINIT_FREQUENCY = 4  # seconds: [desktop] [[kerberos]] reinit_frequency (Hue's default: 1 h for 10 h tickets)
REGISTRATION_SESSION = 4.0  # seconds: a killed server's znode is gone this long after the kill
#: The published principal: _HOST stands for the host of each registration (Hive's hive-site.xml default form).
HIVE_PRINCIPAL = f"hive/_HOST@{REALM}"
#: Hue's service user, allowed to impersonate (hadoop.proxyuser.hue.*), as the servers check it.
HUE_USER = "hue"


def machine_names():
    """``[(name, IPv4 address)]`` for two names of this machine a server can listen on: ``localhost`` and the host
    name (or FQDN) from /etc/hosts. Servers registered under each have principals of their own."""
    found = {}
    for name in ("localhost", socket.gethostname(), socket.getfqdn()):
        if name.lower() in found:
            continue
        try:
            address = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
            with socket.socket() as probe:
                probe.bind((address, 0))
        except OSError:
            continue
        found[name.lower()] = address
    if len(found) < 2:
        raise RuntimeError(f"this machine needs a host name besides localhost that resolves to a local address "
                           f"(/etc/hosts); found only {sorted(found)}")
    return list(found.items())[:2]


class KerberizedCluster:
    """KDC (``rig``), ZooKeeper requiring GSSAPI (``zk_hosts``), server principals for ``hosts``, Hue's keytab."""

    def __init__(self):
        self.names = machine_names()
        self.hosts = tuple(name for name, _ in self.names)
        self.rig = KerberosRig(users=(), short_lived=(), hosts=self.hosts)
        self.zk = None
        self.hue_principal = f"{HUE_USER}/{self.hosts[0]}@{REALM}"

    def start(self):
        self.rig.start()
        self.hue_keytab = os.path.join(self.rig.dir, "hue-service.keytab")
        self.rig.kdc.add_principal(self.hue_principal, self.hue_keytab, max_life=f"{TICKET_LIFETIME} seconds",
                                   max_renew="1 hour")
        os.chmod(self.hue_keytab, 0o600)  # Hue's own check wants it private
        # As a Kerberized Hive cluster's ZooKeeper: the SASL identity of hive/<host>@REALM is "hive", so every
        # HiveServer2 may register under the namespace node another one created (Hive's secure ACL: creator-all).
        kwargs = self.rig.zookeeper_kwargs()
        kwargs["extra_config"] = kwargs["extra_config"] + [("kerberos.removeHostFromPrincipal", "true"),
                                                           ("kerberos.removeRealmFromPrincipal", "true")]
        try:
            self.zk = ZooKeeperServer(**kwargs).start()
        except BaseException:
            self.rig.stop()
            raise
        return self

    def stop(self):
        if self.zk is not None:
            self.zk.stop()
        self.rig.stop()

    @property
    def env(self):
        """KRB5_CONFIG & co: what /etc/krb5.conf is on a real cluster's hosts."""
        return dict(self.rig.env)

    @property
    def zk_hosts(self):
        return self.rig.zookeeper_hosts(self.zk)  # by the name in ZooKeeper's principal

    def address_of(self, host):
        return dict(self.names)[host]

    # -- HiveServer2 ------------------------------------------------------------------------------------------
    def hs2(self, name, host, namespace, published_host=None, **kw):
        """A Kerberized HiveServer2 on ``host`` (its own process, started; the caller stops it), accepting only
        ``hive/<host>``, letting ``hue`` impersonate, registered by itself under ``namespace`` with
        ``hive/<host>``'s ZooKeeper identity: after a ``kill()`` its znode goes when that session expires.
        ``published_host``: register another host (an address) than the one of the principal; ``proxy_users``: who
        may impersonate (default: Hue)."""
        from hive_ha.sandbox.hs2server import HS2ServerProcess  # Thrift code: Hue's, once Hue has started

        principal, keytab = self.rig.hive_principal_for(host), self.rig.hive_keytab_for(host)
        env = dict(self.env, KRB5_CLIENT_KTNAME=keytab, KRB5CCNAME=f"MEMORY:{name}")
        registration = {
            "zk_hosts": self.zk_hosts, "session_timeout": REGISTRATION_SESSION, "secure_acl": True,
            "host": published_host or host,
            "sasl_options": {"mechanism": "GSSAPI", "service": "zookeeper", "principal": principal},
            "register": {"namespace": namespace.strip("/"), "authentication": "KERBEROS",
                         "principal": HIVE_PRINCIPAL}}
        kw.setdefault("proxy_users", {HUE_USER})
        server = HS2ServerProcess(name, host=self.address_of(host), auth="KERBEROS", kerberos=(principal, keytab),
                                  env=env, registration=registration, ready_timeout=30.0, **kw)
        return server.start()

    # -- Hue -------------------------------------------------------------------------------------------------
    def write_hive_site(self, directory):
        """The cluster's hive-site.xml, as Hue reads it from ``[beeswax] hive_conf_dir``."""
        os.makedirs(directory, exist_ok=True)
        properties = {"hive.server2.authentication": "KERBEROS",
                      "hive.server2.authentication.kerberos.principal": HIVE_PRINCIPAL,
                      "hive.server2.enable.doAs": "true"}
        body = "".join(f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in properties.items())
        with open(os.path.join(directory, "hive-site.xml"), "w") as f:
            f.write(f"<?xml version=\"1.0\"?>\n<configuration>\n{body}</configuration>\n")
        return directory


def configure_hue(cluster, namespace, hive_conf_dir, set_value, **hive_ha_keys):
    """Configure this Hue process as the Kerberized cluster's Hue and install hive-ha (what ``AppConfig.ready()``
    does); returns the integration. The keys are those of docs/kerberos.md's Hue section: ``[desktop] [[kerberos]]``
    (Hue's ``ccache_path`` stays what Hue exported as ``KRB5CCNAME`` at start-up), ``[beeswax]`` with the cluster's
    hive-site.xml, ``[libzookeeper] principal_name``, ``[hive_ha]`` SASL GSSAPI. ``set_value(config, value)`` sets a
    Hue ``Config`` (``set_for_testing``)."""
    from beeswax import conf as beeswax_conf
    from beeswax import hive_site
    from desktop.conf import KERBEROS
    from hue_integration import conf as our_conf
    from hue_integration import install
    from libzookeeper import conf as zk_conf

    set_value(KERBEROS.HUE_KEYTAB, cluster.hue_keytab)
    set_value(KERBEROS.HUE_PRINCIPAL, cluster.hue_principal)
    set_value(KERBEROS.REINIT_FREQUENCY, str(REINIT_FREQUENCY))
    set_value(beeswax_conf.HIVE_CONF_DIR, cluster.write_hive_site(hive_conf_dir))
    hive_site.reset()
    set_value(zk_conf.ENSEMBLE, cluster.zk_hosts)
    set_value(zk_conf.PRINCIPAL_NAME, "zookeeper")
    set_value(beeswax_conf.ZOOKEEPER_CONN_TIMEOUT, "20")
    set_value(beeswax_conf.HIVE_DISCOVERY_HS2, "true")
    set_value(beeswax_conf.HIVE_DISCOVERY_HIVESERVER2_ZNODE, namespace)
    for key, value in dict({"zookeeper_auth": "sasl", "zookeeper_sasl_mechanism": "GSSAPI"}, **hive_ha_keys).items():
        set_value(getattr(our_conf, key.upper()), str(value))
    return install.install_if_enabled()


def kt_renewer_ini(cluster, ccache):
    """A hue.ini for ``hue kt_renewer`` alone (inside ``[desktop]``, see ``HueHome``)."""
    return textwrap.dedent(f"""\
        [[kerberos]]
        hue_keytab={cluster.hue_keytab}
        hue_principal={cluster.hue_principal}
        ccache_path={ccache}
        reinit_frequency={REINIT_FREQUENCY}
        """)


class KtRenewer:
    """``hue kt_renewer`` in its own process group, configured by the hue.ini in ``env["HUE_CONF_DIR"]``: Hue's
    renewer, the only writer of Hue's ticket cache (``kinit -k -t <hue_keytab> -c <ccache_path> <hue_principal>``
    every ``reinit_frequency`` s, then ``kinit -R``). ``for_home(HueHome, ccache)`` for a ``HueHome``'s hue.ini."""

    def __init__(self, env, workdir, ccache):
        self.env, self.workdir, self.ccache = dict(env), workdir, ccache
        self.log_path = os.path.join(workdir, "kt_renewer.out")
        self.process = None

    @classmethod
    def for_home(cls, home, ccache):
        return cls(home.env, home.log_dir, ccache)

    def start(self, timeout=120):
        """Start it (unless it runs) and wait for its first ticket."""
        if self.process is not None and self.process.poll() is None:
            return self
        hue = os.path.join(os.path.dirname(sys.executable), "hue")  # the Hue virtualenv's command
        with open(self.log_path, "a") as out:
            self.process = subprocess.Popen([hue, "kt_renewer"], env=self.env, cwd=self.workdir, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

        def ticket():
            assert self.process.poll() is None, f"hue kt_renewer exited {self.process.returncode}: {self.output()}"
            return self.valid_until() is not None

        wait_until(ticket, timeout, interval=0.1, message=lambda: f"no ticket from hue kt_renewer: {self.output()}")
        return self

    def valid_until(self):
        """The end of the valid TGT in Hue's cache, or None."""
        ticket = kerberos.read_cache(self.ccache)
        if ticket is None or ticket.ends is None or ticket.ends <= time.time():
            return None
        return ticket.ends

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
