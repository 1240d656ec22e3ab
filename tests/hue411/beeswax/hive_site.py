"""Stand-in for ``apps/beeswax/src/beeswax/hive_site.py``: the hive-site.xml readers Hue's Hive path uses.

hive-site.xml is never read: ``get_conf()`` returns an in-memory dict (empty at first, as Hue's is when the file
is missing). Tests set properties with ``get_conf()[name] = value`` and clear them with ``reset()``, like Hue's
own tests. Readers, property names and defaults are Hue master's, including the quirk that ``get_use_sasl()``
reads ``hive.metastore.sasl.enabled``.
"""
from desktop.lib import security_util

_HIVE_SITE_DICT = None

_CNF_HIVESERVER2_KERBEROS_PRINCIPAL = 'hive.server2.authentication.kerberos.principal'
_CNF_HIVESERVER2_AUTHENTICATION = 'hive.server2.authentication'
_CNF_HIVESERVER2_IMPERSONATION = 'hive.server2.enable.doAs'
_CNF_HIVESERVER2_USE_SSL = 'hive.server2.use.SSL'
_CNF_HIVESERVER2_TRANSPORT_MODE = 'hive.server2.transport.mode'
_CNF_HIVESERVER2_THRIFT_BINARY_PORT = 'hive.server2.thrift.port'
_CNF_HIVESERVER2_THRIFT_HTTP_PORT = 'hive.server2.thrift.http.port'
_CNF_HIVESERVER2_THRIFT_HTTP_PATH = 'hive.server2.thrift.http.path'
_CNF_HIVESERVER2_THRIFT_SASL_QOP = 'hive.server2.thrift.sasl.qop'
_CNF_HIVESERVER2_USE_SASL = 'hive.metastore.sasl.enabled'
_CNF_HIVE_EXECUTION_MODE = 'hive.execution.mode'


def reset():
    """Reset the cached conf"""
    global _HIVE_SITE_DICT
    _HIVE_SITE_DICT = None


def get_conf():
    """The hive-site properties (a dict)."""
    global _HIVE_SITE_DICT
    if _HIVE_SITE_DICT is None:
        _HIVE_SITE_DICT = {}
    return _HIVE_SITE_DICT


def get_hiveserver2_kerberos_principal(hostname_or_ip):
    """The HiveServer2 principal with ``_HOST`` replaced by the FQDN of ``hostname_or_ip``, or None."""
    fqdn = security_util.get_fqdn(hostname_or_ip)
    principal = get_conf().get(_CNF_HIVESERVER2_KERBEROS_PRINCIPAL, None)
    if principal:
        return security_util.get_kerberos_principal(principal, fqdn)
    return None


def get_hiveserver2_authentication():
    return get_conf().get(_CNF_HIVESERVER2_AUTHENTICATION, 'NONE').upper()  # NONE == PLAIN SASL


def get_hiveserver2_thrift_sasl_qop():
    return get_conf().get(_CNF_HIVESERVER2_THRIFT_SASL_QOP, 'NONE').lower()


def hiveserver2_impersonation_enabled():
    return get_conf().get(_CNF_HIVESERVER2_IMPERSONATION, 'TRUE').upper() == 'TRUE'


def hiveserver2_use_ssl():
    return get_conf().get(_CNF_HIVESERVER2_USE_SSL, 'FALSE').upper() == 'TRUE'


def hiveserver2_transport_mode():
    return get_conf().get(_CNF_HIVESERVER2_TRANSPORT_MODE, 'TCP').upper()


def hiveserver2_thrift_binary_port():
    return get_conf().get(_CNF_HIVESERVER2_THRIFT_BINARY_PORT)


def hiveserver2_thrift_http_port():
    return get_conf().get(_CNF_HIVESERVER2_THRIFT_HTTP_PORT)


def hiveserver2_thrift_http_path():
    return get_conf().get(_CNF_HIVESERVER2_THRIFT_HTTP_PATH, 'cliservice')


def get_use_sasl():
    return get_conf().get(_CNF_HIVESERVER2_USE_SASL)


def get_hive_execution_mode():
    return get_conf().get(_CNF_HIVE_EXECUTION_MODE)
