"""Stand-in for ``apps/beeswax/src/beeswax/server/dbms.py`` (cloudera/hue master): where Hue picks a HiveServer2.

Reproduced with Hue's logic and defects (see /work/shared/reference/hue.md, "What is broken upstream"):
* ``cache``: Django's ``caches['hive_discovery']`` (a per-process LocMemCache); ``reset_ha()`` clears it and sets
  the one global ``RESET_HS2_QUERY_SERVER`` flag; it runs at import;
* ``get_zk_hs2()``: a NEW read-only ``KazooClient`` per call (started with ``zookeeper_conn_timeout``, stopped
  but never closed, leaked on error), children of the HiveServer2 znode sorted by ``sequence=``;
* ``get_query_server_config(name='beeswax', connector=None)``: the 'hiveserver2' / 'llap' cache entries,
  ZooKeeper discovery (lowest sequence always wins; "is it down" = host substring of the cached JSON; the
  'hiveserver2' entry is set without a timeout, so Django's default 300 s applies; LLAP HA reads ``internal[0]``
  and falls back to the HiveServer2 settings), the returned dict (server_name, server_host, server_port,
  principal, http_url, transport_mode, auth_username, auth_password, use_sasl, close_sessions,
  has_session_pool, max_number_of_sessions, dialect); connectors through
  ``get_query_server_config_via_connector``;
* ``get(user, query_server=None, cluster=None)``: ``DBMS_CACHE[user.id][server_name]`` under ``DBMS_CACHE_LOCK``;
  the reset flag rebuilds only the calling user's entry;
* exceptions ``QueryServerException``, ``InvalidSessionQueryServerException``, ``QueryServerTimeoutException``;
  ``HiveServer2Dbms`` with the calls ``notebook.connectors.hiveserver2.HS2Api`` makes.

Not reproduced: names 'impala', 'sparksql' and 'hms' (they need other Hue apps; they raise NotImplementedError),
the Compute reload of a saved connector, the metastore/table/partition methods of HiveServer2Dbms.

Hue 4.11.0 differs from master here (we follow master): ``zk.start()`` without a timeout; no sort of the children
by sequence; without discovery the HiveServer2 port is always ``hive_server_http_port``; on a cache hit the
'hiveserver2' entry is first overwritten with hive_server_host/hive_server_http_port; ``server_port`` is
``hive_server_port`` (the discovered port is ignored) and the principal uses ``hive_server_host``; ``get()`` does
not default ``auth_username`` to the user.
"""
import json
import logging
import re
import threading
import time

from django.core.cache import caches
from kazoo.client import KazooClient

from beeswax.common import is_compute
from beeswax.conf import (
    APPLY_NATURAL_SORT_MAX,
    AUTH_PASSWORD,
    AUTH_USERNAME,
    CACHE_TIMEOUT,
    CLOSE_SESSIONS,
    HIVE_DISCOVERY_HIVESERVER2_ZNODE,
    HIVE_DISCOVERY_HS2,
    HIVE_DISCOVERY_LLAP,
    HIVE_DISCOVERY_LLAP_HA,
    HIVE_DISCOVERY_LLAP_ZNODE,
    HIVE_HTTP_THRIFT_PORT,
    HIVE_SERVER_HOST,
    HIVE_SERVER_PORT,
    LLAP_SERVER_HOST,
    LLAP_SERVER_PORT,
    LLAP_SERVER_THRIFT_PORT,
    MAX_NUMBER_OF_SESSIONS,
    USE_SASL as HIVE_USE_SASL,
    ZOOKEEPER_CONN_TIMEOUT,
    has_session_pool,
)
from beeswax.design import hql_query
from beeswax.hive_site import (
    get_hiveserver2_kerberos_principal,
    hiveserver2_impersonation_enabled,
    hiveserver2_thrift_http_path,
    hiveserver2_transport_mode,
    hiveserver2_use_ssl,
)
from beeswax.models import QueryHistory
from desktop.conf import has_connectors
from desktop.lib.exceptions_renderable import PopupException
from desktop.settings import CACHES_HIVE_DISCOVERY_KEY
from libzookeeper import conf as libzookeeper_conf

LOG = logging.getLogger()

_ = str  # Hue translates these messages with gettext; the text is the same.

RESET_HS2_QUERY_SERVER = False
DBMS_CACHE = {}
DBMS_CACHE_LOCK = threading.Lock()
cache = caches[CACHES_HIVE_DISCOVERY_KEY]


def reset_ha():
    """Forget the discovered endpoints and ask the next ``get()`` (whoever calls it) to rebuild its client."""
    global RESET_HS2_QUERY_SERVER
    cache.clear()
    RESET_HS2_QUERY_SERVER = True


reset_ha()


def get_zk_hs2():
    """The children of the HiveServer2 znode, sorted by sequence; None when the znode is missing."""
    hiveservers = None
    zk = KazooClient(hosts=libzookeeper_conf.ENSEMBLE.get(), read_only=True)
    zk.start(timeout=ZOOKEEPER_CONN_TIMEOUT.get())
    znode = HIVE_DISCOVERY_HIVESERVER2_ZNODE.get()
    if zk.exists(znode):
        LOG.debug("Selecting up Hive server via the following node {0}".format(znode))
        hiveservers = zk.get_children(znode)
        if hiveservers and 'sequence' in hiveservers[0]:
            hiveservers.sort(key=lambda x: re.findall(r'sequence=\d+', x)[0])
    zk.stop()
    return hiveservers


def _endpoint_of(child):
    """Hue's chained split of 'serverUri=host:port;version=...;sequence=...' (IPv6 breaks; the port stays a str)."""
    uri = child.split(";")[0].split("=")[1]
    return {"host": uri.split(":")[0], "port": uri.split(":")[1]}


def get(user, query_server=None, cluster=None):
    """The user's cached HiveServer2Dbms for ``query_server['server_name']`` (built on first use)."""
    global RESET_HS2_QUERY_SERVER

    if query_server is None:
        query_server = get_query_server_config(connector=cluster)

    if not query_server.get('auth_username') and user and user.username:
        query_server['auth_username'] = user.username

    DBMS_CACHE_LOCK.acquire()
    try:
        DBMS_CACHE.setdefault(user.id, {})

        if query_server['server_name'] not in DBMS_CACHE[user.id]:
            from beeswax.server.hive_server2_lib import HiveServerClientCompatible  # Circular import

            if query_server.get('dialect') == 'impala' or query_server['server_name'] == 'hms':
                raise NotImplementedError("Impala and HMS clients are not reproduced by the test stand-in")
            from beeswax.server.hive_server2_lib import HiveServerClient
            DBMS_CACHE[user.id][query_server['server_name']] = HiveServer2Dbms(
                HiveServerClientCompatible(HiveServerClient(query_server, user)),
                QueryHistory.SERVER_TYPE[1][0]
            )
        elif RESET_HS2_QUERY_SERVER:
            from beeswax.server.hive_server2_lib import HiveServerClient, HiveServerClientCompatible
            RESET_HS2_QUERY_SERVER = False
            LOG.debug('Setting DBMS cache for the new hs2')
            DBMS_CACHE[user.id].clear()
            DBMS_CACHE[user.id][query_server['server_name']] = HiveServer2Dbms(
                HiveServerClientCompatible(HiveServerClient(query_server, user)),
                QueryHistory.SERVER_TYPE[1][0]
            )
        return DBMS_CACHE[user.id][query_server['server_name']]
    finally:
        DBMS_CACHE_LOCK.release()


def _configured_hs2():
    return json.dumps({
        "host": HIVE_SERVER_HOST.get(),
        "port": HIVE_HTTP_THRIFT_PORT.get() if hiveserver2_transport_mode() == 'HTTP' else HIVE_SERVER_PORT.get()
    })


def _discover_llap():
    """Fill the 'llap' cache entry (Hue's three LLAP branches)."""
    if not HIVE_DISCOVERY_LLAP.get():
        LOG.debug("Zookeeper discovery not enabled, reverting to config values")
        cache.set("llap", json.dumps({"host": LLAP_SERVER_HOST.get(), "port": LLAP_SERVER_THRIFT_PORT.get()}),
                  CACHE_TIMEOUT.get())
        return
    zk = KazooClient(hosts=libzookeeper_conf.ENSEMBLE.get(), read_only=True)
    zk.start(timeout=ZOOKEEPER_CONN_TIMEOUT.get())
    if HIVE_DISCOVERY_LLAP_HA.get():
        znode = "{0}/instances".format(HIVE_DISCOVERY_LLAP_ZNODE.get())
        if zk.exists(znode):
            hiveservers = zk.get_children(znode)
            if not hiveservers:
                raise PopupException(_('There is no running Hive LLAP server available'))
            for server in hiveservers:
                llap_servers = json.loads(zk.get("{0}/{1}".format(znode, server))[0])["internal"][0]
                if llap_servers["api"] == "activeEndpoint":
                    cache.set("llap", json.dumps({
                        "host": llap_servers["addresses"][0]["host"],
                        "port": llap_servers["addresses"][0]["port"],
                    }), CACHE_TIMEOUT.get())
        else:
            LOG.error("Hive LLAP endpoint not found, reverting to config values")
            cache.set("llap", json.dumps({"host": HIVE_SERVER_HOST.get(), "port": HIVE_HTTP_THRIFT_PORT.get()}),
                      CACHE_TIMEOUT.get())
    else:
        znode = "{0}".format(HIVE_DISCOVERY_LLAP_ZNODE.get())
        if zk.exists(znode):
            for server in zk.get_children(znode):  # The last child wins
                cache.set("llap", json.dumps(_endpoint_of(server)))
    zk.stop()


def _discover_hs2(active_endpoint):
    """Fill or check the 'hiveserver2' cache entry (Hue's two branches: cache miss, cache hit)."""
    if active_endpoint is None:
        if HIVE_DISCOVERY_HS2.get():
            hiveservers = get_zk_hs2()
            LOG.debug("Available Hive Servers: {0}".format(hiveservers))
            if not hiveservers:
                LOG.error('There are no running Hive server available')
                raise PopupException(_('There are no running Hive server available'))
            cache.set("hiveserver2", json.dumps(_endpoint_of(hiveservers[0])))
        else:
            cache.set("hiveserver2", _configured_hs2())
    elif HIVE_DISCOVERY_HS2.get():
        hiveservers = get_zk_hs2()
        if hiveservers:
            hs2_host_name = _endpoint_of(hiveservers[0])["host"]
            if hs2_host_name not in active_endpoint:
                LOG.error('Current HiveServer is down, working to connect with the next available HiveServer from '
                          'Zookeeper')
                reset_ha()
                cache.set("hiveserver2", json.dumps(_endpoint_of(hiveservers[0])))
        else:
            LOG.error('Currently there are no HiveServer2 running')
            raise PopupException(_('Currently there are no HiveServer2 running'))
    else:
        cache.set("hiveserver2", _configured_hs2())


def get_query_server_config(name='beeswax', connector=None):
    """The connection settings of a query server (see module docstring for the keys)."""
    if connector and (has_connectors() or is_compute(connector)):
        LOG.debug("Query via connector %s (%s)" % (name, connector.get('type')))
        query_server = get_query_server_config_via_connector(connector)
    else:
        if name in ('impala', 'hms', 'sparksql'):
            raise NotImplementedError("Query server %r is not reproduced by the test stand-in" % name)
        if name == "llap":
            if cache.get('llap') is None:
                _discover_llap()
            activeEndpoint = json.loads(cache.get("llap"))
        else:
            _discover_hs2(cache.get("hiveserver2"))
            activeEndpoint = json.loads(cache.get("hiveserver2"))

        kerberos_principal = get_hiveserver2_kerberos_principal(activeEndpoint["host"])
        query_server = {
            'server_name': 'beeswax' if name != 'hplsql' else 'hplsql',
            'server_host': activeEndpoint["host"],
            'server_port': LLAP_SERVER_PORT.get() if name == 'llap' else int(activeEndpoint["port"]),
            'principal': kerberos_principal,
            'http_url': '%(protocol)s://%(host)s:%(port)s/%(end_point)s' % {
                'protocol': 'https' if hiveserver2_use_ssl() else 'http',
                'host': activeEndpoint["host"],
                'port': activeEndpoint["port"],
                'end_point': hiveserver2_thrift_http_path()
            },
            'transport_mode': 'http' if hiveserver2_transport_mode() == 'HTTP' else 'socket',
            'auth_username': AUTH_USERNAME.get(),
            'auth_password': AUTH_PASSWORD.get(),
            'use_sasl': HIVE_USE_SASL.get(),
            'close_sessions': CLOSE_SESSIONS.get(),
            'has_session_pool': has_session_pool(),
            'max_number_of_sessions': MAX_NUMBER_OF_SESSIONS.get()
        }

    if not query_server.get('dialect'):
        query_server['dialect'] = query_server['server_name']
    return query_server


def get_query_server_config_via_connector(connector):
    """The query server of a connector/compute dict (its ``options`` hold host, port, ...)."""
    compute = connector.get('compute', connector)
    compute_name = compute['name']
    if compute.get('id'):
        raise NotImplementedError("Reloading a saved Compute is not reproduced by the test stand-in")

    if compute['options'].get('has_ssh') == 'true':
        server_host = '127.0.0.1'
    else:
        server_host = compute['options']['server_host']
    server_port = int(compute['options']['server_port'])

    if 'impersonation_enabled' in compute['options']:
        impersonation_enabled = bool(compute['options']['impersonation_enabled'])
    else:
        impersonation_enabled = hiveserver2_impersonation_enabled()

    return {
        'is_compute': True,
        'dialect': compute['dialect'],
        'server_name': compute_name,
        'server_host': server_host,
        'server_port': server_port,
        'principal': 'TODO',
        'auth_username': compute['options'].get('auth_username', AUTH_USERNAME.get()),
        'auth_password': compute['options'].get('auth_password', AUTH_PASSWORD.get()),
        'impersonation_enabled': impersonation_enabled,
        'use_sasl': str(compute['options'].get('use_sasl', True)).upper() == 'TRUE',
        'SESSION_TIMEOUT_S': 15 * 60,
        'querycache_rows': 1000,
        'QUERY_TIMEOUT_S': 15 * 60,
        'transport_mode': compute['options'].get('transport_mode', 'http'),
        'http_url': compute['options'].get('http_url', 'http://%s:%s/cliservice' % (server_host, server_port)),
        'close_sessions': str(compute['options'].get('close_sessions', True)).upper() == 'TRUE',
        'has_session_pool': str(compute['options'].get('has_session_pool', False)).upper() == 'TRUE',
        'max_number_of_sessions': compute['options'].get('has_session_pool', -1)
    }


class QueryServerException(Exception):
    def __init__(self, e, message=''):
        super(QueryServerException, self).__init__(e)
        self.message = message


class InvalidSessionQueryServerException(QueryServerException):
    def __init__(self, e, message=''):
        super(InvalidSessionQueryServerException, self).__init__(e, message=message)


class QueryServerTimeoutException(Exception):
    def __init__(self, message=''):
        super(QueryServerTimeoutException, self).__init__(message)
        self.message = message


class HiveServer2Dbms(object):
    """The per-user, per-server facade over a HiveServerClientCompatible (only what HS2Api calls)."""

    def __init__(self, client, server_type):
        self.client = client
        self.server_type = server_type
        self.server_name = self.client.query_server.get('dialect') if self.client.query_server['server_name'].isdigit() \
            else self.client.query_server['server_name']

    @classmethod
    def to_matching_wildcard(cls, identifier=None):
        cleaned = "*"
        if identifier and identifier.strip() != "*":
            cleaned = "*%s*" % identifier.strip().strip("*")
        return cleaned

    def get_databases(self, database_names='*'):
        if database_names != '*':
            database_names = self.to_matching_wildcard(database_names)
        databases = self.client.get_databases(schemaName=database_names)
        if len(databases) <= APPLY_NATURAL_SORT_MAX.get():
            databases = sorted(databases)  # Hue: apply_natural_sort (also numbers in names); same for plain names
        return databases

    def fetch(self, query_handle, start_over=False, rows=None):
        no_start_over_support = [
            config_variable
            for config_variable in self.get_default_configuration(False)
            if config_variable.key == 'support_start_over' and config_variable.value == 'false'
        ]
        if no_start_over_support:
            start_over = False
        return self.client.fetch(query_handle, start_over, rows)

    def close_operation(self, query_handle):
        return self.client.close_operation(query_handle)

    def open_session(self, user):
        return self.client.open_session(user)

    def close_session(self, session):
        resp = self.client.close_session(session)
        if resp.status.statusCode != 0:
            session.status_code = resp.status.statusCode
            session.save()
            raise QueryServerException(_('Failed to close session, session handle may already be closed or timed out.'))
        session.status_code = 4  # ttypes.TStatusCode.INVALID_HANDLE_STATUS
        session.save()
        return session

    def cancel_operation(self, query_handle):
        resp = self.client.cancel_operation(query_handle)
        if self.client.query_server.get('dialect') == 'impala':
            resp = self.client.close_operation(query_handle)
        return resp

    def get_sample(self, database, table, column=None, nested=None, limit=100, generate_sql_only=False, operation=None):
        """Only the ``operation == 'hello'`` probe is reproduced (the others need table metadata)."""
        if operation != 'hello':
            raise NotImplementedError("Table samples are not reproduced by the test stand-in")
        hql = "SELECT 'Hello World!'"
        if generate_sql_only:
            return hql
        result = None
        handle = self.execute_and_wait(hql_query(hql), timeout_sec=5.0)
        if handle:
            result = self.fetch(handle, rows=100)
            self.close(handle)
        return result

    def use(self, database, session=None):
        query = hql_query('USE `%s`' % database)
        return self.client.use(query, session=session)

    def get_log(self, query_handle, start_over=True):
        return self.client.get_log(query_handle, start_over)

    def get_state(self, handle):
        return self.client.get_state(handle)

    def get_operation_status(self, handle):
        return self.client.get_operation_status(handle)

    def execute_and_wait(self, query, timeout_sec=30.0, sleep_interval=0.5):
        """Run the query and poll its state until it ends; cancel and raise QueryServerTimeoutException after
        ``timeout_sec``."""
        handle = self.client.query(query)
        curr = time.time()
        end = curr + timeout_sec
        while curr <= end:
            state = self.client.get_state(handle)
            if state not in (QueryHistory.STATE.running, QueryHistory.STATE.submitted):
                return handle
            time.sleep(sleep_interval)
            curr = time.time()

        msg = "The query timed out after %(timeout)d seconds, canceled query." % {'timeout': timeout_sec}
        LOG.warning(msg)
        try:
            self.cancel_operation(handle)
        except Exception as e:
            msg = "Failed to cancel query."
            LOG.warning(msg)
            self.close_operation(handle)
            raise QueryServerException(e, message=msg)
        raise QueryServerTimeoutException(message=msg)

    def close(self, handle):
        return self.client.close(handle)

    def get_default_configuration(self, include_hadoop):
        return self.client.get_default_configuration(include_hadoop)


class Table(object):
    """Metadata of a Hive table (base class; not used by the stand-in)."""


class DataTable(object):
    """Data of a Hive table (base class of HiveServerDataTable)."""

