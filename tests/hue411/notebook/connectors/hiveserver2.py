"""Stand-in for ``desktop/libs/notebook/src/notebook/connectors/hiveserver2.py``: the editor's HiveServer2 API.

Reproduced: ``query_error_handler`` (no functools.wraps, as in Hue) with its HA defect: a StructuredException
mentioning 'Connection refused' / 'Name or service not known' / 'Could not connect to any' calls ``reset_ha()``
and then RETURNS None; 'timed out' -> ``OperationTimeout``; other StructuredExceptions -> ``QueryError``;
``QueryServerException`` -> ``QueryExpired`` (invalid handle) or ``QueryError``; anything else (e.g. HTTP mode's
``RestException``) passes through. ``HS2Api(Api)`` with ``create_session``, ``close_session``, ``execute``,
``check_status``, ``fetch_result``, ``fetch_result_size``, ``cancel``, ``get_log``, ``close_statement``,
``autocomplete``, ``get_sample_data`` (all wrapped), ``_get_db``, ``_get_handle``, ``_get_session``,
``_get_session_by_id``, ``_prepare_hql_query``. ``get_query_server_config`` and ``reset_ha`` are bound by name at
import, ``dbms`` as a module, exactly as in Hue.

Not reproduced: Impala, connectors (``has_connectors()`` is False), default configurations
(``use_default_configuration`` off), job parsing, exports, explain; ``fetch_result_size`` answers for Hive only
what needs no Job Browser (Hue reads MapReduce counters there). ``is_admin(user)`` is ``user.is_superuser``.

Hue 4.11.0 differs from master (we follow master): its ``query_error_handler`` does not map 'Invalid or unknown
query handle' to ``QueryExpired``.
"""
import binascii
import json
import logging
import re

from django.utils.encoding import force_str as force_unicode

from beeswax.api import _autocomplete, _get_sample_data
from beeswax.common import is_compute
from beeswax.conf import MAX_NUMBER_OF_SESSIONS, has_multiple_sessions, has_session_pool
from beeswax.design import hql_query
from beeswax.models import QUERY_TYPES, HiveServerQueryHandle, HiveServerQueryHistory, QueryHistory, Session
from beeswax.server import dbms
from beeswax.server.dbms import QueryServerException, get_query_server_config, reset_ha
from desktop.lib.exceptions import StructuredException
from desktop.lib.thrift_util import unpack_guid
from notebook.connectors.base import Api, OperationNotSupported, OperationTimeout, QueryError, QueryExpired

LOG = logging.getLogger()

DEFAULT_HIVE_ENGINE = 'mr'


def is_admin(user):
    return user.is_superuser


def query_error_handler(func):
    def decorator(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StructuredException as e:
            message = force_unicode(str(e))
            if 'timed out' in message:
                raise OperationTimeout(e)
            elif 'Connection refused' in message or 'Name or service not known' in message or \
                    'Could not connect to any' in message:
                reset_ha()
            else:
                raise QueryError(message)
        except QueryServerException as e:
            message = force_unicode(str(e))
            if 'Invalid query handle' in message or 'Invalid OperationHandle' in message or \
                    'Invalid or unknown query handle' in message:
                raise QueryExpired(e)
            else:
                raise QueryError(message)
    return decorator


class HS2Api(Api):

    @staticmethod
    def get_properties(lang='hive'):
        return []

    @query_error_handler
    def create_session(self, lang='hive', properties=None):
        application = 'beeswax' if lang == 'hive' or lang == 'llap' else lang

        uses_session_pool = has_session_pool()
        uses_multiple_sessions = has_multiple_sessions()
        if lang == 'impala':
            uses_session_pool = False
            uses_multiple_sessions = False

        try:
            if uses_session_pool:
                session = Session.objects.get_tez_session(self.user, application, MAX_NUMBER_OF_SESSIONS.get())
            elif not uses_multiple_sessions:
                session = Session.objects.get_session(self.user, application=application)
            else:
                session = None
        except Exception as e:
            if 'Connection refused' in str(e) or 'Name or service not known' in str(e):
                LOG.exception('Connection being refused or service is not available in either session or in multiple '
                              'sessions - HA failover')
                reset_ha()

        reuse_session = session is not None
        if not reuse_session:
            db = dbms.get(self.user, query_server=get_query_server_config(name=lang, connector=self.interpreter))
            try:
                session = db.open_session(self.user)
            except Exception as e:
                # As in Hue: EVERY error is swallowed here (session stays None, the reply has 'id': None); only
                # 'Connection refused' texts reset HA, and a dead socket server says "Could not connect to any of".
                if 'Connection refused' in str(e) or 'Name or service not known' in str(e):
                    LOG.exception('Connection being refused or service is not available in reuse session - HA failover')
                    reset_ha()

        response = {
            'type': lang,
            'id': session.id if session else None
        }
        if not properties:
            properties = self.get_properties(lang)
        response['properties'] = properties
        response['configuration'] = json.loads(session.properties) if session else None
        response['reuse_session'] = reuse_session
        response['session_id'] = ''
        try:
            decoded_guid = session.get_handle().sessionId.guid
            response['session_id'] = unpack_guid(decoded_guid)
        except Exception as e:
            LOG.warning('Failed to decode session handle: %s' % e)
        return response

    @query_error_handler
    def close_session(self, session):
        app_name = session.get('type')
        session_id = session.get('id')
        query_server = get_query_server_config(name=app_name)

        response = {'status': -1, 'message': ''}
        session_record = None
        try:
            filters = {'id': session_id, 'application': query_server['server_name']}
            if not is_admin(self.user):
                filters['owner'] = self.user
            session_record = Session.objects.get(**filters)
        except Session.DoesNotExist:
            response['message'] = 'Session does not exist or you do not have permissions to close the session.'

        if session_record:
            session_record = dbms.get(self.user, query_server).close_session(session_record)
            response['status'] = 0
            response['message'] = 'Session successfully closed.'
            response['session'] = {'id': session_id, 'application': session_record.application,
                                   'status': session_record.status_code}
        return response

    @query_error_handler
    def execute(self, notebook, snippet):
        db = self._get_db(snippet, interpreter=self.interpreter)

        statement = self._get_current_statement(notebook, snippet)
        compute = snippet.get('compute', {})
        session_type = compute['name'] if is_compute(snippet) and compute.get('name') else snippet['type']
        session = self._get_session(notebook, session_type)

        query = self._prepare_hql_query(snippet, statement['statement'], session)
        _session = self._get_session_by_id(notebook, session_type)

        try:
            if statement.get('statement_id') == 0:
                if query.database and not statement['statement'].lower().startswith('set'):
                    result = db.use(query.database, session=_session)
                    if result.session:
                        _session = result.session
            handle = db.client.query(query, session=_session)
        except QueryServerException as ex:
            raise QueryError(ex.message, handle=statement)

        server_id, server_guid = handle.get()
        response = {
            'secret': server_id.decode('utf-8'),
            'guid': server_guid.decode('utf-8'),
            'operation_type': handle.operation_type,
            'has_result_set': handle.has_result_set,
            'modified_row_count': handle.modified_row_count,
            'log_context': handle.log_context,
            'session_guid': handle.session_guid,
            'session_id': handle.session_id,
            'session_type': session_type
        }
        response.update(statement)
        return response

    @query_error_handler
    def check_status(self, notebook, snippet):
        response = {}
        db = self._get_db(snippet, interpreter=self.interpreter)

        handle = self._get_handle(snippet)
        operation = db.get_operation_status(handle)
        status = HiveServerQueryHistory.STATE_MAP[operation.operationState]

        if status.value in (QueryHistory.STATE.failed.value, QueryHistory.STATE.expired.value):
            if operation.errorMessage and 'transition from CANCELED to ERROR' in operation.errorMessage:
                raise QueryExpired()
            elif operation.errorMessage and re.search(
                    'Cannot validate serde: org.apache.hive.hcatalog.data.JsonSerDe', str(operation.errorMessage)):
                raise QueryError(message=operation.errorMessage + '. Is hive-hcatalog-core.jar registered?')
            else:
                raise QueryError(operation.errorMessage)

        response['status'] = 'running' if status.value in (
            QueryHistory.STATE.running.value, QueryHistory.STATE.submitted.value) else 'available'
        if operation.hasResultSet is not None:
            response['has_result_set'] = operation.hasResultSet
        return response

    @query_error_handler
    def fetch_result(self, notebook, snippet, rows, start_over):
        db = self._get_db(snippet, interpreter=self.interpreter)

        handle = self._get_handle(snippet)
        try:
            results = db.fetch(handle, start_over=start_over, rows=rows)
        except QueryServerException as ex:
            if re.search('(client inactivity)|(Invalid query handle)|(Invalid or unknown query handle)', str(ex)) \
                    and ex.message:
                raise QueryExpired(message=ex.message)
            else:
                raise QueryError(ex)

        return {
            'has_more': results.has_more,
            'data': results.rows(),
            'meta': [{
                'name': column.name,
                'type': column.type,
                'comment': column.comment
            } for column in results.data_table.cols()],
            'type': 'table'
        }

    @query_error_handler
    def fetch_result_size(self, notebook, snippet):
        resp = {'rows': None, 'size': None, 'message': ''}
        if snippet.get('status') != 'available':
            raise QueryError('Result status is not available')
        snippet_dialect = snippet['type']
        if snippet_dialect not in ('hive', 'impala'):
            raise OperationNotSupported('Cannot fetch result metadata for snippet type: %s' % snippet_dialect)
        if snippet_dialect == 'impala':
            raise NotImplementedError("Impala result sizes are not reproduced by the test stand-in")
        # Hue reads the counters of the query's jobs from the Job Browser; without one there are no jobs.
        self.get_log(notebook, snippet, startFrom=0)
        resp['message'] = 'Hive query did not execute any jobs.'
        return resp

    @query_error_handler
    def cancel(self, notebook, snippet):
        db = self._get_db(snippet, interpreter=self.interpreter)
        handle = self._get_handle(snippet)
        db.cancel_operation(handle)
        return {'status': 0}

    @query_error_handler
    def get_log(self, notebook, snippet, startFrom=None, size=None):
        db = self._get_db(snippet, interpreter=self.interpreter)
        handle = self._get_handle(snippet)
        return db.get_log(handle, start_over=startFrom == 0)

    @query_error_handler
    def close_statement(self, notebook, snippet):
        db = self._get_db(snippet, interpreter=self.interpreter)
        try:
            handle = self._get_handle(snippet)
            db.close_operation(handle)
        except Exception as e:
            if 'no valid handle' in str(e):
                return {'status': -1}  # skipped
            raise e
        return {'status': 0}

    @query_error_handler
    def autocomplete(self, snippet, database=None, table=None, column=None, nested=None, operation=None):
        db = self._get_db(snippet, interpreter=self.interpreter)
        query = snippet.get('query') if snippet.get('query') else None
        resp = _autocomplete(db, database, table, column, nested, query=query, cluster=self.interpreter,
                             operation=operation)
        if resp.get('error'):
            resp['message'] = resp.pop('error')
            if 'Read timed out' in resp['message']:
                raise QueryExpired(resp['message'])
        return resp

    @query_error_handler
    def get_sample_data(self, snippet, database=None, table=None, column=None, nested=None, is_async=False,
                        operation=None):
        try:
            db = self._get_db(snippet, is_async=is_async, interpreter=self.interpreter)
            return _get_sample_data(db, database, table, column, nested, is_async, operation=operation,
                                    cluster=self.interpreter)
        except QueryServerException as ex:
            raise QueryError(ex.message)

    def _get_session(self, notebook, type='hive'):
        return next((session for session in notebook['sessions'] if session['type'] == type), None)

    def _get_session_by_id(self, notebook, type='hive'):
        session = self._get_session(notebook, type)
        if session:
            session_id = session.get('id')
            if session_id:
                filters = {'id': session_id, 'application': 'beeswax' if type == 'hive' or type == 'llap' else type}
                if not is_admin(self.user):
                    filters['owner'] = self.user
                return Session.objects.filter(**filters).first()

    def _prepare_hql_query(self, snippet, statement, session):
        settings = snippet['properties'].get('settings', None)
        file_resources = snippet['properties'].get('files', None)
        functions = snippet['properties'].get('functions', None)
        properties = session['properties'] if session else []

        if not settings:
            settings = next((prop['value'] for prop in properties if prop['key'] == 'settings'), None)
        if not file_resources:
            file_resources = next((prop['value'] for prop in properties if prop['key'] == 'files'), None)
        if not functions:
            functions = next((prop['value'] for prop in properties if prop['key'] == 'functions'), None)

        database = snippet.get('database') or 'default'
        query_type = QUERY_TYPES[4] if 'dialect' in snippet and snippet['dialect'] == 'hplsql' else QUERY_TYPES[0]
        return hql_query(statement, query_type=query_type, settings=settings, file_resources=file_resources,
                         functions=functions, database=database)

    def _get_handle(self, snippet):
        try:
            handle = snippet['result']['handle'].copy()
            handle['secret'], handle['guid'] = HiveServerQueryHandle.get_decoded(handle['secret'], handle['guid'])
        except KeyError:
            raise Exception('Operation has no valid handle attached')
        except binascii.Error:
            LOG.warning('Handle already base 64 decoded')

        for key in list(handle.keys()):
            if key not in ('log_context', 'secret', 'has_result_set', 'operation_type', 'modified_row_count', 'guid',
                           'session_id', 'session_guid'):
                handle.pop(key)
        return HiveServerQueryHandle(**handle)

    def _get_db(self, snippet, is_async=False, interpreter=None):
        if interpreter and interpreter.get('dialect'):
            dialect = interpreter['dialect']
        else:
            dialect = snippet['type']  # Backward compatibility without connectors

        if not is_async and dialect == 'hive':
            name = 'beeswax'
        elif dialect == 'hive':
            name = 'hive'
        elif dialect == 'llap':
            name = 'llap'
        elif dialect == 'impala':
            name = 'impala'
        elif dialect == 'hplsql':
            name = 'hplsql'
        else:
            name = 'sparksql'

        # Note: name is not used if interpreter is present
        return dbms.get(self.user, query_server=get_query_server_config(name=name, connector=interpreter))
