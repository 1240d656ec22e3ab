"""Stand-in for the Django models of ``apps/beeswax/src/beeswax/models.py`` the HiveServer2 path uses.

* ``Session`` (same fields as Hue: owner, status_code, secret, guid, server_protocol_version, last_used,
  application, properties; no host column) with ``SessionManager.get_session/get_n_sessions/get_tez_session``,
  ``get_handle()``, ``get_properties()``, ``get_cookies()``/``set_cookies()``;
* ``QueryHistory`` reduced to ``STATE`` and ``SERVER_TYPE`` (an abstract model: nothing here stores query
  history; ``HiveServer2Dbms.execute_statement``, which does, is not reproduced);
* ``HiveServerQueryHistory.STATE_MAP``; ``QueryHandle``/``HiveServerQueryHandle`` (base64 secret/guid);
  ``QUERY_TYPES``.

Differences: the owner is ``settings.AUTH_USER_MODEL`` (Hue: useradmin's User, the same auth table);
``get_tez_session`` does not look at the editor's history documents for busy sessions (no ``Document2``).
"""
import ast
import base64
import json
import logging
from enum import Enum

from django.conf import settings
from django.db import models
from TCLIService.ttypes import THandleIdentifier, TOperationHandle, TOperationState, TOperationType, TSessionHandle

LOG = logging.getLogger()

BEESWAX = 'beeswax'
HIVE_SERVER2 = 'hiveserver2'
QUERY_TYPES = (HQL, IMPALA, RDBMS, SPARK, HPLSQL) = list(range(5))


class QueryHistory(models.Model):
    """Only the constants Hue's dbms reads."""

    class STATE(Enum):
        submitted = 0
        running = 1
        available = 2
        failed = 3
        expired = 4

    SERVER_TYPE = ((BEESWAX, 'Beeswax'), (HIVE_SERVER2, 'Hive Server 2'),
                   ('mysql', 'MySQL'), ('postgresql', 'PostgreSQL'), ('sqlite', 'sqlite'), ('oracle', 'oracle'))

    class Meta(object):
        abstract = True


class HiveServerQueryHistory(object):
    """Only the thrift-state mapping (Hue: a proxy model of QueryHistory)."""

    STATE_MAP = {
        TOperationState.INITIALIZED_STATE: QueryHistory.STATE.submitted,
        TOperationState.RUNNING_STATE: QueryHistory.STATE.running,
        TOperationState.FINISHED_STATE: QueryHistory.STATE.available,
        TOperationState.CANCELED_STATE: QueryHistory.STATE.failed,
        TOperationState.CLOSED_STATE: QueryHistory.STATE.expired,
        TOperationState.ERROR_STATE: QueryHistory.STATE.failed,
        TOperationState.UKNOWN_STATE: QueryHistory.STATE.failed,
        TOperationState.PENDING_STATE: QueryHistory.STATE.submitted,
    }
    node_type = HIVE_SERVER2


class SessionManager(models.Manager):

    def get_session(self, user, application='beeswax', filter_open=True):
        """The user's most recently used open session of ``application``, or None."""
        try:
            q = self.filter(owner=user, application=application).exclude(guid='').exclude(secret='')
            if filter_open:
                q = q.filter(status_code=0)
            return q.latest("last_used")
        except Session.DoesNotExist:
            return None

    def get_n_sessions(self, user, n, application='beeswax', filter_open=True):
        q = self.filter(owner=user, application=application).exclude(guid='').exclude(secret='')
        if filter_open:
            q = q.filter(status_code=0)
        q = q.order_by("-last_used")
        return q[0:n] if n > 0 else q

    def get_tez_session(self, user, application, n_sessions):
        sessions = Session.objects.get_n_sessions(user, n=2 + n_sessions, application=application)
        if sessions:
            return sessions[0]


class Session(models.Model):
    """A HiveServer2 session of a user for an application (e.g. Bob with 'beeswax')."""
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=True)
    status_code = models.PositiveSmallIntegerField()  # ttypes.TStatusCode
    secret = models.TextField(max_length='100')
    guid = models.TextField(max_length='100')
    server_protocol_version = models.SmallIntegerField(default=0)
    last_used = models.DateTimeField(auto_now=True, db_index=True, verbose_name='Last used')
    application = models.CharField(max_length=128, help_text='Application we communicate with.', default='beeswax')
    properties = models.TextField(default='{}')

    objects = SessionManager()

    def get_handle(self):
        secret, guid = self.get_adjusted_guid_secret()
        secret, guid = HiveServerQueryHandle.get_decoded(secret=secret, guid=guid)
        return TSessionHandle(sessionId=THandleIdentifier(secret=secret, guid=guid))

    def get_adjusted_guid_secret(self):
        secret, guid = self.secret, self.guid
        if not isinstance(self.secret, bytes) and not isinstance(self.guid, bytes):
            # Saved bytes come back as their repr ("b'...'"), as in Hue.
            try:
                secret = ast.literal_eval(secret)
                guid = ast.literal_eval(guid)
            except (SyntaxError, ValueError):
                pass
        return secret, guid

    def get_properties(self):
        return json.loads(self.properties) if self.properties else {}

    def get_cookies(self):
        return self.get_properties().get('cookies', {})

    def set_cookies(self, cookies):
        self.set_property('cookies', cookies)

    def set_property(self, key, value):
        props = self.get_properties()
        props[key] = value
        self.properties = json.dumps(props)

    def __str__(self):
        return '%s %s' % (self.owner, self.last_used)


class QueryHandle(object):
    def __init__(self, secret=None, guid=None, operation_type=None, has_result_set=None, modified_row_count=None,
                 log_context=None, session_guid=None, session_id=None):
        self.secret = secret
        self.guid = guid
        self.operation_type = operation_type
        self.has_result_set = has_result_set
        self.modified_row_count = modified_row_count
        self.log_context = log_context

    def is_valid(self):
        return sum([bool(obj) for obj in [self.get()]]) > 0

    def __str__(self):
        return '%s %s' % (self.secret, self.guid)


class HiveServerQueryHandle(QueryHandle):
    """An operation handle with secret and guid stored base64-encoded, plus the session it belongs to."""

    def __init__(self, **kwargs):
        super(HiveServerQueryHandle, self).__init__(**kwargs)
        self.secret, self.guid = self.get_encoded()
        self.session_guid = kwargs.get('session_guid')
        self.session_id = kwargs.get('session_id')

    def get(self):
        return self.secret, self.guid

    def get_rpc_handle(self):
        secret, guid = self.get_decoded(self.secret, self.guid)
        operation = getattr(TOperationType, TOperationType._VALUES_TO_NAMES.get(self.operation_type, 'EXECUTE_STATEMENT'))
        return TOperationHandle(operationId=THandleIdentifier(guid=guid, secret=secret), operationType=operation,
                                hasResultSet=self.has_result_set, modifiedRowCount=self.modified_row_count)

    def get_session(self):
        return Session.objects.filter(id=self.session_id).first() if self.session_id else None

    @classmethod
    def get_decoded(cls, secret, guid):
        return base64.b64decode(secret), base64.b64decode(guid)

    def get_encoded(self):
        return base64.b64encode(self.secret), base64.b64encode(self.guid)
