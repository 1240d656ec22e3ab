"""Stand-in for ``apps/beeswax/src/beeswax/conf.py`` ([beeswax] section): the keys the HiveServer2 path reads,
with Hue master's keys, types and defaults (dynamic defaults included).

Differences: ``ZOOKEEPER_CONN_TIMEOUT`` exists on master only (Hue 4.11.0 has no such key and calls
``zk.start()`` with kazoo's 15 s default); ``AUTH_PASSWORD``'s dynamic default skips ``auth_password_script``.
"""
from desktop.conf import AUTH_PASSWORD as DEFAULT_AUTH_PASSWORD, AUTH_USERNAME as DEFAULT_AUTH_USERNAME
from desktop.conf import default_ssl_cacerts, default_ssl_validate
from desktop.lib.conf import Config, ConfigSection, coerce_bool, coerce_csv

HIVE_DISCOVERY_LLAP = Config(key="hive_discovery_llap", default="false", type=coerce_bool,
                             help="Have Hue determine Hive Server Interactive endpoint from zookeeper")

HIVE_DISCOVERY_HS2 = Config(key="hive_discovery_hs2", default="false", type=coerce_bool,
                            help="Whether HiveServer2 is taken from the list in ZooKeeper")

HIVE_DISCOVERY_LLAP_HA = Config(key="hive_discovery_llap_ha", default="false", type=coerce_bool,
                                help="Look for the active HSI server among several (HA znode layout)")

HIVE_DISCOVERY_LLAP_ZNODE = Config(key="hive_discovery_llap_znode", default="/hiveserver2-hive2",
                                   help="The znode of the LLAP master(s)")

HIVE_DISCOVERY_HIVESERVER2_ZNODE = Config(key="hive_discovery_hiveserver2_znode", default="/hiveserver2",
                                          help="The znode of the HiveServer2s")

CACHE_TIMEOUT = Config(key="cache_timeout", default=60, type=int,
                       help="Seconds before asking ZooKeeper again for the active HSI endpoint")

LLAP_SERVER_PORT = Config(key="llap_server_port", default=10500, type=int, help="LLAP binary Thrift port")

LLAP_SERVER_THRIFT_PORT = Config(key="llap_server_thrift_port", default=10501, type=int,
                                 help="LLAP http Thrift port")

LLAP_SERVER_HOST = Config(key="llap_server_host", default="localhost", help="Host of Hive Server Interactive")

HIVE_SERVER_HOST = Config(key="hive_server_host", default="localhost", help="Host of HiveServer2")


def get_hive_thrift_binary_port():
    """Devise port from core-site Thrift / execution mode & Http port"""
    from beeswax.hive_site import get_hive_execution_mode, hiveserver2_thrift_binary_port  # Cyclic dependency
    return hiveserver2_thrift_binary_port() or (10500 if (get_hive_execution_mode() or '').lower() == 'llap' else 10000)


HIVE_SERVER_PORT = Config(key="hive_server_port", dynamic_default=get_hive_thrift_binary_port, type=int,
                          help="The binary Thrift port of HiveServer2")


def get_hive_thrift_http_port():
    """Devise port from core-site Thrift / execution mode & Http port"""
    from beeswax.hive_site import get_hive_execution_mode, hiveserver2_thrift_http_port  # Cyclic dependency
    return hiveserver2_thrift_http_port() or (10501 if (get_hive_execution_mode() or '').lower() == 'llap' else 10001)


HIVE_HTTP_THRIFT_PORT = Config(key="hive_server_http_port", dynamic_default=get_hive_thrift_http_port, type=int,
                               help="The HTTP Thrift port of HiveServer2")

HIVE_METASTORE_HOST = Config(key="hive_metastore_host", default="localhost", help="Host of the Hive Metastore")

HIVE_METASTORE_PORT = Config(key="hive_metastore_port", default=9083, type=int, help="Port of the Hive Metastore")

SERVER_CONN_TIMEOUT = Config(key='server_conn_timeout', default=120, type=int,
                             help='Timeout in seconds for Thrift calls.')

ZOOKEEPER_CONN_TIMEOUT = Config(key='zookeeper_conn_timeout', default=30, type=int,
                                help='Timeout in seconds for zookeeper connection.')

USE_GET_LOG_API = Config(key='use_get_log_api', default=False, type=coerce_bool,
                         help='Use the old GetLog() Thrift call instead of FetchResults() for logs.')

LIST_PARTITIONS_LIMIT = Config(key='list_partitions_limit', default=1000, type=int,
                               help='Limit the number of partitions that can be listed.')

APPLY_NATURAL_SORT_MAX = Config(key="apply_natural_sort_max", type=int, default=2000,
                                help="Max number of records a natural sort is applied to.")

MAX_NUMBER_OF_SESSIONS = Config(key="max_number_of_sessions", type=int, default=-1,
                                help="At most this many HiveServer2 sessions per user; -1 is unlimited.")

THRIFT_VERSION = Config(key="thrift_version", type=int, default=11,
                        help="Thrift version to use when communicating with HiveServer2.")

CONFIG_WHITELIST = Config(
    key='config_whitelist',
    default='hive.map.aggr,hive.exec.compress.output,hive.exec.parallel,hive.execution.engine,mapreduce.job.queuename',
    type=coerce_csv,
    help='Comma-separated Hive properties users may set.')

MAX_CATALOG_SQL_ENTRIES = Config(key="max_catalog_sql_entries", default=5000, type=int,
                                 help="Max number of objects listed in the assist, autocomplete, etc.")

SSL = ConfigSection(
    key='ssl',
    help='SSL configuration for the server.',
    members=dict(
        CACERTS=Config(key="cacerts", help="Path to Certificate Authority certificates.", type=str,
                       dynamic_default=default_ssl_cacerts),
        KEY=Config(key="key", help="Path to the private key file", type=str, default=None),
        CERT=Config(key="cert", help="Path to the public certificate file", type=str, default=None),
        VALIDATE=Config(key="validate", help="Whether to validate server certificates.", type=coerce_bool,
                        dynamic_default=default_ssl_validate),
    ),
)


def get_auth_username():
    """Get from top level default from desktop"""
    return DEFAULT_AUTH_USERNAME.get()


AUTH_USERNAME = Config(key="auth_username", help="Auth username of the hue user used for authentications.",
                       dynamic_default=get_auth_username)


def get_auth_password():
    """Get from top level default from desktop"""
    return DEFAULT_AUTH_PASSWORD.get()


AUTH_PASSWORD = Config(key="auth_password", help="LDAP/PAM/.. password of the hue user.", private=True,
                       dynamic_default=get_auth_password)


def get_use_sasl_default():
    """Get from hive_site or backward compatibility"""
    from beeswax.hive_site import get_hiveserver2_authentication, get_use_sasl  # Cyclic dependency
    use_sasl = get_use_sasl()
    if use_sasl is not None:
        return use_sasl.upper() == 'TRUE'
    return get_hiveserver2_authentication() in ('KERBEROS', 'NONE', 'LDAP', 'PAM')


USE_SASL = Config(key="use_sasl", help="Use SASL framework to establish connection to host", private=False,
                  type=coerce_bool, dynamic_default=get_use_sasl_default)


def has_multiple_sessions():
    """When true will create multiple sessions for user queries"""
    return MAX_NUMBER_OF_SESSIONS.get() != 1


CLOSE_SESSIONS = Config(key="close_sessions", type=coerce_bool, dynamic_default=has_multiple_sessions,
                        help='Close sessions created for background queries (useful when max_number_of_sessions != 1).')


def has_session_pool():
    return has_multiple_sessions() and not CLOSE_SESSIONS.get()

