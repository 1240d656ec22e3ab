"""Stand-in for ``desktop/core/src/desktop/lib/thrift_util.py``: Hue's pooled Thrift clients.

Reproduced behaviour (what fail-over code meets):
* ``get_client(klass, host, port, service_name, **kwargs)`` returns a ``PooledClient`` over a ``ConnectionConfig``;
* ``_connection_pool`` (a ``ConnectionPooler``, ``cherrypy_server_threads`` = 50 lazily-opened clients per pool)
  keeps ``pooldict`` keyed by ``_get_pool_key(conf)`` = ``(klass, host, port, coordinator_host)``; pools are
  never evicted, also not when their host is dead;
* transports: ``TSocket`` + ``TBufferedTransport``, or SASL (``thrift_sasl.TSaslClientTransport`` with pure-sasl
  through ``desktop.lib.sasl_compat``) when ``use_sasl``, or ``THttpClient`` for ``transport_mode='http'``
  (basic auth with username/password);
* ``SuperClient`` opens the transport on demand and tries a call 3 times on socket/transport errors (not on
  timeouts), then re-raises; ``PooledClient`` turns a ``TTransportException`` into
  ``StructuredThriftTransportException`` (code THRIFTTRANSPORT: a dead socket-mode server gives
  "Could not connect to any of [('host', port)]"), socket errors into ``StructuredException('THRIFTSOCKET')``,
  ``TApplicationException`` into ``StructuredException('THRIFTAPPLICATION')``; anything else (e.g. HTTP mode's
  ``RestException``) passes unchanged;
* ``unpack_guid``/``unpack_guid_base64``.

Not reproduced: TLS sockets (``use_ssl``), Kerberos, JWT, multiplexed protocols, Impala's smart pool, call
duration logging, ``thrift2json`` and friends.
"""
import base64
import logging
import queue
import select
import socket
import struct
import threading
import time

from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.Thrift import TApplicationException
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TFramedTransport, TTransportException
from thrift_sasl import TSaslClientTransport

from desktop.conf import CHERRYPY_SERVER_THREADS, SASL_MAX_BUFFER
from desktop.lib.exceptions import StructuredException, StructuredThriftTransportException
from desktop.lib.thrift_.http_client import THttpClient

LOG = logging.getLogger()


class LifoQueue(queue.Queue):
    """A queue handing out the most recently returned client first."""

    def _init(self, maxsize):
        self.queue = []
        self.maxsize = maxsize

    def _qsize(self, len=len):
        return len(self.queue)

    def _put(self, item):
        self.queue.append(item)

    def _get(self):
        return self.queue.pop()


class ConnectionConfig(object):
    """The configuration of one Thrift client (Hue's argument names and defaults)."""

    def __init__(self, klass, host, port, service_name, use_sasl=False, use_ssl=False, kerberos_principal="thrift",
                 mechanism='GSSAPI', username='hue', password='hue', ca_certs=None, keyfile=None, certfile=None,
                 validate=False, timeout_seconds=45, transport='buffered', multiple=False, transport_mode='socket',
                 http_url='', coordinator_host=''):
        self.klass = klass
        self.host = host
        self.port = port
        self.service_name = service_name
        self.use_sasl = use_sasl
        self.use_ssl = use_ssl
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.kerberos_principal = kerberos_principal
        self.ca_certs = ca_certs
        self.keyfile = keyfile
        self.certfile = certfile
        self.validate = validate
        self.timeout_seconds = timeout_seconds
        self.transport = transport
        self.multiple = multiple
        self.transport_mode = transport_mode
        self.http_url = http_url
        self.coordinator_host = coordinator_host

    def update_coordinator_host(self, coordinator_host):
        self.coordinator_host = coordinator_host

    def get_coordinator_host(self):
        return self.coordinator_host


class ConnectionPooler(object):
    """One LIFO pool of ``poolsize`` SuperClients per pool key; ``get_client`` blocks while a pool is empty."""

    def __init__(self, poolsize=10):
        self.pooldict = {}
        self.poolsize = poolsize
        self.dictlock = threading.Lock()

    def create_pool_impala(self, conf):
        with self.dictlock:
            if _get_pool_key(conf) not in self.pooldict:
                self.pooldict[_get_pool_key(conf)] = LifoQueue(self.poolsize)

    def create_pool(self, conf):
        if _get_pool_key(conf) not in self.pooldict:
            with self.dictlock:
                if _get_pool_key(conf) not in self.pooldict:
                    q = LifoQueue(self.poolsize)
                    for i in range(self.poolsize):
                        client = construct_superclient(conf)
                        client.CID = i
                        q.put(client, False)
                    # Published only once full, so a failed construction never leaves an empty pool behind.
                    self.pooldict[_get_pool_key(conf)] = q

    def get_client(self, conf, get_client_timeout=None):
        connection = None
        start = time.time()
        has_waited_for = 0
        self.create_pool(conf)
        while connection is None:
            if get_client_timeout is not None:
                this_round_timeout = max(min(get_client_timeout - has_waited_for, 1), 0)
            else:
                this_round_timeout = None
            try:
                connection = self.pooldict[_get_pool_key(conf)].get(block=True, timeout=this_round_timeout)
            except queue.Empty:
                has_waited_for = time.time() - start
                if get_client_timeout is not None and has_waited_for > get_client_timeout:
                    raise socket.timeout("Timed out after %.2f seconds waiting to retrieve a %s client from the pool."
                                         % (has_waited_for, conf.service_name))
        return connection

    def return_client(self, conf, client):
        if client.get_coordinator_host() is not None:
            conf.update_coordinator_host(client.get_coordinator_host())
            self.create_pool_impala(conf)
        self.pooldict[_get_pool_key(conf)].put(client)


def _get_pool_key(conf):
    """The key of a client's pool in ``ConnectionPooler.pooldict``."""
    return (conf.klass, conf.host, conf.port, conf.get_coordinator_host())


def construct_superclient(conf):
    """A SuperClient whose transport is not opened yet."""
    service, protocol, transport = connect_to_thrift(conf)
    return SuperClient(service, transport, timeout_seconds=conf.timeout_seconds)


def connect_to_thrift(conf):
    """``(service, protocol, transport)`` for ``conf``; the transport is NOT opened."""
    if conf.transport_mode == 'http':
        mode = THttpClient(conf.http_url)
        mode.set_verify(conf.validate)
    else:
        if conf.use_ssl:
            raise NotImplementedError("TLS Thrift sockets are not reproduced by the test stand-in")
        mode = TSocket(conf.host, conf.port)

    if conf.timeout_seconds:
        mode.setTimeout(conf.timeout_seconds * 1000.0)

    if conf.transport_mode == 'http':
        if conf.use_sasl and conf.mechanism != 'PLAIN':
            mode.set_kerberos_auth(service=conf.kerberos_principal)
        else:
            mode.set_basic_auth(conf.username, conf.password)

    if conf.transport_mode == 'socket' and conf.use_sasl:
        # Hue tries the C 'sasl' module first and falls back to pure-sasl; only the fallback is reproduced.
        from desktop.lib.sasl_compat import PureSASLClient

        def sasl_factory():
            return PureSASLClient(
                host=str(conf.host),
                username=str(conf.username) if conf.mechanism == 'PLAIN' else None,
                password=str(conf.password) if conf.mechanism == 'PLAIN' else None,
                maxbufsize=SASL_MAX_BUFFER.get() if conf.mechanism != 'PLAIN' else None,
                service=str(conf.kerberos_principal),
            )

        transport = TSaslClientTransport(sasl_factory, conf.mechanism, mode)
    elif conf.transport == 'framed':
        transport = TFramedTransport(mode)
    else:
        transport = TBufferedTransport(mode)

    protocol = TBinaryProtocol(transport)
    service = conf.klass(protocol)
    return service, protocol, transport


_connection_pool = ConnectionPooler(poolsize=CHERRYPY_SERVER_THREADS.get())


def get_client(klass, host, port, service_name, **kwargs):
    conf = ConnectionConfig(klass, host, port, service_name, **kwargs)
    return PooledClient(conf)


def _grab_transport_from_wrapper(outer_transport):
    if isinstance(outer_transport, TBufferedTransport):
        return outer_transport._TBufferedTransport__trans
    elif isinstance(outer_transport, TSaslClientTransport):
        return outer_transport._trans
    elif isinstance(outer_transport, TFramedTransport):
        return outer_transport._TFramedTransport__trans
    raise Exception("Unknown transport type: %s" % outer_transport.__class__)


class PooledClient(object):
    """Borrows a SuperClient from ``_connection_pool`` for every call and maps transport errors as Hue does."""

    def __init__(self, conf):
        self.conf = conf

    def __getattr__(self, attr_name):
        if attr_name in self.__dict__:
            return self.__dict__[attr_name]
        superclient = _connection_pool.get_client(self.conf, get_client_timeout=self.conf.timeout_seconds)
        try:
            attr = getattr(superclient, attr_name)
            return self._wrap_callable(attr_name) if callable(attr) else attr
        finally:
            self._return_client(superclient)

    def _wrap_callable(self, attr_name):
        def wrapper(*args, **kwargs):
            superclient = _connection_pool.get_client(self.conf)
            try:
                attr = getattr(superclient, attr_name)
                try:
                    # A pooled socket that is readable before we wrote anything was closed by the server (or is out
                    # of sync): reopen it first, as Hue does.
                    sock = self.conf.transport_mode != 'http' and _grab_transport_from_wrapper(superclient.transport).handle
                    if sock and select.select([sock], [], [], 0)[0]:
                        superclient.transport.close()
                        superclient.transport.open()
                    superclient.set_timeout(self.conf.timeout_seconds)
                    return attr(*args, **kwargs)
                except TApplicationException as e:
                    LOG.info("Thrift saw an application exception: " + str(e))
                    raise StructuredException('THRIFTAPPLICATION', str(e), data=None, error_code=502)
                except socket.error as e:
                    LOG.info("Thrift saw a socket error: " + str(e))
                    raise StructuredException('THRIFTSOCKET', str(e), data=None, error_code=502)
                except TTransportException as e:
                    LOG.info("Thrift saw a transport exception: " + str(e))
                    raise StructuredThriftTransportException(e, error_code=502)
            finally:
                self._return_client(superclient)
        wrapper.attr = attr_name
        return wrapper

    def _return_client(self, superclient):
        _connection_pool.return_client(self.conf, superclient)


class SuperClient(object):
    """A Thrift client that (re)opens its transport on demand and retries a failed call up to 3 times."""

    def __init__(self, wrapped_client, transport, timeout_seconds=None, coordinator_host=None):
        self.wrapped = wrapped_client
        self.transport = transport
        self.timeout_seconds = timeout_seconds
        self.coordinator_host = coordinator_host

    def get_coordinator_host(self):
        return self.coordinator_host

    def __getattr__(self, attr):
        if attr in self.__dict__:
            return self.__dict__[attr]
        res = getattr(self.wrapped, attr)
        if not hasattr(res, '__call__'):
            return res

        def wrapper(*args, **kwargs):
            tries_left = 3
            while tries_left:
                try:
                    if not self.transport.isOpen():
                        self.transport.open()
                    return res(*args, **kwargs)
                except (socket.error, socket.timeout, TTransportException) as e:
                    self.transport.close()
                    if isinstance(e, socket.timeout) or 'read operation timed out' in str(e):
                        LOG.warning("Not retrying thrift call %s due to socket timeout" % attr)
                        raise
                    tries_left -= 1
                    if not tries_left:
                        raise
                    LOG.info("Thrift exception; retrying: " + str(e))
                except Exception as e:
                    if "Read timed out." in str(e):
                        raise StructuredException(
                            'TIMEOUT',
                            'Current timeout of %s was hit. Please consider increasing the `server_conn_timeout` '
                            'config. Request failed with "%s"' % (self.timeout_seconds, str(e)),
                            data=None, error_code=502)
                    if "'client_protocol' is unset" in str(e):
                        raise StructuredException(
                            'OPEN_SESSION',
                            'Thrift version configured by property thrift_version might be too high. Request failed '
                            'with "%s"' % str(e),
                            data=None, error_code=502)
                    raise
        return wrapper

    def set_timeout(self, timeout_seconds):
        if timeout_seconds != self.timeout_seconds:
            self.timeout_seconds = timeout_seconds
            inner = _grab_transport_from_wrapper(self.transport)
            inner.setTimeout(self.timeout_seconds * 1000 if self.timeout_seconds is not None else None)


def unpack_guid(guid):
    return "%016x:%016x" % struct.unpack(b"QQ", guid)


def unpack_guid_base64(guid):
    return "%016x:%016x" % struct.unpack(b"QQ", base64.b64decode(guid))

