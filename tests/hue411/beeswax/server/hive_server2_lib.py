"""Stand-in for ``apps/beeswax/src/beeswax/server/hive_server2_lib.py``: Hue's TCLIService client.

Reproduced: ``HiveServerClient(query_server, user)`` (security from hive-site, a pooled Thrift client from
``desktop.lib.thrift_util.get_client`` with Hue's arguments, ``open_session`` storing a ``Session`` row and
reading 'SET -v' through the new session, ``call``/``call_return_result_and_session`` with Hue's session
reuse, invalid-session retry and status checks, execute/fetch/log/status/cancel/close calls, ``get_databases``),
the columnar result decoding (``HiveServerTRowSet2``, ``HiveServerTColumnValue2``, ``HiveServerDataTable``,
``HiveServerTColumnDesc``), ``ResultCompatible`` and ``HiveServerClientCompatible`` (the Beeswax-style API dbms
uses). ``reset_ha`` is imported by name as in Hue, and ``open_session`` calls it where Hue does: inside a ``try``
around building the request, which can never see a connection error.

Not reproduced: Impala specifics, cookies (HTTP session stickiness: always empty here), X-Forwarded-For/CSRF
headers (off by default in Hue), table/partition/function metadata, the pre-v7 row format.
"""
import json
import logging
import re

from TCLIService import TCLIService
from TCLIService.ttypes import (
    TCancelOperationReq,
    TCloseOperationReq,
    TCloseSessionReq,
    TExecuteStatementReq,
    TFetchOrientation,
    TFetchResultsReq,
    TFetchResultsResp,
    TGetLogReq,
    TGetOperationStatusReq,
    TGetResultSetMetadataReq,
    TGetSchemasReq,
    TOpenSessionReq,
    TRowSet,
    TStatusCode,
    TTypeId,
)

from beeswax import conf as beeswax_conf, hive_site
from beeswax.conf import CONFIG_WHITELIST, MAX_CATALOG_SQL_ENTRIES
from beeswax.hive_site import hiveserver2_use_ssl
from beeswax.models import HiveServerQueryHandle, HiveServerQueryHistory, Session
from beeswax.server.dbms import DataTable, InvalidSessionQueryServerException, QueryServerException, reset_ha
from desktop.conf import DEFAULT_USER, USE_THRIFT_HTTP_JWT
from desktop.lib import thrift_util

LOG = logging.getLogger()
DEFAULT_USER = DEFAULT_USER.get()


class HiveServerTRowSet2(object):
    """A columnar TRowSet; iterating yields rows, ``cols(names)`` a list of dicts."""

    def __init__(self, row_set, schema):
        self.row_set = row_set
        self.rows = row_set.rows
        self.schema = schema
        self.startRowOffset = row_set.startRowOffset

    def is_empty(self):
        return not self.row_set.columns or not HiveServerTColumnValue2(self.row_set.columns[0]).val

    def cols(self, col_names):
        row = HiveServerTRow2(self.row_set.columns, self.schema)
        cols = [row.full_col(name) for name in col_names]
        return [dict(zip(col_names, values)) for values in zip(*cols)]

    def __iter__(self):
        return self

    def __next__(self):
        if self.row_set.columns:
            return HiveServerTRow2(self.row_set.columns, self.schema)
        raise StopIteration


HiveServerTRowSet = HiveServerTRowSet2  # thrift_version >= 7 (Hue's default 11)


class HiveServerTRow2(object):
    def __init__(self, cols, schema):
        self.cols = cols
        self.schema = schema

    def full_col(self, colName):
        return HiveServerTColumnValue2(self.cols[self._get_col_position(colName)]).val

    def _get_col_position(self, column_name):
        return [i for i, col in enumerate(self.schema.columns) if col.columnName == column_name][0]

    def fields(self):
        try:
            return [HiveServerTColumnValue2(field).val.pop(0) for field in self.cols]
        except IndexError:
            raise StopIteration


class HiveServerTColumnValue2(object):
    """The values of one TColumn, NULLs (from the bitmap) as None; consumed by ``fields()`` like Hue's."""

    def __init__(self, tcolumn_value):
        self.column_value = tcolumn_value

    @property
    def val(self):
        cv = self.column_value
        if cv.stringVal:
            return self._get_val(cv.stringVal)
        for column in (cv.i16Val, cv.i32Val, cv.i64Val, cv.doubleVal, cv.boolVal, cv.byteVal, cv.binaryVal):
            if column is not None:
                return self._get_val(column)

    @classmethod
    def _get_val(cls, column):
        column.values = cls.set_nulls(column.values, column.nulls)
        column.nulls = ''  # Marked once only
        return column.values

    @classmethod
    def set_nulls(cls, values, nulls):
        mask = bytearray(nulls if isinstance(nulls, bytes) else (nulls or '').encode('latin-1'))
        if not any(mask):
            return values
        marked = [value if not (mask[i // 8] >> (i % 8)) & 1 else None
                  for i, value in enumerate(values) if i // 8 < len(mask)]
        return marked + list(values[len(marked):])


class HiveServerDataTable(DataTable):
    def __init__(self, results, schema, operation_handle, query_server, session=None):
        self.schema = schema and schema.schema
        self.row_set = HiveServerTRowSet(results.results, schema)
        self.operation_handle = operation_handle
        if query_server.get('dialect') == 'impala':
            self.has_more = results.hasMoreRows
        else:
            self.has_more = not self.row_set.is_empty()  # Hue: hasMoreRows is always True in HS2
        self.startRowOffset = self.row_set.startRowOffset
        self.session = session

    @property
    def ready(self):
        return True

    def cols(self):
        return [HiveServerTColumnDesc(col) for col in self.schema.columns] if self.schema else []

    def rows(self):
        for row in self.row_set:
            try:
                yield row.fields()
            except StopIteration:
                return


class HiveServerTColumnDesc(object):
    def __init__(self, column):
        self.column = column

    @property
    def name(self):
        return self.column.columnName

    @property
    def comment(self):
        return self.column.comment

    @property
    def type(self):
        return self.get_type(self.column.typeDesc)

    @classmethod
    def get_type(cls, typeDesc):
        for ttype in typeDesc.types:
            if ttype.primitiveEntry is not None:
                return TTypeId._VALUES_TO_NAMES[ttype.primitiveEntry.type]
            for entry in (ttype.mapEntry, ttype.unionEntry, ttype.arrayEntry, ttype.structEntry,
                          ttype.userDefinedTypeEntry):
                if entry is not None:
                    return entry


class HiveServerClient(object):
    """One user's TCLIService client to the query server described by ``query_server``."""

    HS2_MECHANISMS = {
        'KERBEROS': 'GSSAPI',
        'NONE': 'PLAIN',
        'NOSASL': 'NOSASL',
        'LDAP': 'PLAIN',
        'PAM': 'PLAIN',
        'CUSTOM': 'PLAIN',
    }

    def __init__(self, query_server, user):
        self.query_server = query_server
        self.user = user
        self.coordinator_host = ''
        self.has_close_sessions = query_server.get('close_sessions', False)
        self.has_session_pool = query_server.get('has_session_pool', False)
        self.max_number_of_sessions = query_server.get('max_number_of_sessions', 1)

        use_sasl, mechanism, kerberos_principal_short_name, impersonation_enabled, auth_username, auth_password = \
            self.get_security()
        self.use_sasl = use_sasl
        self.kerberos_principal_short_name = kerberos_principal_short_name
        self.impersonation_enabled = impersonation_enabled

        if self.query_server.get('dialect') == 'impala':
            raise NotImplementedError("Impala clients are not reproduced by the test stand-in")
        ssl_enabled = hiveserver2_use_ssl()
        ca_certs = beeswax_conf.SSL.CACERTS.get()
        keyfile = beeswax_conf.SSL.KEY.get()
        certfile = beeswax_conf.SSL.CERT.get()
        validate = beeswax_conf.SSL.VALIDATE.get()
        timeout = beeswax_conf.SERVER_CONN_TIMEOUT.get()

        if auth_username and not USE_THRIFT_HTTP_JWT.get():
            username, password = auth_username, auth_password
        else:
            username, password = user.username, None

        self._client = thrift_util.get_client(
            TCLIService.Client,
            query_server['server_host'],
            query_server['server_port'],
            service_name=query_server['server_name'],
            kerberos_principal=kerberos_principal_short_name,
            use_sasl=use_sasl,
            mechanism=mechanism,
            username=username,
            password=password,
            timeout_seconds=timeout,
            use_ssl=ssl_enabled,
            ca_certs=ca_certs,
            keyfile=keyfile,
            certfile=certfile,
            validate=validate,
            transport_mode=query_server.get('transport_mode', 'socket'),
            http_url=query_server.get('http_url', ''),
            coordinator_host=self.coordinator_host
        )

    def get_security(self):
        principal = self.query_server['principal']
        auth_username = self.query_server['auth_username']
        auth_password = self.query_server['auth_password']
        kerberos_principal_short_name = principal.split('/', 1)[0] if principal else None
        use_sasl = self.query_server['use_sasl']

        hive_mechanism = hive_site.get_hiveserver2_authentication()
        if hive_mechanism not in HiveServerClient.HS2_MECHANISMS:
            raise Exception('%s server authentication not supported. Valid are %s.' % (
                hive_mechanism, list(HiveServerClient.HS2_MECHANISMS.keys())))
        mechanism = HiveServerClient.HS2_MECHANISMS[hive_mechanism]
        impersonation_enabled = hive_site.hiveserver2_impersonation_enabled()
        return use_sasl, mechanism, kerberos_principal_short_name, impersonation_enabled, auth_username, auth_password

    def open_session(self, user):
        """OpenSession on the server, store it as a ``Session`` row (with 'SET -v' whitelisted settings)."""
        self.user = user
        kwargs = {
            'client_protocol': beeswax_conf.THRIFT_VERSION.get() - 1,
            'username': user.username,
            'configuration': {},
        }
        if self.impersonation_enabled:
            kwargs.update({'username': DEFAULT_USER})
        if self.query_server['server_name'] == 'beeswax' or \
                (self.query_server.get('is_compute') and self.query_server.get('dialect') == 'hive'):
            kwargs['configuration'].update({'hive.server2.proxy.user': user.username})
        if self.query_server['server_name'] == 'hplsql' or self.query_server['dialect'] == 'hplsql':
            kwargs['configuration'].update({'hive.server2.proxy.user': user.username, 'set:hivevar:mode': 'HPLSQL'})
        if self.query_server['server_name'] in ('llap', 'sparksql'):
            kwargs['configuration'].update({'hive.server2.proxy.user': user.username})

        LOG.info('Opening %s thrift session for user %s' % (self.query_server['server_name'], user.username))
        try:
            req = TOpenSessionReq(**kwargs)
        except Exception as e:  # Hue's HA hook: building a request never connects, so this never fires
            if 'Connection refused' in str(e):
                reset_ha()
        res = self._client.OpenSession(req)
        self.coordinator_host = self._client.get_coordinator_host()
        if self.coordinator_host:
            res.configuration['coordinator_host'] = self.coordinator_host

        if res.status is not None and res.status.statusCode not in (TStatusCode.SUCCESS_STATUS,):
            message = res.status.errorMessage if getattr(res.status, 'errorMessage', None) else ''
            raise QueryServerException(Exception('Bad status for request %s:\n%s' % (req, res)), message=message)

        sessionId = res.sessionHandle.sessionId
        if res.configuration is None:
            res.configuration = {}
        res.configuration['cookies'] = {}
        encoded_status, encoded_guid = HiveServerQueryHandle(secret=sessionId.secret, guid=sessionId.guid).get()
        session = Session.objects.create(
            owner=user,
            application=self.query_server['server_name'],
            status_code=res.status.statusCode,
            secret=encoded_status,
            guid=encoded_guid,
            server_protocol_version=res.serverProtocolVersion,
            properties=json.dumps(res.configuration)
        )

        properties = session.get_properties() or {}
        if not properties or self.query_server['server_name'] == 'beeswax':
            properties.update(self.get_configuration(session=session))
            session.properties = json.dumps(properties)
            session.save()
        return session

    def call(self, fn, req, status=TStatusCode.SUCCESS_STATUS, session=None):
        return self.call_return_result_and_session(fn, req, status, session=session)

    def call_return_result_and_session(self, fn, req, status=TStatusCode.SUCCESS_STATUS, session=None):
        """Run ``fn(req)`` in ``session`` (or a reused/new one); a session the server calls invalid is replaced."""
        if not hasattr(req, 'sessionHandle'):
            return self._call_return_result_and_session(fn, req, status=TStatusCode.SUCCESS_STATUS, session=session)

        if session:
            if session.status_code not in (TStatusCode.SUCCESS_STATUS, TStatusCode.SUCCESS_WITH_INFO_STATUS,
                                           TStatusCode.STILL_EXECUTING_STATUS):
                LOG.info('Retrying with a new session for %s because status is %s' % (self.user, session.status_code))
                session = None
            else:
                try:
                    return self._call_return_result_and_session(fn, req, status=status, session=session)
                except InvalidSessionQueryServerException as e:
                    LOG.info('Retrying with a new session because for %s of %s' % (self.user, e))

        if self.has_session_pool:
            session = Session.objects.get_tez_session(self.user, self.query_server['server_name'],
                                                      self.max_number_of_sessions)
        elif self.max_number_of_sessions == 1:
            session = Session.objects.get_session(self.user, self.query_server['server_name'])

        if session:
            try:
                return self._call_return_result_and_session(fn, req, status=status, session=session)
            except InvalidSessionQueryServerException as e:
                LOG.info('Retrying with a new session because for %s of %s' % (self.user, e))

        if self.has_close_sessions and self.max_number_of_sessions > 1 and Session.objects.get_n_sessions(
                self.user, n=self.max_number_of_sessions, application=self.query_server['server_name']
        ).count() >= self.max_number_of_sessions:
            raise Exception('Too many open sessions. Stop a running query before starting a new one')

        session = self.open_session(self.user)
        return self._call_return_result_and_session(fn, req, status=status, session=session)

    def _call_return_result_and_session(self, fn, req, status=TStatusCode.SUCCESS_STATUS, session=None):
        if hasattr(req, 'sessionHandle') and session and not isinstance(req, TCloseOperationReq):
            req.sessionHandle = session.get_handle()

        res = fn(req)

        if session:
            session.set_cookies({})
            session.save()

        if res.status.statusCode == TStatusCode.ERROR_STATUS and re.search(
                'Invalid SessionHandle|Invalid session|Client session expired|Could not connect',
                res.status.errorMessage or '', re.I):
            if session:
                session.status_code = TStatusCode.INVALID_HANDLE_STATUS
                session.save()
            raise InvalidSessionQueryServerException(Exception('Invalid Session %s:\n%s' % (req, res)))

        if status is not None and res.status.statusCode not in (
                TStatusCode.SUCCESS_STATUS, TStatusCode.SUCCESS_WITH_INFO_STATUS, TStatusCode.STILL_EXECUTING_STATUS):
            if getattr(res.status, 'errorMessage', None):
                message = res.status.errorMessage
            else:
                message = 'Bad status for request %s:\n%s' % (req, res)
            raise QueryServerException(Exception(message), message=message)
        return (res, session)

    def close_session(self, session):
        req = TCloseSessionReq(sessionHandle=session.get_handle())
        try:
            res = self._client.CloseSession(req)
            session.status_code = TStatusCode.INVALID_HANDLE_STATUS
            session.save()
            return res
        except Exception as e:
            session.status_code = TStatusCode.ERROR_STATUS
            session.save()
            raise e

    def get_databases(self, schemaName=None):
        req = TGetSchemasReq()
        if schemaName is not None:
            req.schemaName = schemaName
        (res, session) = self.call(self._client.GetSchemas, req)
        results, schema = self.fetch_result(res.operationHandle, orientation=TFetchOrientation.FETCH_NEXT,
                                            max_rows=MAX_CATALOG_SQL_ENTRIES.get(), session=session)
        self._close(res.operationHandle, session)
        return HiveServerTRowSet(results.results, schema.schema).cols(('TABLE_SCHEM',))

    def execute_query(self, query, max_rows=1000, session=None):
        configuration = self._get_query_configuration(query)
        return self.execute_query_statement(statement=query.query['query'], max_rows=max_rows,
                                            configuration=configuration, session=session)

    def execute_query_statement(self, statement, max_rows=1000, configuration=None,
                                orientation=TFetchOrientation.FETCH_FIRST, close_operation=False, session=None):
        results, schema, operation_handle, session = self.execute_statement(
            statement=statement, max_rows=max_rows, configuration=configuration or {}, orientation=orientation,
            session=session)
        if close_operation:
            self.close_operation(operation_handle, session=session)
        return HiveServerDataTable(results, schema, operation_handle, self.query_server, session=session)

    def execute_async_query(self, query, statement=0, session=None):
        if statement == 0 and self.query_server['server_name'] == 'beeswax':
            for resource in query.get_configuration_statements():
                self.execute_statement(resource.strip(), session=session)
        configuration = {}
        configuration.update(self._get_query_configuration(query))
        query_statement = query.get_query_statement(statement)
        return self.execute_async_statement(statement=query_statement, conf_overlay=configuration, session=session)

    def execute_statement(self, statement, max_rows=1000, configuration=None, orientation=TFetchOrientation.FETCH_NEXT,
                          session=None):
        req = TExecuteStatementReq(statement=statement, confOverlay=configuration or {})
        (res, session) = self.call(self._client.ExecuteStatement, req, session=session)
        results, schema = self.fetch_result(res.operationHandle, max_rows=max_rows, orientation=orientation,
                                            session=session)
        return results, schema, res.operationHandle, session

    def execute_async_statement(self, statement=None, thrift_function=None, thrift_request=None, conf_overlay=None,
                                session=None):
        if thrift_function is None:
            thrift_function = self._client.ExecuteStatement
        if thrift_request is None:
            thrift_request = TExecuteStatementReq(statement=statement, confOverlay=conf_overlay or {}, runAsync=True)
        (res, session) = self.call_return_result_and_session(thrift_function, thrift_request, session=session)
        return HiveServerQueryHandle(
            secret=res.operationHandle.operationId.secret,
            guid=res.operationHandle.operationId.guid,
            operation_type=res.operationHandle.operationType,
            has_result_set=res.operationHandle.hasResultSet,
            modified_row_count=res.operationHandle.modifiedRowCount,
            session_guid=thrift_util.unpack_guid(session.get_handle().sessionId.guid),
            session_id=session.id
        )

    def fetch_data(self, operation_handle, orientation=TFetchOrientation.FETCH_NEXT, max_rows=1000, session=None):
        results, schema = self.fetch_result(operation_handle, orientation, max_rows, session=session)
        return HiveServerDataTable(results, schema, operation_handle, self.query_server)

    def cancel_operation(self, operation_handle, session=None):
        req = TCancelOperationReq(operationHandle=operation_handle)
        (res, session) = self.call(self._client.CancelOperation, req, session=session)
        return res

    def close_operation(self, operation_handle, session=None):
        req = TCloseOperationReq(operationHandle=operation_handle)
        (res, session) = self.call(self._client.CloseOperation, req, session=session)
        return res

    def fetch_result(self, operation_handle, orientation=TFetchOrientation.FETCH_FIRST, max_rows=1000, session=None):
        if operation_handle.hasResultSet:
            fetch_req = TFetchResultsReq(operationHandle=operation_handle, orientation=orientation, maxRows=max_rows)
            (res, session) = self.call(self._client.FetchResults, fetch_req, session=session)
        else:
            res = TFetchResultsResp(results=TRowSet(startRowOffset=0, rows=[], columns=[]))

        if operation_handle.hasResultSet:  # Hue: "and TFetchOrientation.FETCH_FIRST", always true
            meta_req = TGetResultSetMetadataReq(operationHandle=operation_handle)
            (schema, session) = self.call(self._client.GetResultSetMetadata, meta_req, session=session)
        else:
            schema = None
        return res, schema

    def fetch_log(self, operation_handle, orientation=TFetchOrientation.FETCH_NEXT, max_rows=1000, session=None):
        req = TFetchResultsReq(operationHandle=operation_handle, orientation=orientation, maxRows=max_rows, fetchType=1)
        (res, session) = self.call(self._client.FetchResults, req, session=session)
        lines = res.results.columns[0].stringVal.values
        return '\n'.join(lines)

    def get_operation_status(self, operation_handle, session=None):
        req = TGetOperationStatusReq(operationHandle=operation_handle)
        (res, session) = self.call(self._client.GetOperationStatus, req, session=session)
        return res

    def get_log(self, operation_handle, session=None):
        try:
            req = TGetLogReq(operationHandle=operation_handle)
            (res, session) = self.call(self._client.GetLog, req, session=session)
            return res.log
        except Exception as e:
            if 'Invalid query handle' in str(e) or 'Invalid or unknown query handle' in str(e):
                message = 'Invalid or unknown query handle'
                LOG.error('%s: %s' % (message, e))
            else:
                message = 'Error when fetching the logs of the operation.'
                LOG.exception(message)
            return message

    def _close(self, operation_handle, session):
        if self.has_close_sessions:  # Closing the session closes its operations
            self.close_session(session)
        else:
            self.close_operation(operation_handle, session=session)

    def get_configuration(self, session=None):
        """The whitelisted Hive settings of the session ('SET -v')."""
        results = self.execute_query_statement('SET -v', orientation=TFetchOrientation.FETCH_FIRST, max_rows=-1,
                                               close_operation=True, session=session)
        config_whitelist = [config.lower() for config in CONFIG_WHITELIST.get()]
        properties = [(row[0].split('=')[0], row[0].split('=')[1]) for row in results.rows() if '=' in row[0]]
        return dict((prop, value) for prop, value in properties if prop.lower() in config_whitelist)

    def _get_query_configuration(self, query):
        return dict([(setting['key'], setting['value']) for setting in query.settings])


class ResultCompatible(object):

    def __init__(self, data_table):
        self.data_table = data_table
        self.rows = data_table.rows
        self.has_more = data_table.has_more
        self.start_row = data_table.startRowOffset
        self.ready = True

    @property
    def columns(self):
        return self.cols()

    def cols(self):
        return [col.name for col in self.data_table.cols()]

    def full_cols(self):
        return [{'name': col.name, 'type': col.type, 'comment': col.comment} for col in self.data_table.cols()]


class HiveServerClientCompatible(object):
    """Same API as Beeswax"""

    def __init__(self, client):
        self._client = client
        self.user = client.user
        self.query_server = client.query_server

    def query(self, query, statement=0, session=None):
        return self._client.execute_async_query(query, statement, session=session)

    def get_state(self, handle):
        res = self._client.get_operation_status(handle.get_rpc_handle(), session=handle.get_session())
        return HiveServerQueryHistory.STATE_MAP[res.operationState]

    def get_operation_status(self, handle):
        return self._client.get_operation_status(handle.get_rpc_handle(), session=handle.get_session())

    def use(self, query, session=None):
        data = self._client.execute_query(query, session=session)
        self._client.close_operation(data.operation_handle, session=session)
        return data

    def fetch(self, handle, start_over=False, max_rows=None):
        if max_rows is None:
            max_rows = 1000
        orientation = TFetchOrientation.FETCH_FIRST if start_over else TFetchOrientation.FETCH_NEXT
        data_table = self._client.fetch_data(handle.get_rpc_handle(), orientation=orientation, max_rows=max_rows,
                                             session=handle.get_session())
        return ResultCompatible(data_table)

    def cancel_operation(self, handle):
        return self._client.cancel_operation(handle.get_rpc_handle(), session=handle.get_session())

    def close(self, handle):
        return self.close_operation(handle)

    def close_operation(self, handle):
        return self._client.close_operation(handle.get_rpc_handle(), session=handle.get_session())

    def close_session(self, session):
        return self._client.close_session(session)

    def get_log(self, handle, start_over=True):
        operationHandle = handle.get_rpc_handle()
        session = handle.get_session()
        if beeswax_conf.USE_GET_LOG_API.get():
            return self._client.get_log(operationHandle, session=session)
        orientation = TFetchOrientation.FETCH_FIRST if start_over else TFetchOrientation.FETCH_NEXT
        return self._client.fetch_log(operationHandle, orientation=orientation, max_rows=-1, session=session)

    def get_databases(self, schemaName=None):
        return [table['TABLE_SCHEM'] for table in self._client.get_databases(schemaName)]

    def get_default_configuration(self, *args, **kwargs):
        return []

    def open_session(self, user):
        return self._client.open_session(user)

    def get_configuration(self):
        return self._client.get_configuration()
