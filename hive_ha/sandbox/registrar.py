"""Register (fake) servers in ZooKeeper exactly as HiveServer2, HSI Active/Passive HA and Kyuubi do.

Every registered server gets its OWN ZooKeeper session (its own KazooClient), like a real HiveServer2 process, so a
server can go away in the two ways real ones do:

* ``server.deregister()`` - clean shutdown: the znode is deleted and the session closed; gone at once.
* ``server.crash()``      - hard crash: the client's TCP connection is cut WITHOUT closing the session, so the
  ephemeral znode lingers until the session expires (after ``session_timeout`` seconds, small by default).
* a session expiry (``expire_session(server.client)``, or ZooKeeper down for longer than the timeout) removes the znode;
  like Hive's Curator PersistentEphemeralNode the server registers again (new sequence number) as soon as it has a new
  session, unless ``recreate_on_expiry=False``.

How ``crash()`` works (in-process, no subprocess needed): each server's KazooClient runs on a
`_CrashableHandler`, kazoo's standard threading handler with a switch in ``create_connection`` (the hook kazoo uses
to open every socket). ``crash()`` flips the switch (all further connects fail with ECONNREFUSED) and shuts the live
socket down, then stops the client. Kazoo can no longer reach the server, so its closeSession request is never
delivered: from ZooKeeper's side this is indistinguishable from a killed process (the connection drops, the session
stays until it expires). For a real separate process there is also ``spawn_process()`` /
``python -m hive_ha.sandbox.registrar`` (SIGKILL it to crash, SIGTERM for a clean exit).

Layouts (see docs/discovery.md):
  "hs2"    ``/<namespace>/serverUri=<host>:<port>;version=<v>;sequence=<10 digits>`` (EPHEMERAL_SEQUENTIAL, parent
           persistent), data ``key=value;...`` (published configs) or legacy ``host:port``. HSI without HA is the same
           layout under another namespace (e.g. ``hiveserver2-hive2``).
  "kyuubi" ``/<namespace>/serviceUri=<host>:<port>;version=<v>;[refId=<id>;]sequence=<n>`` with the same data keys.
  "hsi-ha" ``/<root>/instances/instance-<10 digits>``, data a Hadoop registry ServiceRecord (JSON) whose internal
           endpoint ``api`` is ``activeEndpoint`` on the leader and ``passiveEndpoint`` elsewhere; ``/<root>/_LEADER``
           is created too (with Curator-style latch nodes if ``leader_latch=True``).
"""
import argparse
import atexit
import errno
import json
import os
import random
import socket
import subprocess
import sys
import threading
import uuid
import weakref

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.security import CREATOR_ALL_ACL, READ_ACL_UNSAFE

from hive_ha.io.shutdown import StopSignals
from hive_ha.testing.waiting import wait_until

__all__ = [
    "LAYOUTS",
    "DEFAULT_NAMESPACES",
    "Registrar",
    "RegisteredServer",
    "RegistrationProcess",
    "RawZnode",
    "hive_secure_acl",
    "published_configs",
    "format_published",
    "service_record",
    "spawn_process",
]

LAYOUTS = ("hs2", "hsi-ha", "kyuubi")
DEFAULT_NAMESPACES = {"hs2": "hiveserver2", "hsi-ha": "hs2ActivePassiveHA-unsecure", "kyuubi": "kyuubi"}
DEFAULT_VERSIONS = {"hs2": "3.1.3", "hsi-ha": "3.1.3", "kyuubi": "1.8.0"}
TRANSPORT_MODES = ("binary", "http", "all")
ACTIVE_ENDPOINT = "activeEndpoint"
PASSIVE_ENDPOINT = "passiveEndpoint"


def hive_secure_acl():
    """The ACL HiveServer2 puts on its znodes in secure mode: world-readable, everything for the creator's identity
    (requires an authenticated session, e.g. ``auth=[("digest", "user:pw")]`` or SASL)."""
    return list(READ_ACL_UNSAFE) + list(CREATOR_ALL_ACL)


# -------------------------------------------------------------------------------------------------------- data formats
def published_configs(
    host,
    port,
    *,
    transport_mode="binary",
    http_port=None,
    http_path="cliservice",
    authentication="NONE",
    use_ssl=False,
    principal=None,
    sasl_qop="auth",
    instance_uri=None,
    include_instance_uri=True,
):
    """The ``hive.server2.*`` settings HiveServer2 publishes (HiveServer2.addConfsToPublish), as an ordered dict of
    strings. `port` is the port in the instance URI: the binary port in binary/all mode, the HTTP port in http mode
    (`http_port` defaults to it there; mode "all" needs an explicit `http_port`)."""
    if transport_mode not in TRANSPORT_MODES:
        raise ValueError("transport_mode must be one of %s" % (TRANSPORT_MODES,))
    if transport_mode == "http" and http_port is None:
        http_port = port
    if transport_mode == "all" and http_port is None:
        raise ValueError("transport_mode='all' needs http_port")
    configs = {"hive.server2.thrift.bind.host": host}
    if include_instance_uri:
        configs["hive.server2.instance.uri"] = instance_uri or "%s:%s" % (host, port)
    configs["hive.server2.transport.mode"] = transport_mode
    if transport_mode in ("http", "all"):
        configs["hive.server2.thrift.http.port"] = str(http_port)
        configs["hive.server2.thrift.http.path"] = http_path
    if transport_mode in ("binary", "all"):
        configs["hive.server2.thrift.port"] = str(port)
        configs["hive.server2.thrift.sasl.qop"] = sasl_qop
    configs["hive.server2.authentication"] = authentication
    if str(authentication).upper() == "KERBEROS":  # Hive publishes the principal only in Kerberos mode
        configs["hive.server2.authentication.kerberos.principal"] = principal or ""
    configs["hive.server2.use.SSL"] = "true" if use_ssl else "false"
    return configs


def format_published(configs, shuffle=False):
    """``key=value`` pairs joined by ``;`` (Guava's Joiner as used by Hive: no trailing separator).

    shuffle: False keeps the dict order; True or a ``random.Random`` shuffles it (Hive uses a HashMap, so clients must
    not rely on any order)."""
    items = list(configs.items())
    if shuffle:
        (shuffle if isinstance(shuffle, random.Random) else random).shuffle(items)
    return ";".join("%s=%s" % (key, value) for key, value in items)


def service_record(configs, host, port, active, pretty=False):
    """A Hadoop registry ServiceRecord (JSON text) as HS2ActivePassiveHARegistry writes it: the flat string
    attributes in `configs` plus one internal ``hadoop/IPC`` endpoint (``activeEndpoint`` if `active` else
    ``passiveEndpoint``) whose port is a string. Hadoop 3's marshaller (JsonSerDeser -> JsonSerialization with
    pretty=false) writes compact JSON in this key order; `pretty=True` gives an indented variant (still valid JSON, for
    robustness tests)."""
    record = {
        "type": "JSONServiceRecord",
        "external": [],
        "internal": [
            {
                "api": ACTIVE_ENDPOINT if active else PASSIVE_ENDPOINT,
                "addressType": "host/port",
                "protocolType": "hadoop/IPC",
                "addresses": [{"host": host, "port": str(port)}],
            }
        ],
    }
    record.update((key, str(value)) for key, value in configs.items())
    if pretty:
        return json.dumps(record, indent=2, separators=(",", " : "))
    return json.dumps(record, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------- crashable kazoo handler
class _CrashableHandler(SequentialThreadingHandler):
    """Kazoo's threading handler with a kill switch on its sockets (see the module docstring); with
    ``ticket_cache``, its threads use that Kerberos ticket cache (a server's identity, apart from the process's)."""

    def __init__(self, ticket_cache=None):
        super().__init__()
        self._ticket_cache = ticket_cache
        self._crash_lock = threading.Lock()
        self._crashed = False
        self._sockets = []

    def spawn(self, func, *args, **kwargs):
        if not self._ticket_cache:
            return super().spawn(func, *args, **kwargs)

        def run():
            from hive_ha.io import kerberos

            kerberos.use_in_this_thread(self._ticket_cache)
            return func(*args, **kwargs)

        return super().spawn(run)

    def create_connection(self, *args, **kwargs):
        with self._crash_lock:
            if self._crashed:
                raise socket.error(errno.ECONNREFUSED, "connection refused (server crashed by hive_ha.sandbox)")
        sock = super().create_connection(*args, **kwargs)
        with self._crash_lock:
            if self._crashed:
                sock.close()
                raise socket.error(errno.ECONNREFUSED, "connection refused (server crashed by hive_ha.sandbox)")
            self._sockets = [s for s in self._sockets if s.fileno() != -1]
            self._sockets.append(sock)
        return sock

    def crash(self):
        with self._crash_lock:
            self._crashed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ------------------------------------------------------------------------------------------------- RegisteredServer
class RegisteredServer:
    """One registration: a znode owned by its own ZooKeeper session.

    Attributes: ``znode`` (full path), ``name`` (last path element), ``sequence`` (int or None), ``host``, ``port``,
    ``layout``, ``namespace``, ``configs`` (published settings), ``data`` (bytes last written), ``active`` (hsi-ha),
    ``unique_id`` (hsi-ha ``registry.unique.id``), ``latch_znode`` (hsi-ha with leader_latch), ``client`` (the
    server's own KazooClient), ``state`` ("registered", "deregistered", "crashed").
    """

    def __init__(self, registrar, client, handler, znode, data, *, layout, namespace, host=None, port=None,
                 configs=None, active=False, unique_id=None, options=None):
        self.registrar = registrar
        self.client = client
        self._handler = handler
        self.znode = znode
        self.data = data
        self.layout = layout
        self.namespace = namespace
        self.host = host
        self.port = port
        self.configs = dict(configs or {})
        self.active = active
        self.unique_id = unique_id
        self.latch_znode = None
        self.options = dict(options or {})
        self.state = "registered"
        self.history = [znode]  # every path this registration had (a new one after each session expiry)
        self.recreated = threading.Event()
        self._prefix = None  # path prefix to re-create the znode with after a session expiry (recreate_on_expiry)
        self._latch_prefix = None
        self._session_lost = False
        client_id = getattr(client, "client_id", None) if not isinstance(client, _PersistentNodeClient) else None
        self._session_id = client_id[0] if client_id else None

    @property
    def name(self):
        return self.znode.rsplit("/", 1)[-1]

    @property
    def sequence(self):
        digits = ""
        for char in reversed(self.name):
            if not char.isdigit():
                break
            digits = char + digits
        return int(digits) if digits else None

    @property
    def session_id(self):
        return self._session_id

    @property
    def instance_uri(self):
        return None if self.host is None else "%s:%s" % (self.host, self.port)

    @property
    def alive(self):
        return self.state == "registered"

    def exists(self):
        """True if the znode is in ZooKeeper now (checked through the registrar's own session)."""
        return self.registrar.client.exists(self.znode) is not None

    def read(self):
        """Current data of the znode (bytes), via the registrar's session."""
        return self.registrar.client.get(self.znode)[0]

    def set_data(self, data):
        """Rewrite the znode's data from the server's own session."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._require_alive()
        self.client.set(self.znode, data)
        self.data = data

    def deregister(self):
        """Clean shutdown (like HiveServer2.stop()): delete the znode, close the session. Gone at once."""
        if self.state != "registered":
            return
        self.state = "deregistered"
        ephemeral = self.options.get("ephemeral", True)
        try:
            for path in (self.latch_znode, self.znode):
                if path:
                    try:
                        self.client.delete(path)
                    except NoNodeError:
                        pass
                    except KazooException:
                        if not ephemeral:
                            raise
                        # e.g. the session just expired: closing the session below removes what is left
        finally:
            self._close_client()

    def crash(self):
        """Hard crash (like kill -9 of HiveServer2): the connection drops, the session is NOT closed, so the ephemeral
        znode stays until the session expires (~``session_timeout`` s later). Use ``wait_gone()`` to wait for it."""
        if self.state != "registered":
            return
        self.state = "crashed"
        self._handler.crash()
        self._close_client()

    def wait_gone(self, timeout=None):
        """Wait until the znode has disappeared (e.g. after crash(): session timeout + up to a tick)."""
        if timeout is None:
            timeout = self.options.get("session_timeout", self.registrar.session_timeout) * 3 + 5
        wait_until(lambda: not self.exists(), timeout=timeout, message="%s still exists" % self.znode)

    def _watch_session(self, prefix):
        """Like Curator's PersistentEphemeralNode in Hive: after the session expired and a new one is established,
        create the znode again (a new sequence number) with the same data."""
        self._prefix = prefix

        def listener(state):
            if state == KazooState.LOST:
                self._session_lost = True
            elif state == KazooState.CONNECTED and self._session_lost and self.state == "registered":
                self._session_lost = False
                threading.Thread(target=self._recreate, name="hive-ha-recreate", daemon=True).start()

        self.client.add_listener(listener)

    def _recreate(self):
        try:
            parent = self._prefix.rsplit("/", 1)[0]
            self.registrar._ensure_path(self.client, parent)
            znode = self.client.create(self._prefix, self.data, acl=self.registrar.acl, ephemeral=True, sequence=True)
            if self._latch_prefix:
                self.latch_znode = self.client.create(
                    self._latch_prefix, self.unique_id.encode("utf-8"), acl=self.registrar.acl, ephemeral=True,
                    sequence=True,
                )
        except Exception:  # noqa: BLE001 - closed meanwhile, or the next session will try again
            self._session_lost = True
            return
        self.znode = znode
        self.history.append(znode)
        self._session_id = self.client.client_id[0] if self.client.client_id else None
        self.recreated.set()

    def _require_alive(self):
        if self.state != "registered":
            raise RuntimeError("server %s is %s" % (self.name, self.state))

    def _close_client(self):
        if self.client is None:
            return
        try:
            self.client.stop()
        finally:
            self.client.close()

    def __repr__(self):
        return "<RegisteredServer %s %s %s>" % (self.layout, self.znode, self.state)


# --------------------------------------------------------------------------------------------------------- Registrar
class Registrar:
    """Registers fake servers in ZooKeeper the way Hive does (one ZooKeeper session per server).

    zk_hosts: connect string (optionally with a chroot). auth: kazoo auth_data, e.g. ``[("digest", "user:pw")]``.
    sasl_options: kazoo sasl_options (e.g. DIGEST-MD5). acl: ACL list for every znode created (None = kazoo's open
    ACL; ``hive_secure_acl()`` = Hive's secure mode). session_timeout: seconds, of each server's session (small so a
    crash expires quickly). ticket_cache: a Kerberos ticket cache for SASL GSSAPI, used by the registrar's own
    threads only (a process whose default cache holds another identity). client_kwargs: anything else for
    KazooClient (use_ssl, ca, certfile, keyfile, ...).
    """

    def __init__(self, zk_hosts, *, auth=None, sasl_options=None, acl=None, session_timeout=3.0,
                 connect_timeout=15.0, ticket_cache=None, **client_kwargs):
        self.hosts = zk_hosts
        self.ticket_cache = ticket_cache
        self.auth = list(auth or [])
        self.sasl_options = dict(sasl_options) if sasl_options else None
        self.acl = acl
        self.session_timeout = float(session_timeout)
        self.connect_timeout = float(connect_timeout)
        self.client_kwargs = client_kwargs
        self.servers = []
        self._lock = threading.RLock()
        self._client = None
        self._closed = False

    # ------------------------------------------------------------------------------------------------------ clients
    def _new_client(self, session_timeout, handler=None):
        kwargs = dict(self.client_kwargs)
        if self.auth:
            kwargs["auth_data"] = list(self.auth)
        if self.sasl_options:
            kwargs["sasl_options"] = dict(self.sasl_options)
        if handler is None and self.ticket_cache:
            handler = _CrashableHandler(self.ticket_cache)
        client = KazooClient(hosts=self.hosts, timeout=session_timeout, handler=handler, **kwargs)
        try:
            client.start(timeout=self.connect_timeout)
        except BaseException:
            client.stop()
            client.close()
            raise
        return client

    @property
    def client(self):
        """The registrar's own KazooClient (persistent/raw nodes, reads, existence checks); started on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("registrar is closed")
            if self._client is None:
                self._client = self._new_client(max(self.session_timeout, 10.0))
            return self._client

    # ---------------------------------------------------------------------------------------------------- register
    def register(
        self,
        host,
        port,
        *,
        layout="hs2",
        namespace=None,
        transport_mode="binary",
        http_port=None,
        http_path="cliservice",
        authentication="NONE",
        use_ssl=False,
        principal=None,
        sasl_qop="auth",
        version=None,
        data_form="published",
        active=False,
        shuffle=False,
        extra=None,
        webui_port=10002,
        unique_id=None,
        leader_latch=False,
        ref_id=None,
        json_pretty=False,
        recreate_on_expiry=True,
        session_timeout=None,
    ):
        """Register a server and return its `RegisteredServer`.

        layout: "hs2" | "kyuubi" | "hsi-ha". namespace: the parent node name (hs2/kyuubi) or HA root (hsi-ha);
        defaults "hiveserver2", "kyuubi", "hs2ActivePassiveHA-unsecure"; may contain "/" (e.g. "kyuubi/ns").
        port: the port in the name/instance URI (binary port, or the HTTP port in http mode).
        data_form: "published" (key=value;...) or "legacy" (host:port) for hs2/kyuubi; hsi-ha is always JSON.
        active (hsi-ha): write an activeEndpoint instead of a passiveEndpoint.
        shuffle: randomize the key order of published data (True or a random.Random).
        extra: additional published settings; a value of None removes a key (to build incomplete data).
        webui_port, unique_id, leader_latch: hsi-ha record details (`leader_latch` also creates a Curator-style
        ``_c_<uuid>-latch-<seq>`` ephemeral node under ``_LEADER``).
        ref_id: Kyuubi's optional ``refId=`` name element. version: defaults per layout ("3.1.3", Kyuubi "1.8.0").
        json_pretty: hsi-ha only, write indented JSON instead of Hadoop's compact form.
        recreate_on_expiry: like Hive (Curator PersistentEphemeralNode), register again under a new sequence number
        once a new session is established after this server's session expired (``server.recreated`` is set, ``znode``
        updated, old paths in ``history``). False: an expired registration stays gone.
        session_timeout: seconds, overrides the registrar default for this server.
        """
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s" % (LAYOUTS,))
        if data_form not in ("published", "legacy"):
            raise ValueError("data_form must be 'published' or 'legacy'")
        namespace = (namespace or DEFAULT_NAMESPACES[layout]).strip("/")
        version = version or DEFAULT_VERSIONS[layout]
        instance_uri = "%s:%s" % (host, port)
        configs = published_configs(
            host, port, transport_mode=transport_mode, http_port=http_port, http_path=http_path,
            authentication=authentication, use_ssl=use_ssl, principal=principal, sasl_qop=sasl_qop,
        )
        if layout == "hsi-ha":
            # HS2ActivePassiveHARegistry.getConfsToPublish: no "all" branch, plus web UI port and unique id.
            unique_id = unique_id or str(uuid.uuid4())
            ha = {"hive.server2.thrift.bind.host": host, "hive.server2.webui.port": str(webui_port),
                  "hive.server2.instance.uri": instance_uri, "registry.unique.id": unique_id}
            ha.update((k, v) for k, v in configs.items() if k not in ha)
            if transport_mode == "all":
                ha.pop("hive.server2.thrift.http.port", None)
                ha.pop("hive.server2.thrift.http.path", None)
            configs = ha
        for key, value in (extra or {}).items():
            if value is None:
                configs.pop(key, None)
            else:
                configs[key] = str(value)

        if layout == "hsi-ha":
            parent = "/%s/instances" % namespace
            prefix = parent + "/instance-"
            data = service_record(configs, host, port, active, pretty=json_pretty)
        else:
            parent = "/" + namespace
            uri_key = "serverUri" if layout == "hs2" else "serviceUri"
            ref = ";refId=%s" % ref_id if (layout == "kyuubi" and ref_id) else ""
            prefix = "%s/%s=%s;version=%s%s;sequence=" % (parent, uri_key, instance_uri, version, ref)
            data = format_published(configs, shuffle) if data_form == "published" else instance_uri
        data = data.encode("utf-8")

        timeout = self.session_timeout if session_timeout is None else float(session_timeout)
        handler = _CrashableHandler(self.ticket_cache)
        client = self._new_client(timeout, handler)
        try:
            self._ensure_path(client, parent)
            if layout == "hsi-ha":
                self._ensure_path(client, "/%s/_LEADER" % namespace)
            znode = client.create(prefix, data, acl=self.acl, ephemeral=True, sequence=True)
            server = RegisteredServer(
                self, client, handler, znode, data, layout=layout, namespace=namespace, host=host, port=port,
                configs=configs, active=bool(active) if layout == "hsi-ha" else False, unique_id=unique_id,
                options=dict(session_timeout=timeout, shuffle=shuffle, data_form=data_form, webui_port=webui_port,
                             transport_mode=transport_mode, version=version, json_pretty=json_pretty),
            )
            if layout == "hsi-ha" and leader_latch:
                latch_prefix = "/%s/_LEADER/_c_%s-latch-" % (namespace, uuid.uuid4())
                server.latch_znode = client.create(
                    latch_prefix, unique_id.encode("utf-8"), acl=self.acl, ephemeral=True, sequence=True
                )
                server._latch_prefix = latch_prefix
            if recreate_on_expiry:
                server._watch_session(prefix)
        except BaseException:
            client.stop()
            client.close()
            raise
        with self._lock:
            self.servers.append(server)
        return server

    def register_raw(self, path, data=b"", *, ephemeral=True, sequence=True, session_timeout=None, acl=None):
        """Write an arbitrary znode (for malformed-registration tests); missing parents are created.

        Returns a `RawZnode`: the created path as a ``str`` (sequence suffix included) that also carries
        ``deregister()``, ``crash()``, ``exists()``, ``wait_gone()`` and ``server`` (the underlying
        `RegisteredServer`, layout "raw"). Ephemeral nodes get their own session, like real servers; persistent ones are
        written through the registrar's session and deleted by ``deregister()`` / ``close()``.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not path.startswith("/"):
            path = "/" + path
        acl = self.acl if acl is None else acl
        parent = path.rsplit("/", 1)[0] or "/"
        handler = _CrashableHandler(self.ticket_cache)
        if ephemeral:
            timeout = self.session_timeout if session_timeout is None else float(session_timeout)
            client = self._new_client(timeout, handler)
        else:
            # Persistent node: operations go through the registrar's session; crash() has nothing to cut.
            client = _PersistentNodeClient(self)
        try:
            if parent != "/":
                self._ensure_path(client, parent)
            znode = client.create(path, data, acl=acl, ephemeral=ephemeral, sequence=sequence)
        except BaseException:
            client.stop()
            client.close()
            raise
        server = RegisteredServer(
            self, client, handler, znode, data, layout="raw", namespace=parent.strip("/"),
            options={"ephemeral": ephemeral, "session_timeout": timeout if ephemeral else self.session_timeout},
        )
        with self._lock:
            self.servers.append(server)
        return RawZnode(znode, server)

    def _ensure_path(self, client, path):
        try:
            client.ensure_path(path, acl=self.acl)
        except NodeExistsError:  # raced with another server creating it
            pass

    # -------------------------------------------------------------------------------------------- hsi-ha leadership
    def set_active(self, server, active):
        """Rewrite one hsi-ha server's record with an active (True) or passive (False) endpoint, from its own session
        (no other server is touched: two actives or zero actives are possible on purpose)."""
        if server.layout != "hsi-ha":
            raise ValueError("set_active applies to hsi-ha registrations")
        pretty = server.options.get("json_pretty", False)
        data = service_record(server.configs, server.host, server.port, active, pretty=pretty).encode("utf-8")
        server.set_data(data)
        server.active = bool(active)

    def make_active(self, server):
        """Leader change as Hive does it: every other live hsi-ha server under the same root that is active is
        rewritten to passive first, then `server` is rewritten to active (so readers may briefly see zero actives,
        never two). ``make_active(None)`` (or ``make_passive``) leaves the root with no active server."""
        namespace = server.namespace if server is not None else None
        for other in self.live_servers(layout="hsi-ha", namespace=namespace):
            if other is not server and other.active:
                self.set_active(other, False)
        if server is not None:
            self.set_active(server, True)

    def make_passive(self, server):
        self.set_active(server, False)

    # --------------------------------------------------------------------------------------------------- queries
    def live_servers(self, layout=None, namespace=None):
        with self._lock:
            return [
                s for s in self.servers
                if s.alive and (layout is None or s.layout == layout)
                and (namespace is None or s.namespace == namespace.strip("/"))
            ]

    def children(self, path):
        """Sorted children of `path` (empty list if it does not exist)."""
        try:
            return sorted(self.client.get_children(path))
        except NoNodeError:
            return []

    # ---------------------------------------------------------------------------------------------------- closing
    def close(self):
        """Deregister every live server (clean) and close the registrar's own session. Idempotent."""
        with self._lock:
            servers, self.servers = list(self.servers), []
        errors = []
        for server in servers:
            try:
                server.deregister()
            except Exception as exc:  # noqa: BLE001 - keep closing the others
                errors.append(exc)
        with self._lock:
            client, self._client = self._client, None
            self._closed = True
        if client is not None:
            try:
                client.stop()
            finally:
                client.close()
        if errors:
            raise errors[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class RawZnode(str):
    """The path of a znode written by `Registrar.register_raw` (compares and formats as that path) with the handle
    of its registration: ``deregister()``, ``crash()``, ``exists()``, ``wait_gone()``, ``read()``, ``server``."""

    def __new__(cls, path, server):
        self = super().__new__(cls, path)
        self.server = server
        return self

    @property
    def znode(self):
        return str(self)

    def deregister(self):
        self.server.deregister()

    def crash(self):
        self.server.crash()

    def exists(self):
        return self.server.exists()

    def wait_gone(self, timeout=None):
        self.server.wait_gone(timeout)

    def read(self):
        return self.server.read()

    def __reduce__(self):  # pickles/copies as the plain path
        return (str, (str(self),))


class _PersistentNodeClient:
    """Stand-in `client` for a persistent raw node: operations go through the registrar's session; stop/close are
    no-ops (the registrar owns that session)."""

    def __init__(self, registrar):
        self._registrar = registrar

    def __getattr__(self, name):
        return getattr(self._registrar.client, name)

    def stop(self):
        pass

    def close(self):
        pass


# ------------------------------------------------------------------------------------- a registration in a process
class RegistrationProcess:
    """A registration held by a separate ``python -m hive_ha.sandbox.registrar`` process (see `spawn_process`).

    ``znode`` is the created path; ``terminate()`` = clean shutdown (znode gone at once); ``kill()`` = SIGKILL
    (znode lingers until the session expires); ``stop()`` = terminate then kill if needed."""

    def __init__(self, process, znode):
        self.process = process
        self.znode = znode

    @property
    def pid(self):
        return self.process.pid

    def terminate(self, timeout=10.0):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self):
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


_processes = weakref.WeakSet()


@atexit.register
def _kill_processes_at_exit():
    for process in list(_processes):
        if process.poll() is None:
            process.terminate()  # clean deregistration


def spawn_process(zk_hosts, host, port, *, timeout=30.0, auth=None, sasl_options=None, session_timeout=3.0,
                  client_kwargs=None, **register_kwargs):
    """Register a server from a separate Python process (its own PID, its own ZooKeeper session) and return a
    `RegistrationProcess` once the znode exists. register_kwargs are those of `Registrar.register` (JSON-able)."""
    options = {
        "zk_hosts": zk_hosts, "host": host, "port": port, "auth": auth, "sasl_options": sasl_options,
        "session_timeout": session_timeout, "client_kwargs": client_kwargs or {}, "register": register_kwargs,
    }
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    process = subprocess.Popen(
        [sys.executable, "-m", "hive_ha.sandbox.registrar", "--options-json", json.dumps(options)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )
    _processes.add(process)
    result = {}

    def read_first_line():
        result["line"] = process.stdout.readline().decode("utf-8", "replace").strip()

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout)
    line = result.get("line", "")
    if not line.startswith("/"):
        process.kill()
        process.wait()
        raise RuntimeError("registration process failed (exit %s, output %r)" % (process.returncode, line))
    return RegistrationProcess(process, line)


def main(argv=None):
    """``python -m hive_ha.sandbox.registrar --zk 127.0.0.1:2181 [--layout hs2] [--namespace ns] HOST PORT``

    Registers one server, prints its znode path on stdout, and keeps the session until SIGTERM/SIGINT or until its
    parent process dies (both: clean deregistration). SIGKILL it to simulate a crash."""
    parser = argparse.ArgumentParser(prog="python -m hive_ha.sandbox.registrar", description=main.__doc__)
    parser.add_argument("host", nargs="?")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--zk", dest="zk_hosts")
    parser.add_argument("--layout", choices=LAYOUTS, default="hs2")
    parser.add_argument("--namespace")
    parser.add_argument("--transport-mode", choices=TRANSPORT_MODES, default="binary")
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--version")
    parser.add_argument("--legacy", action="store_true", help="data is host:port")
    parser.add_argument("--active", action="store_true", help="hsi-ha: register as the active instance")
    parser.add_argument("--session-timeout", type=float, default=3.0)
    parser.add_argument("--options-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.options_json:
        options = json.loads(args.options_json)
    else:
        if not (args.zk_hosts and args.host and args.port):
            parser.error("--zk, HOST and PORT are required")
        register = {"layout": args.layout, "namespace": args.namespace, "transport_mode": args.transport_mode,
                    "http_port": args.http_port, "version": args.version, "active": args.active,
                    "data_form": "legacy" if args.legacy else "published"}
        options = {"zk_hosts": args.zk_hosts, "host": args.host, "port": args.port,
                   "session_timeout": args.session_timeout, "register": register}

    signals = StopSignals().install()  # a handler that takes no lock (Event.set() in one can deadlock)
    registrar = Registrar(
        options["zk_hosts"], auth=[tuple(a) for a in options.get("auth") or []],
        sasl_options=options.get("sasl_options"), session_timeout=options.get("session_timeout", 3.0),
        **(options.get("client_kwargs") or {})
    )
    try:
        server = registrar.register(options["host"], options["port"], **options.get("register", {}))
        sys.stdout.write(server.znode + "\n")
        sys.stdout.flush()
        parent = os.getppid()
        while signals.wait(0.2) is None and os.getppid() == parent:
            pass
    finally:
        registrar.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
