"""Stand-in for ``desktop/core/src/desktop/conf.py`` ([desktop] section): only the keys the Hive path reads.

Same keys, defaults and types as Hue master. ``AUTH_USERNAME``/``AUTH_PASSWORD`` keep Hue's dynamic defaults
reduced to their last fallback (``ldap_username`` 'hue'; no password), without the environment/script look-ups.
"""
from desktop.lib.conf import Config, coerce_bool

LDAP_USERNAME = Config(key="ldap_username", private=True, default="hue")


def get_auth_username():
    """Backward compatibility"""
    return LDAP_USERNAME.get()


AUTH_USERNAME = Config(key="auth_username", dynamic_default=get_auth_username)

LDAP_PASSWORD = Config(key="ldap_password", private=True, default=None)


def get_auth_password():
    """Get from the deprecated ldap_password"""
    return LDAP_PASSWORD.get()


AUTH_PASSWORD = Config(key="auth_password", private=True, dynamic_default=get_auth_password)

CHERRYPY_SERVER_THREADS = Config(key="cherrypy_server_threads", type=int, default=50)

SSL_CACERTS = Config(key="ssl_cacerts", type=str, default="")

SSL_VALIDATE = Config(key="ssl_validate", type=coerce_bool, default=True)


def default_ssl_cacerts():
    """Path to default Certificate Authority certificates"""
    return SSL_CACERTS.get()


def default_ssl_validate():
    """Choose whether Hue should validate certificates received from the server."""
    return SSL_VALIDATE.get()


ENABLE_XFF_FOR_HIVE_IMPALA = Config(key="enable_xff_for_hive_impala", type=coerce_bool, default=False)

ENABLE_X_CSRF_TOKEN_FOR_HIVE_IMPALA = Config(key="enable_x_csrf_token_for_hive_impala", type=coerce_bool, default=False)

CLUSTER_ID = Config(key="cluster_id", private=False, default="default")

SASL_MAX_BUFFER = Config(key="sasl_max_buffer", default=2 * 1024 * 1024, type=int)

ENABLE_SMART_THRIFT_POOL = Config(key="enable_smart_thrift_pool", type=coerce_bool, default=False)

DEFAULT_USER = Config(key="default_user", type=str, default="hue")

USE_DEFAULT_CONFIGURATION = Config(key="use_default_configuration", default=False, type=coerce_bool)

USE_THRIFT_HTTP_JWT = Config(key="use_thrift_http_jwt", type=coerce_bool, default=False)

ENABLE_CONNECTORS = Config(key="enable_connectors", default=False, type=coerce_bool)


def has_connectors():
    '''When the connector feature is turned on'''
    return ENABLE_CONNECTORS.get()

