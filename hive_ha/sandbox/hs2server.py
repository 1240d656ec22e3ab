"""A small HiveServer2-protocol Thrift server for tests, the demo and a sandbox.

It answers TCLIService (the generated code PyHive ships) with a tiny SQL dialect, over the three wire formats
HiveServer2 speaks, and has fault-injection knobs for fail-over tests:

    with HS2Server("hs2-a", auth="NONE") as hs2:          # binary, SASL PLAIN, any password
        conn = hive.connect(hs2.host, hs2.port, auth="NONE", username="bob")
        conn.cursor().execute("select current_server()")   # -> [("hs2-a",)]
        hs2.drop_next("ExecuteStatement")                   # next call: connection closed mid-call
        hs2.refuse(); hs2.resume(); hs2.hang(); hs2.unhang(); hs2.kill()

    with HS2ServerProcess("hs2-b") as proc:                 # same server in a child process
        proc.kill()                                         # SIGKILL

    HS2ServerProcess("hs2-c", registration={"zk_hosts": hosts, "register": {"namespace": "hiveserver2"}})
        # the child registers itself in ZooKeeper with its own session, as HiveServer2 does: after a SIGKILL its
        # znode goes when that session expires; proc.znode, proc.set_active(True) (hsi-ha: the child rewrites it)

Wire formats (``auth`` / ``transport``; the client arguments that match them):
  * ``auth="NOSASL"``: unframed TBinaryProtocol on a plain socket -- PyHive ``auth="NOSASL"`` (a TBufferedTransport).
  * ``auth="NONE" | "LDAP" | "CUSTOM"``: SASL PLAIN framing as thrift_sasl speaks it -- PyHive ``auth="NONE"``
    (password "x" is sent) or ``auth="LDAP"/"CUSTOM"`` with ``password``. Credentials are checked only when
    ``users={"name": "password"}`` is given (Hive's NONE accepts anything, too).
  * ``auth="KERBEROS", kerberos=(principal, keytab)``: SASL GSSAPI (binary only; ``gssapi_sasl.py``) -- PyHive
    ``auth="KERBEROS", kerberos_service_name="hive"`` dialling the host of the principal (``localhost``).
  * ``proxy_users={"hue"}``: impersonation as HiveServer2 checks it (``hadoop.proxyuser.<user>.*``): a session asking
    for ``hive.server2.proxy.user`` runs as that user when the authenticated user may impersonate, else OpenSession
    fails ("Failed to validate proxy privilege of hue for alice"); without ``proxy_users`` the setting is recorded only.
  * ``transport="http"``: TBinaryProtocol in the body of ``POST /<http_path>`` (default ``cliservice``; a trailing
    slash is accepted, PyHive sends one) -- PyHive ``scheme="http"`` or thrift's THttpClient. HTTP Basic
    credentials are optional and checked only when ``users`` is given.
  * ``tls=(certfile, keyfile)``: either transport inside TLS, as ``hive.server2.use.SSL=true`` (HTTPS for http);
    ``tls_client_ca``: also require a client certificate signed by that CA. Test certificates:
    ``hive_ha.sandbox.certs``.

SQL: ``SELECT <literal or function>[, ...]`` with ints, quoted strings, ``current_server()`` / ``server()`` (the
server's ``name``), ``current_user()`` (the session's user), ``logged_in_user()`` (who authenticated, or the user
name the client sent), ``current_database()``; ``SHOW DATABASES|SCHEMAS [LIKE '...']``,
``SHOW TABLES [IN db]``, ``USE db``, ``SET k=v``, ``SET k``, ``SET``. Anything else fails like Hive's compiler
(``ParseException``, SQLState 42000, error code 40000).
"""
import argparse
import atexit
import base64
import collections
import dataclasses
import functools
import hmac
import io
import json
import logging
import os
import re
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from TCLIService import TCLIService, ttypes
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TMemoryBuffer, TTransportBase, TTransportException

from hive_ha.io.shutdown import StopSignals
from hive_ha.sandbox.lifecycle import rig_python
from hive_ha.testing.waiting import WaitTimeout

__all__ = ["HS2Server", "HS2ServerProcess", "Session", "main"]

_log = logging.getLogger(__name__)

MODULE = "hive_ha.sandbox.hs2server"
LOOPBACK = "127.0.0.1"
V6 = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V6
AUTH_MODES = ("NOSASL", "NONE", "LDAP", "CUSTOM", "KERBEROS")  # KERBEROS: binary only, kerberos=(principal, keytab)
PROXY_USER = "hive.server2.proxy.user"
TRANSPORTS = ("binary", "http")

_State = ttypes.TOperationState
_OpType = ttypes.TOperationType

# thrift_sasl negotiation status bytes.
SASL_START, SASL_OK, SASL_BAD, SASL_ERROR, SASL_COMPLETE = 1, 2, 3, 4, 5
# Sanity bound for a SASL message or frame length: a client speaking the wrong protocol must not make us wait for GBs.
_MAX_FRAME = 64 * 1024 * 1024


class _Dropped(TTransportException):
    """Raised to end a connection without replying (fault injection, kill). The generated processor re-raises
    TTransportException from handlers, so this also escapes from inside a handler."""


# ------------------------------------------------------------------------------------------------------ statuses, rows


class _SQLError(Exception):
    """An error HiveServer2 reports in a TStatus (not a Thrift exception)."""

    def __init__(self, message, sql_state=None, error_code=0):
        super().__init__(message)
        self.sql_state = sql_state
        self.error_code = error_code

    def status(self):
        return ttypes.TStatus(
            statusCode=ttypes.TStatusCode.ERROR_STATUS,
            errorMessage=str(self),
            sqlState=self.sql_state,
            errorCode=self.error_code,
        )


def _ok():
    return ttypes.TStatus(statusCode=ttypes.TStatusCode.SUCCESS_STATUS)


def _new_handle_id():
    return ttypes.THandleIdentifier(guid=uuid.uuid4().bytes, secret=uuid.uuid4().bytes)


def _guid_text(handle_id):
    guid = getattr(handle_id, "guid", None) or b""
    return str(uuid.UUID(bytes=guid)) if len(guid) == 16 else repr(guid)


def _now_ms():
    return int(time.time() * 1000)


# Hive type name -> (TColumn field, value class, placeholder for NULL).
_COLUMN_KINDS = {
    "BOOLEAN": ("boolVal", ttypes.TBoolColumn, False),
    "TINYINT": ("byteVal", ttypes.TByteColumn, 0),
    "SMALLINT": ("i16Val", ttypes.TI16Column, 0),
    "INT": ("i32Val", ttypes.TI32Column, 0),
    "BIGINT": ("i64Val", ttypes.TI64Column, 0),
    "FLOAT": ("doubleVal", ttypes.TDoubleColumn, 0.0),
    "DOUBLE": ("doubleVal", ttypes.TDoubleColumn, 0.0),
    "BINARY": ("binaryVal", ttypes.TBinaryColumn, b""),
}
_STRING_KIND = ("stringVal", ttypes.TStringColumn, "")
# java.sql.Types codes for GetColumns' DATA_TYPE.
_JDBC_TYPES = {"BOOLEAN": 16, "TINYINT": -6, "SMALLINT": 5, "INT": 4, "BIGINT": -5, "FLOAT": 6, "DOUBLE": 8,
               "STRING": 12, "VARCHAR": 12, "CHAR": 1, "TIMESTAMP": 93, "DATE": 91, "BINARY": -2, "DECIMAL": 3}


def _null_bitmap(values):
    bits = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is None:
            bits[i // 8] |= 1 << (i % 8)
    return bytes(bits.rstrip(b"\0"))


def _column(type_name, values):
    """One column of a V6 columnar TRowSet."""
    field, cls, placeholder = _COLUMN_KINDS.get(type_name, _STRING_KIND)
    filled = [placeholder if v is None else v for v in values]
    return ttypes.TColumn(**{field: cls(values=filled, nulls=_null_bitmap(values))})


def _type_id(type_name):
    return getattr(ttypes.TTypeId, type_name + "_TYPE", ttypes.TTypeId.STRING_TYPE)


def _schema(columns):
    return ttypes.TTableSchema(columns=[
        ttypes.TColumnDesc(
            columnName=name,
            typeDesc=ttypes.TTypeDesc(types=[
                ttypes.TTypeEntry(primitiveEntry=ttypes.TPrimitiveTypeEntry(type=_type_id(type_name)))]),
            position=position,
            comment="",
        )
        for position, (name, type_name) in enumerate(columns, start=1)
    ])


def _row_set(columns, rows, start):
    return ttypes.TRowSet(
        startRowOffset=start,
        rows=[],  # V6+: rows are empty, data is in columns (PyHive asserts this)
        columns=[_column(type_name, [row[i] for row in rows]) for i, (_, type_name) in enumerate(columns)],
    )


def _like(pattern):
    """Compile a JDBC/Hive name pattern (``%``/``*`` any run, ``_`` one char, ``|`` alternatives)."""
    if pattern in (None, "", "*", "%"):
        return re.compile(".*", re.S)
    alternatives = []
    for alternative in pattern.split("|"):
        parts = (".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in alternative)
        alternatives.append("".join(parts))
    return re.compile("|".join(alternatives), re.I | re.S)


# ------------------------------------------------------------------------------------------------------------ state


@dataclasses.dataclass
class Session:
    """An open HiveServer2 session, as the server sees it (``HS2Server.sessions`` returns copies)."""

    id: str
    username: str  # from TOpenSessionReq
    auth_user: str  # identity proven by SASL PLAIN or HTTP Basic, else None
    config: dict
    database: str
    protocol: int
    opened_at: float
    guid: bytes = dataclasses.field(default=b"", repr=False)  # the raw handle id
    proxy_user: str = None  # hive.server2.proxy.user, when the authenticated user may impersonate (proxy_users)

    @property
    def user(self):
        """The effective user, as Hive picks it: the impersonated user, else the authenticated identity."""
        return self.proxy_user or self.auth_user or self.username or "anonymous"

    @property
    def logged_in_user(self):
        return self.auth_user or self.username or "anonymous"


@dataclasses.dataclass
class _Result:
    columns: list  # [(name, Hive type name)]
    rows: list  # [tuple]


@dataclasses.dataclass
class _Operation:
    handle: ttypes.TOperationHandle
    session_guid: bytes
    result: _Result  # None: no result set (USE, SET k=v)
    log: list
    state: int = _State.FINISHED_STATE
    polls_left: int = 0
    ready_at: float = 0.0
    offset: int = 0
    log_offset: int = 0
    started_ms: int = dataclasses.field(default_factory=_now_ms)
    completed_ms: int = 0

    def refresh(self):
        """Finish a simulated async run once its polls and delay are used up."""
        if self.state == _State.RUNNING_STATE and self.polls_left <= 0 and time.monotonic() >= self.ready_at:
            self.state = _State.FINISHED_STATE
            self.completed_ms = _now_ms()
        return self.state

    def poll(self):
        if self.state == _State.RUNNING_STATE and self.polls_left > 0:
            self.polls_left -= 1
            return self.state
        return self.refresh()


class _Catalog:
    """Databases and tables the metadata calls and SHOW statements report."""

    def __init__(self, databases, tables):
        self.tables = {}  # (db, table) -> [(column, type)]
        for qualified, columns in (tables or {}).items():
            db, _, table = qualified.rpartition(".")
            self.tables[(db or "default", table)] = [tuple(c) for c in columns]
        self.databases = sorted(set(databases) | {db for db, _ in self.tables})

    def schemas(self, pattern=None):
        regex = _like(pattern)
        return [db for db in self.databases if regex.fullmatch(db)]

    def table_names(self, schema_pattern=None, table_pattern=None):
        schemas, regex = set(self.schemas(schema_pattern)), _like(table_pattern)
        return sorted(key for key in self.tables if key[0] in schemas and regex.fullmatch(key[1]))

    def columns(self, schema_pattern=None, table_pattern=None, column_pattern=None):
        regex = _like(column_pattern)
        for db, table in self.table_names(schema_pattern, table_pattern):
            for position, (column, type_name) in enumerate(self.tables[(db, table)], start=1):
                if regex.fullmatch(column):
                    yield db, table, column, type_name.upper(), position


# ------------------------------------------------------------------------------------------------------------- SQL

_COMPILE_ERROR = "Error while compiling statement: FAILED: "
_ITEM = re.compile(r"""
    \s*(?:
        (?P<int>[-+]?\d+)(?![\w.])
      | '(?P<sq>(?:[^'\\]|\\.)*)'
      | "(?P<dq>(?:[^"\\]|\\.)*)"
      | (?P<fn>current_server|server|current_user|logged_in_user|current_database)\s*\(\s*\)
    )
    (?:\s+(?:as\s+)?(?!from\b|where\b)`?(?P<alias>[A-Za-z_]\w*)`?)?
    \s*(?P<sep>,|\Z)""", re.I | re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _parse_error(sql):
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\w+|[^\s\w]", sql)[:3]
    near = " ".join("'%s'" % t for t in tokens + ["<EOF>"] * (3 - len(tokens)))
    return _SQLError(_COMPILE_ERROR + "ParseException line 1:0 cannot recognize input near " + near, "42000", 40000)


def _unescape(text):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text, flags=re.S)


class _Engine:
    """The tiny SQL dialect; returns a _Result, or None for statements without a result set."""

    _STATEMENTS = [
        (re.compile(r"select\s+(?P<items>.+)", re.I | re.S), "_select"),
        (re.compile(r"show\s+(?:databases|schemas)(?:\s+like\s+'(?P<pattern>[^']*)')?", re.I), "_show_databases"),
        (re.compile(r"show\s+tables(?:\s+(?:in|from)\s+`?(?P<db>\w+)`?)?(?:\s+(?:like\s+)?'(?P<pattern>[^']*)')?",
                    re.I), "_show_tables"),
        (re.compile(r"use\s+`?(?P<db>\w+)`?", re.I), "_use"),
        (re.compile(r"set(?:\s+(?P<key>[^=\s]+)(?:\s*=\s*(?P<value>.*))?)?", re.I | re.S), "_set"),
    ]

    def __init__(self, server_name, catalog):
        self._server_name = server_name  # callable: the name can be set after construction
        self.catalog = catalog

    def run(self, sql, session):
        text = sql.strip().rstrip(";").strip()
        for pattern, method in self._STATEMENTS:
            match = pattern.fullmatch(text)
            if match:
                return getattr(self, method)(session, **match.groupdict())
        raise _parse_error(text)

    def _select(self, session, items):
        columns, row, pos = [], [], 0
        while pos < len(items):
            match = _ITEM.match(items, pos)
            if not match or match.end() == pos:
                raise _parse_error("select " + items)
            type_name, value = self._item_value(session, match)
            columns.append((match.group("alias") or "_c%d" % len(columns), type_name))
            row.append(value)
            pos = match.end()
            if not match.group("sep"):
                break
        if pos < len(items) or not columns:
            raise _parse_error("select " + items)
        return _Result(columns, [tuple(row)])

    def _item_value(self, session, match):
        if match.group("int") is not None:
            value = int(match.group("int"))
            return ("INT" if -2 ** 31 <= value < 2 ** 31 else "BIGINT"), value
        if match.group("fn") is None:
            return "STRING", _unescape(match.group("sq") if match.group("sq") is not None else match.group("dq"))
        function = match.group("fn").lower()
        if function in ("current_server", "server"):
            return "STRING", self._server_name()
        values = {"current_user": session.user, "logged_in_user": session.logged_in_user}
        return "STRING", values.get(function, session.database)

    def _show_databases(self, session, pattern):
        return _Result([("database_name", "STRING")], [(db,) for db in self.catalog.schemas(pattern)])

    def _show_tables(self, session, db, pattern):
        db = db or session.database
        self.require_database(db)
        names = self.catalog.table_names(db, pattern)
        return _Result([("tab_name", "STRING")], [(table,) for _, table in names])

    def _use(self, session, db):
        session.database = self.require_database(db)
        return None

    def _set(self, session, key, value):
        if key is not None and value is not None:
            session.config[key] = value
            return None
        if key is None:
            rows = ["%s=%s" % item for item in sorted(session.config.items())]
        elif key in session.config:
            rows = ["%s=%s" % (key, session.config[key])]
        else:
            rows = ["%s is undefined" % key]
        return _Result([("set", "STRING")], [(row,) for row in rows])

    def require_database(self, db):
        if db.lower() not in self.catalog.databases:
            raise _SQLError(_COMPILE_ERROR + "SemanticException [Error 10072]: Database does not exist: " + db,
                            "42000", 10072)
        return db.lower()


# ------------------------------------------------------------------------------------------------ Thrift handler


def _answers(response_class):
    """Turn a _SQLError raised by a handler method into ``response_class(status=<error>)``."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, req):
            try:
                return method(self, req)
            except _SQLError as error:
                return response_class(status=error.status())

        return wrapper

    return decorate


class _Handler:
    """TCLIService calls for one client connection; all state lives on the server, under its lock."""

    def __init__(self, server, conn):
        self._server = server
        self._conn = conn
        self._cond = server._cond

    def __getattr__(self, name):
        # TCLIService methods this server does not implement (delegation tokens, GetFunctions, ...) answer an
        # error status, as Hive does for unsupported calls, instead of a missing-result Thrift error.
        response_class = getattr(ttypes, "T%sResp" % name, None)
        if response_class is None:
            raise AttributeError(name)
        return lambda req: response_class(status=_SQLError("Operation %s is not supported" % name).status())

    # -- sessions

    @_answers(ttypes.TOpenSessionResp)
    def OpenSession(self, req):
        server, config = self._server, dict(req.configuration or {})
        database = config.pop("use:database", "default")
        proxy_user = server._proxy_user(self._conn.auth_user, config.get(PROXY_USER))
        with self._cond:
            server._engine.require_database(database)
            handle = ttypes.TSessionHandle(sessionId=_new_handle_id())
            guid = handle.sessionId.guid
            protocol = min(req.client_protocol, server.protocol_version)
            server._sessions[guid] = Session(
                id=_guid_text(handle.sessionId), username=req.username, auth_user=self._conn.auth_user,
                config=_session_config(config), database=database.lower(), protocol=protocol, opened_at=time.time(),
                guid=guid, proxy_user=proxy_user)
            if server.transport == "binary":
                self._conn.session_guids.add(guid)
            self._cond.notify_all()
        return ttypes.TOpenSessionResp(status=_ok(), serverProtocolVersion=protocol, sessionHandle=handle,
                                       configuration={})

    @_answers(ttypes.TCloseSessionResp)
    def CloseSession(self, req):
        with self._cond:
            self._session(req.sessionHandle)
            self._server._close_session(req.sessionHandle.sessionId.guid)
        return ttypes.TCloseSessionResp(status=_ok())

    @_answers(ttypes.TGetInfoResp)
    def GetInfo(self, req):
        with self._cond:
            self._session(req.sessionHandle)
        value = self._server._info_value(req.infoType)
        if value is None:
            raise _SQLError("Unrecognized GetInfoType value: %s" % req.infoType)
        return ttypes.TGetInfoResp(status=_ok(), infoValue=value)

    # -- statements

    @_answers(ttypes.TExecuteStatementResp)
    def ExecuteStatement(self, req):
        server = self._server
        drop = server._take_statement_drop(req.statement)
        if drop == "request":
            raise _Dropped(message="dropped before running %r" % req.statement)
        compile_seconds = server._take_slow_statement(req.statement)
        if compile_seconds:
            server._compile(compile_seconds)  # the statement runs afterwards, whether its client waited or not
        with self._cond:
            session = self._session(req.sessionHandle)
            server._statements.append(req.statement)
            self._cond.notify_all()
            result = server._engine.run(req.statement, session)
            op = self._new_operation(session, _OpType.EXECUTE_STATEMENT, result, _statement_log(req.statement))
            if req.runAsync and (server.running_polls > 0 or server.delay > 0):
                op.state, op.polls_left = _State.RUNNING_STATE, server.running_polls
                op.ready_at, op.completed_ms = time.monotonic() + server.delay, 0
            delay = 0 if req.runAsync else server.delay
        if delay > 0:
            server._pause(self._conn, delay)
        if drop == "reply":
            raise _Dropped(message="dropped the reply to %r" % req.statement)
        return ttypes.TExecuteStatementResp(status=_ok(), operationHandle=op.handle)

    @_answers(ttypes.TGetOperationStatusResp)
    def GetOperationStatus(self, req):
        with self._cond:
            op = self._operation(req.operationHandle)
            state = op.poll()
            return ttypes.TGetOperationStatusResp(
                status=_ok(), operationState=state, hasResultSet=op.result is not None,
                operationStarted=op.started_ms, operationCompleted=op.completed_ms or None)

    @_answers(ttypes.TCancelOperationResp)
    def CancelOperation(self, req):
        with self._cond:
            op = self._operation(req.operationHandle)
            if op.refresh() in (_State.RUNNING_STATE, _State.PENDING_STATE, _State.INITIALIZED_STATE):
                op.state = _State.CANCELED_STATE
        return ttypes.TCancelOperationResp(status=_ok())

    @_answers(ttypes.TCloseOperationResp)
    def CloseOperation(self, req):
        with self._cond:
            self._operation(req.operationHandle)
            del self._server._operations[req.operationHandle.operationId.guid]
        return ttypes.TCloseOperationResp(status=_ok())

    @_answers(ttypes.TGetResultSetMetadataResp)
    def GetResultSetMetadata(self, req):
        with self._cond:
            op = self._operation(req.operationHandle)
            columns = op.result.columns if op.result is not None else []
        return ttypes.TGetResultSetMetadataResp(status=_ok(), schema=_schema(columns))

    @_answers(ttypes.TFetchResultsResp)
    def FetchResults(self, req):
        with self._cond:
            op = self._operation(req.operationHandle)
            if req.fetchType == 1:  # 1 = the operation log, as one STRING column
                return self._fetch_log(op, req)
            _require_finished(op)
            if req.orientation == ttypes.TFetchOrientation.FETCH_FIRST:
                op.offset = 0
            elif req.orientation != ttypes.TFetchOrientation.FETCH_NEXT:
                name = ttypes.TFetchOrientation._VALUES_TO_NAMES.get(req.orientation, req.orientation)
                raise _SQLError("The fetch type %s is not supported for this resultset" % name, "HY106")
            result = op.result or _Result([], [])
            start, rows = op.offset, _take(result.rows, op.offset, req.maxRows)
            op.offset += len(rows)
            return ttypes.TFetchResultsResp(status=_ok(), hasMoreRows=op.offset < len(result.rows),
                                            results=_row_set(result.columns, rows, start))

    @_answers(ttypes.TGetLogResp)
    def GetLog(self, req):
        with self._cond:
            op = self._operation(req.operationHandle)
            return ttypes.TGetLogResp(status=_ok(), log="\n".join(op.log))

    # -- metadata

    @_answers(ttypes.TGetSchemasResp)
    def GetSchemas(self, req):
        rows = [(db, "") for db in self._server._engine.catalog.schemas(req.schemaName)]
        result = _Result([("TABLE_SCHEM", "STRING"), ("TABLE_CATALOG", "STRING")], rows)
        return ttypes.TGetSchemasResp(status=_ok(), operationHandle=self._metadata_op(req, _OpType.GET_SCHEMAS, result))

    @_answers(ttypes.TGetTablesResp)
    def GetTables(self, req):
        wanted = {t.upper() for t in req.tableTypes or ["TABLE"]}
        names = self._server._engine.catalog.table_names(req.schemaName, req.tableName)
        rows = [("", db, table, "TABLE", "") for db, table in names if "TABLE" in wanted]
        result = _Result([("TABLE_CAT", "STRING"), ("TABLE_SCHEM", "STRING"), ("TABLE_NAME", "STRING"),
                          ("TABLE_TYPE", "STRING"), ("REMARKS", "STRING")], rows)
        return ttypes.TGetTablesResp(status=_ok(), operationHandle=self._metadata_op(req, _OpType.GET_TABLES, result))

    @_answers(ttypes.TGetColumnsResp)
    def GetColumns(self, req):
        found = self._server._engine.catalog.columns(req.schemaName, req.tableName, req.columnName)
        rows = [("", db, table, column, _JDBC_TYPES.get(type_name, 1111), type_name, 1, "", position, "YES")
                for db, table, column, type_name, position in found]
        result = _Result([("TABLE_CAT", "STRING"), ("TABLE_SCHEM", "STRING"), ("TABLE_NAME", "STRING"),
                          ("COLUMN_NAME", "STRING"), ("DATA_TYPE", "INT"), ("TYPE_NAME", "STRING"),
                          ("NULLABLE", "INT"), ("REMARKS", "STRING"), ("ORDINAL_POSITION", "INT"),
                          ("IS_NULLABLE", "STRING")], rows)
        return ttypes.TGetColumnsResp(status=_ok(), operationHandle=self._metadata_op(req, _OpType.GET_COLUMNS, result))

    @_answers(ttypes.TGetCatalogsResp)
    def GetCatalogs(self, req):
        result = _Result([("TABLE_CAT", "STRING")], [])  # Hive has no catalogs
        handle = self._metadata_op(req, _OpType.GET_CATALOGS, result)
        return ttypes.TGetCatalogsResp(status=_ok(), operationHandle=handle)

    @_answers(ttypes.TGetTableTypesResp)
    def GetTableTypes(self, req):
        result = _Result([("TABLE_TYPE", "STRING")], [("TABLE",), ("VIEW",)])
        return ttypes.TGetTableTypesResp(status=_ok(),
                                         operationHandle=self._metadata_op(req, _OpType.GET_TABLE_TYPES, result))

    # -- helpers

    def _session(self, handle):
        session = self._server._sessions.get(getattr(getattr(handle, "sessionId", None), "guid", None))
        if session is None:
            sid = _guid_text(getattr(handle, "sessionId", None))
            raise _SQLError("Invalid SessionHandle: SessionHandle [%s]" % sid)
        return session

    def _operation(self, handle):
        op = self._server._operations.get(getattr(getattr(handle, "operationId", None), "guid", None))
        if op is None:
            op_type = ttypes.TOperationType._VALUES_TO_NAMES.get(getattr(handle, "operationType", None), "UNKNOWN")
            raise _SQLError("Invalid OperationHandle: OperationHandle [opType=%s, getHandleIdentifier()=%s]"
                            % (op_type, _guid_text(getattr(handle, "operationId", None))))
        return op

    def _new_operation(self, session, op_type, result, log=()):
        handle = ttypes.TOperationHandle(operationId=_new_handle_id(), operationType=op_type,
                                         hasResultSet=result is not None)
        op = _Operation(handle=handle, session_guid=session.guid, result=result, log=list(log),
                        completed_ms=_now_ms())
        self._server._operations[handle.operationId.guid] = op
        return op

    def _metadata_op(self, req, op_type, result):
        with self._cond:
            session = self._session(req.sessionHandle)
            return self._new_operation(session, op_type, result).handle

    @staticmethod
    def _fetch_log(op, req):
        if req.orientation == ttypes.TFetchOrientation.FETCH_FIRST:
            op.log_offset = 0
        lines = _take(op.log, op.log_offset, req.maxRows)
        start, op.log_offset = op.log_offset, op.log_offset + len(lines)
        return ttypes.TFetchResultsResp(status=_ok(), hasMoreRows=op.log_offset < len(op.log),
                                        results=_row_set([("operation_log", "STRING")], [(l,) for l in lines], start))


def _session_config(config):
    # Clients pass Hive settings as "set:hiveconf:k" / "set:hivevar:k"; keep them under the bare key as well.
    merged = dict(config)
    for key, value in config.items():
        if key.startswith(("set:hiveconf:", "set:hivevar:")):
            merged[key.split(":", 2)[2]] = value
    return merged


def _statement_log(sql):
    query_id = "hive_%s" % uuid.uuid4().hex[:16]
    return ["Compiling command(queryId=%s): %s" % (query_id, sql),
            "Executing command(queryId=%s): %s" % (query_id, sql), "OK"]


def _take(rows, offset, max_rows):
    if max_rows is None or max_rows <= 0:
        return rows[offset:]
    return rows[offset:offset + max_rows]


def _require_finished(op):
    state = op.refresh()
    if state != _State.FINISHED_STATE:
        name = _State._VALUES_TO_NAMES[state].replace("_STATE", "")
        raise _SQLError("Expected state FINISHED, but found %s" % name, "HY010")


class _Processor(TCLIService.Processor):
    """The generated processor plus call counting and the hang/drop hooks.

    Unknown methods (impyla calls Impala-only ones) get a TApplicationException UNKNOWN_METHOD reply, as Hive's
    libthrift sends it, and the connection stays usable; their arguments are skipped without decoding strings.
    """

    def __init__(self, server, conn):
        super().__init__(_Handler(server, conn))
        self._server = server
        self._conn = conn

    def process(self, iprot, oprot):
        name, _, seqid = iprot.readMessageBegin()
        self._server._record_call(name)
        self._server._wait_while_hung(self._conn)
        drop = self._server._take_drop(name)
        call = self._processMap.get(name)
        if call is None or drop == "request":
            _skip_raw(iprot, TType.STRUCT)  # unknown arguments: skipped by wire type, never decoded
            iprot.readMessageEnd()
        if drop == "request":
            raise _Dropped(message="dropped before handling %s" % name)
        if call is None:
            return self._unknown_method(name, seqid, oprot)
        if drop == "reply":
            call(self, seqid, iprot, TBinaryProtocol(TMemoryBuffer()))  # run it, throw the reply away
            raise _Dropped(message="dropped the reply to %s" % name)
        call(self, seqid, iprot, oprot)
        return True

    @staticmethod
    def _unknown_method(name, seqid, oprot):
        # What Hive's libthrift (TBaseProcessor) answers: UNKNOWN_METHOD, and the connection stays open.
        error = TApplicationException(TApplicationException.UNKNOWN_METHOD, "Invalid method name: '%s'" % name)
        oprot.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
        error.write(oprot)
        oprot.writeMessageEnd()
        oprot.trans.flush()
        return True


_SKIP_MAX_DEPTH = 64  # nesting bound for arguments of unknown calls (a hostile client must not exhaust the stack)
_SKIP_SCALARS = {TType.BOOL: "readBool", TType.BYTE: "readByte", TType.I16: "readI16", TType.I32: "readI32",
                 TType.I64: "readI64", TType.DOUBLE: "readDouble", TType.STRING: "readBinary"}


def _skip_raw(prot, ttype, depth=0):
    """Skip one value of wire type ``ttype``. Unlike TProtocolBase.skip, STRING is read as bytes: Impala's GUIDs
    (impyla's CloseImpalaOperation) are binary fields, not UTF-8."""
    if depth > _SKIP_MAX_DEPTH:
        raise TProtocolException(TProtocolException.DEPTH_LIMIT, "arguments nested deeper than %d" % _SKIP_MAX_DEPTH)
    if ttype in _SKIP_SCALARS:
        getattr(prot, _SKIP_SCALARS[ttype])()
    elif ttype == TType.STRUCT:
        prot.readStructBegin()
        while True:
            _, field_type, _ = prot.readFieldBegin()
            if field_type == TType.STOP:
                break
            _skip_raw(prot, field_type, depth + 1)
            prot.readFieldEnd()
        prot.readStructEnd()
    elif ttype == TType.MAP:
        key_type, value_type, size = prot.readMapBegin()
        for _ in range(size):
            _skip_raw(prot, key_type, depth + 1)
            _skip_raw(prot, value_type, depth + 1)
        prot.readMapEnd()
    elif ttype == TType.SET:
        element_type, size = prot.readSetBegin()
        for _ in range(size):
            _skip_raw(prot, element_type, depth + 1)
        prot.readSetEnd()
    elif ttype == TType.LIST:
        element_type, size = prot.readListBegin()
        for _ in range(size):
            _skip_raw(prot, element_type, depth + 1)
        prot.readListEnd()
    else:
        raise TProtocolException(TProtocolException.INVALID_DATA, "unknown wire type %r" % ttype)


# ------------------------------------------------------------------------------------------------------ transports


class _SaslServerTransport(TTransportBase):
    """Server side of thrift_sasl's framing, mechanism PLAIN (Hive's NONE/LDAP/CUSTOM).

    Negotiation: the client sends START(mechanism) and OK|COMPLETE("authzid\\0user\\0password"); we answer COMPLETE,
    or BAD(reason) for bad credentials or mechanism, ERROR(reason) for protocol errors, and close. Afterwards every
    message is a frame: 4-byte big-endian length + payload (QOP auth only, so no wrapping).
    """

    def __init__(self, trans, authenticate):
        self._trans = trans
        self._authenticate = authenticate  # (user, password) -> bool
        self._rbuf = io.BytesIO()
        self._wbuf = io.BytesIO()

    def negotiate(self):
        """Run the SASL handshake; return the authenticated user or raise TTransportException."""
        status, mechanism = self._receive()
        if status != SASL_START:
            self._fail(SASL_ERROR, "Expected START status, received %d" % status)
        if mechanism != b"PLAIN":
            self._fail(SASL_BAD, "Unsupported mechanism type %s" % mechanism.decode("utf-8", "replace"))
        status, response = self._receive()
        if status not in (SASL_OK, SASL_COMPLETE):
            self._fail(SASL_ERROR, "Expected OK or COMPLETE status, received %d" % status)
        user = self._check_plain(response)
        self._send(SASL_COMPLETE, b"")
        return user

    def _check_plain(self, response):
        parts = response.split(b"\0")
        if len(parts) != 3:
            self._fail(SASL_BAD, "Invalid message format")
        authzid, user, password = (p.decode("utf-8", "replace") for p in parts)
        if not user:
            self._fail(SASL_BAD, "No user name provided")
        if not self._authenticate(user, password):
            self._fail(SASL_BAD, "Error validating the login")
        return authzid or user

    def _receive(self):
        status, length = struct.unpack(">BI", self._trans.readAll(5))
        if not SASL_START <= status <= SASL_COMPLETE or length > _MAX_FRAME:
            self._fail(SASL_ERROR, "Invalid SASL header (status %d, length %d)" % (status, length))
        return status, self._trans.readAll(length) if length else b""

    def _send(self, status, body):
        self._trans.write(struct.pack(">BI", status, len(body)) + body)
        self._trans.flush()

    def _fail(self, status, message):
        self._send(status, message.encode("utf-8"))
        raise TTransportException(TTransportException.NOT_OPEN, message)

    def isOpen(self):
        return self._trans.isOpen()

    def close(self):
        self._trans.close()

    def read(self, sz):
        data = self._rbuf.read(sz)
        while not data:
            (length,) = struct.unpack(">I", self._trans.readAll(4))
            if length > _MAX_FRAME:
                raise TTransportException(TTransportException.SIZE_LIMIT, "frame of %d bytes" % length)
            self._rbuf = io.BytesIO(self._trans.readAll(length))
            data = self._rbuf.read(sz)
        return data

    def write(self, buf):
        self._wbuf.write(buf)

    def flush(self):
        payload, self._wbuf = self._wbuf.getvalue(), io.BytesIO()
        self._trans.write(struct.pack(">I", len(payload)) + payload)
        self._trans.flush()


@dataclasses.dataclass
class _HttpContext:
    server: "HS2Server"
    conn: "_Conn"


class _HttpHandler(BaseHTTPRequestHandler):
    """One HTTP connection: ``POST /<http_path>`` carries one TBinaryProtocol message each way."""

    protocol_version = "HTTP/1.1"  # keep-alive, like Hive's Jetty
    server_version = "hs2server"

    def do_POST(self):
        hs2, conn = self.server.server, self.server.conn
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path.strip("/") != hs2.http_path.strip("/"):
            return self._reply(404, b"")
        user = self._basic_user()
        if user is False:
            return self._reply(401, b"", {"WWW-Authenticate": 'Basic realm="hs2server"'})
        conn.auth_user = user
        out = TMemoryBuffer()
        try:
            _Processor(hs2, conn).process(TBinaryProtocol(TMemoryBuffer(body), strictRead=True), TBinaryProtocol(out))
        except _Dropped:
            self.close_connection = True
            conn.abort()
            return None
        return self._reply(200, out.getvalue(), {"Content-Type": "application/x-thrift"})

    def _basic_user(self):
        """The Basic-auth user; None without a header; False when ``users`` rejects it."""
        hs2 = self.server.server
        header = self.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            return False if hs2.users is not None else None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user if hs2._authenticate(user, password) else False

    def _reply(self, code, body, headers=None):
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        _log.debug("%s http: " + format, self.server.server.name, *args)


class _Conn:
    """An accepted client connection. Only its own thread closes the socket; others shut it down, which wakes a
    blocked recv (closing the fd from another thread would not, and the fd number could be reused)."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.closed = False
        self.thread = None
        self.auth_user = None
        self.session_guids = set()  # binary: sessions closed when the connection ends, like Hive

    def abort(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------------------ server


class HS2Server:
    """In-process HiveServer2-protocol server on 127.0.0.1, one daemon thread per connection.

    Knobs settable at any time: ``delay`` (seconds a synchronous ExecuteStatement takes; async statements stay RUNNING
    that long), ``running_polls`` (async statements answer RUNNING to that many GetOperationStatus calls first).
    Fault injection: refuse/resume, hang/unhang, drop_next/drop_statement/drop_on/clear_drops, kill, reset_faults.
    """

    def __init__(self, name=None, *, host=LOOPBACK, port=0, auth="NONE", transport="binary",
                 http_path="cliservice", users=None, databases=("default",), tables=None, version="3.1.3",
                 protocol_version=V6, delay=0.0, running_polls=0, close_sessions_on_disconnect=True, kerberos=None,
                 tls=None, tls_client_ca=None, proxy_users=None):
        if auth not in AUTH_MODES:
            raise ValueError("auth must be one of %s, got %r" % (AUTH_MODES, auth))
        if (auth == "KERBEROS") != (kerberos is not None) or (kerberos and transport != "binary"):
            raise ValueError("auth='KERBEROS' needs kerberos=(principal, keytab) and the binary transport")
        self.kerberos = tuple(kerberos) if kerberos else None  # SASL GSSAPI acceptor: see gssapi_sasl.py
        self.proxy_users = frozenset(proxy_users) if proxy_users is not None else None
        if transport not in TRANSPORTS:
            raise ValueError("transport must be one of %s, got %r" % (TRANSPORTS, transport))
        self._name, self._host, self._port = name, host, port
        self.auth, self.transport, self.http_path = auth, transport, http_path
        self.users = dict(users) if users is not None else None
        self.version, self.protocol_version = version, protocol_version
        self.delay, self.running_polls = delay, running_polls
        self.close_sessions_on_disconnect = close_sessions_on_disconnect
        self._tls = _server_context(tls, tls_client_ca) if tls else None
        self._engine = _Engine(lambda: self.name, _Catalog(databases, tables))
        self._cond = threading.Condition(threading.RLock())
        self._sessions, self._operations = {}, {}
        self._statements, self._calls = [], collections.Counter()
        self._conns, self._threads, self._accepted = set(), [], 0
        self._listener = self._accept_thread = None
        self._hanging, self._drops, self._statement_drops = False, {}, []
        self._slow_statements = []  # (text, seconds): a slow compile
        self._started = self._stopped = False

    # -- lifecycle

    def start(self):
        """Bind and listen; return once connections are accepted."""
        if self._started:
            raise RuntimeError("%r already started" % self)
        self._listen()
        self._started = True
        return self

    def stop(self):
        """Close the listener and every connection; join all threads."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._close_listener()
        self._abort_connections()
        for thread in list(self._threads):
            thread.join(timeout=5.0)
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return "<HS2Server %s %s:%s auth=%s transport=%s>" % (self._name, self._host, self._port, self.auth,
                                                              self.transport)

    # -- properties

    @property
    def host(self):
        return self._host

    @property
    def port(self):
        return self._port

    @property
    def address(self):
        return "%s:%d" % (self._host, self._port)

    @property
    def name(self):
        return self._name or "hs2-%d" % self._port

    @property
    def url(self):
        """The HTTP-mode endpoint (meaningful with ``transport="http"``)."""
        return "%s://%s:%d/%s" % ("https" if self._tls else "http", self._host, self._port, self.http_path.strip("/"))

    @property
    def listening(self):
        return self._listener is not None

    @property
    def sessions(self):
        """Open sessions, oldest first (copies)."""
        with self._cond:
            return [dataclasses.replace(s, config=dict(s.config)) for s in self._sessions.values()]

    @property
    def statements(self):
        """Every statement ExecuteStatement received on a valid session, in order (failed ones too)."""
        with self._cond:
            return list(self._statements)

    @property
    def calls(self):
        """Thrift calls received per method name (unknown methods and dropped/hung calls included)."""
        with self._cond:
            return collections.Counter(self._calls)

    def call_count(self, method):
        with self._cond:
            return self._calls[method]

    @property
    def connections(self):
        """Client connections open right now."""
        with self._cond:
            return len(self._conns)

    @property
    def accepted(self):
        """Client connections accepted since start."""
        with self._cond:
            return self._accepted

    def reset_counters(self):
        with self._cond:
            self._calls.clear()
            del self._statements[:]

    def wait_until(self, predicate, timeout=5.0, message=None):
        """Wait until ``predicate()`` is truthy; it is re-checked whenever a call, session or connection changes.

        Raises WaitTimeout (an AssertionError); ``message`` may be a callable, evaluated on timeout.
        """
        with self._cond:
            if not self._cond.wait_for(predicate, timeout=timeout):
                text = (message() if callable(message) else message) or "condition not met"
                raise WaitTimeout("%s: %s (waited %.1f s)" % (self.name, text, timeout))

    def wait_for_calls(self, method, count=1, timeout=5.0):
        """Wait until ``method`` has been called at least ``count`` times in total."""
        self.wait_until(lambda: self._calls[method] >= count, timeout,
                        lambda: "%s called %d times, wanted %d" % (method, self._calls[method], count))

    # -- fault injection

    def refuse(self):
        """Stop listening: new connects get ECONNREFUSED; open connections keep working."""
        self._close_listener()

    def resume(self):
        """Listen again on the same port (after refuse() or kill())."""
        if not self._started or self._stopped:
            raise RuntimeError("%r is not running" % self)
        if self._listener is None:
            self._listen()

    def hang(self):
        """Accept connections but answer nothing (SASL handshake and calls block) until unhang()."""
        with self._cond:
            self._hanging = True

    def unhang(self):
        with self._cond:
            self._hanging = False
            self._cond.notify_all()

    def drop_next(self, method, run_handler=False):
        """Close the connection abruptly during the next call of ``method``, after reading the request and before
        replying. With ``run_handler`` the call takes effect first (e.g. the statement runs) and only the reply is
        lost. Repeated calls queue more drops."""
        with self._cond:
            _, remaining = self._drops.get(method, (run_handler, 0))
            self._drops[method] = (run_handler, None if remaining is None else remaining + 1)

    def drop_statement(self, text, run_handler=False):
        """Close the connection abruptly during the next ExecuteStatement whose statement contains ``text`` (case
        insensitive), after reading it; with ``run_handler`` the statement runs first and only the reply is lost.
        Other statements (Hue's ``USE`` first) pass."""
        with self._cond:
            self._statement_drops.append((text.lower(), run_handler))

    def slow_statement(self, text, seconds):
        """The next ExecuteStatement whose statement contains ``text`` (case insensitive) takes ``seconds`` before it
        runs and answers, as a slow compile does (the global compile lock, a slow metastore): it runs even when its
        client gave up waiting, and the server answers every other call meanwhile."""
        with self._cond:
            self._slow_statements.append((text.lower(), seconds))

    def drop_on(self, method, run_handler=False):
        """Like drop_next, for every call of ``method`` until clear_drops()."""
        with self._cond:
            self._drops[method] = (run_handler, None)

    def clear_drops(self, method=None):
        with self._cond:
            if method is None:
                self._drops.clear()
                del self._statement_drops[:]
                del self._slow_statements[:]
            else:
                self._drops.pop(method, None)

    def kill(self):
        """Crash: close the listener and all connections at once and forget every session (resume() restarts)."""
        self._close_listener()
        self._abort_connections()
        with self._cond:
            self._sessions.clear()
            self._operations.clear()
            self._cond.notify_all()

    def reset_faults(self):
        """Clear drops, unhang and listen again if refusing."""
        self.clear_drops()
        self.unhang()
        self.resume()

    # -- listener and connections

    def _listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind the same port after kill()/refuse()
        try:
            sock.bind((self._host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        # A timeout lets the accept loop notice it was replaced even where shutdown() does not wake accept().
        sock.settimeout(0.5)
        self._port = sock.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, args=(sock,), name="%s-accept" % self.name, daemon=True)
        with self._cond:
            self._listener, self._accept_thread = sock, thread
        thread.start()

    def _close_listener(self):
        with self._cond:
            sock, thread = self._listener, self._accept_thread
            self._listener = self._accept_thread = None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
        except OSError:
            pass
        thread.join()  # the accept thread closes the socket; after this, connects are refused

    def _accept_loop(self, sock):
        try:
            while self._listener is sock:
                try:
                    client, peer = sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                self._spawn(client, peer)
        finally:
            sock.close()

    def _spawn(self, sock, peer):
        sock.settimeout(None)  # blocking, whatever socket.setdefaulttimeout() says: idle clients may stay idle
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, peer)
        conn.thread = threading.Thread(target=self._run_connection, args=(conn,), daemon=True,
                                       name="%s-conn-%s:%s" % (self.name, peer[0], peer[1]))
        with self._cond:
            self._conns.add(conn)
            self._accepted += 1
            self._threads = [t for t in self._threads if t.is_alive()] + [conn.thread]
            self._cond.notify_all()
        conn.thread.start()

    def _abort_connections(self):
        with self._cond:
            for conn in list(self._conns):
                conn.abort()
            self._cond.notify_all()  # wakes hung calls and paused statements

    def _run_connection(self, conn):
        try:
            if self._tls is not None:
                self._start_tls(conn)
            if self.transport == "http":
                _HttpHandler(conn.sock, conn.peer, _HttpContext(self, conn))
            else:
                self._serve_binary(conn)
        except (TTransportException, TProtocolException, OSError, EOFError) as error:
            _log.debug("%s: connection from %s ended: %s", self.name, conn.peer, error)
        except Exception:  # a bug in this module: keep the server alive, but say so
            _log.exception("%s: connection from %s failed", self.name, conn.peer)
        finally:
            conn.closed = True
            conn.sock.close()
            self._forget(conn)

    def _start_tls(self, conn):
        """The server side of the TLS handshake, in the connection's own thread (a stalled client blocks only it)."""
        conn.sock = self._tls.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
        if conn.closed:  # aborted while the plain socket was being swapped for the TLS one
            raise _Dropped(message="connection closed before the TLS handshake")
        conn.sock.do_handshake()

    def _serve_binary(self, conn):
        raw = TSocket()
        raw.setHandle(conn.sock)
        if self.auth == "NOSASL":
            trans = TBufferedTransport(raw)
        else:
            self._wait_while_hung(conn)
            trans = _SaslServerTransport(raw, self._authenticate)
            if self.kerberos:
                from hive_ha.sandbox import gssapi_sasl

                conn.auth_user = gssapi_sasl.accept(trans, *self.kerberos)
            else:
                conn.auth_user = trans.negotiate()
        # strictRead: a SASL client talking to a NOSASL server fails at once instead of waiting for a "string" of
        # 16 MB (its START byte would be read as a length).
        protocol = TBinaryProtocol(trans, strictRead=True)
        processor = _Processor(self, conn)
        while not conn.closed:
            processor.process(protocol, protocol)

    def _forget(self, conn):
        with self._cond:
            self._conns.discard(conn)
            if self.close_sessions_on_disconnect:
                for guid in conn.session_guids:
                    self._close_session(guid)
            self._cond.notify_all()

    # -- hooks used by the processor and handler

    def _authenticate(self, user, password):
        if self.users is None:
            return True
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def _record_call(self, method):
        with self._cond:
            self._calls[method] += 1
            self._cond.notify_all()

    def _wait_while_hung(self, conn):
        with self._cond:
            self._cond.wait_for(lambda: not self._hanging or conn.closed)
        if conn.closed:
            raise _Dropped(message="connection closed while hung")

    def _take_drop(self, method):
        with self._cond:
            rule = self._drops.get(method)
            if rule is None:
                return None
            run_handler, remaining = rule
            if remaining is not None:
                if remaining <= 1:
                    del self._drops[method]
                else:
                    self._drops[method] = (run_handler, remaining - 1)
            return "reply" if run_handler else "request"

    def _take_statement_drop(self, statement):
        with self._cond:
            for i, (text, run_handler) in enumerate(self._statement_drops):
                if text in (statement or "").lower():
                    del self._statement_drops[i]
                    return "reply" if run_handler else "request"
        return None

    def _take_slow_statement(self, statement):
        with self._cond:
            for i, (text, seconds) in enumerate(self._slow_statements):
                if text in (statement or "").lower():
                    del self._slow_statements[i]
                    return seconds
        return 0.0

    def _compile(self, seconds):
        with self._cond:
            self._cond.wait_for(lambda: self._stopped, timeout=seconds)

    def _pause(self, conn, seconds):
        with self._cond:
            self._cond.wait_for(lambda: conn.closed, timeout=seconds)
        if conn.closed:
            raise _Dropped(message="connection closed during a delayed statement")

    def _proxy_user(self, auth_user, requested):
        """Whom a session asking for ``requested`` runs as (HiveServer2's proxy-privilege check), or None."""
        if not requested or self.proxy_users is None:
            return None
        real = (auth_user or "").split("@", 1)[0].split("/", 1)[0]  # hue/host@REALM -> hue, as auth_to_local does
        if real not in self.proxy_users:
            raise _SQLError("Failed to validate proxy privilege of %s for %s" % (real or "anonymous", requested),
                            "08S01")
        return requested

    def _close_session(self, guid):
        if self._sessions.pop(guid, None) is None:
            return
        for op_guid in [g for g, op in self._operations.items() if op.session_guid == guid]:
            del self._operations[op_guid]
        self._cond.notify_all()

    def _info_value(self, info_type):
        info = ttypes.TGetInfoType
        strings = {info.CLI_SERVER_NAME: "Hive", info.CLI_DBMS_NAME: "Apache Hive", info.CLI_DBMS_VER: self.version,
                   info.CLI_IDENTIFIER_QUOTE_CHAR: "`", info.CLI_SPECIAL_CHARACTERS: "",
                   info.CLI_SEARCH_PATTERN_ESCAPE: "\\"}
        lengths = {info.CLI_MAX_COLUMN_NAME_LEN: 128, info.CLI_MAX_SCHEMA_NAME_LEN: 128,
                   info.CLI_MAX_TABLE_NAME_LEN: 128}
        if info_type in strings:
            return ttypes.TGetInfoValue(stringValue=strings[info_type])
        if info_type in lengths:
            return ttypes.TGetInfoValue(lenValue=lengths[info_type])
        return None


# ------------------------------------------------------------------------------------------------ child process

_live_processes = weakref.WeakSet()


def _server_context(tls, client_ca):
    """The server's TLS context from ``(certfile, keyfile)``; with ``client_ca``, client certificates are required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def _kill_live_processes():
    for proc in list(_live_processes):
        proc.kill()


atexit.register(_kill_live_processes)


class HS2ServerProcess:
    """An HS2Server in a child process (``python -m hive_ha.sandbox.hs2server``), for real SIGKILL tests.

    The child exits by itself when this process dies (it watches its stdin for EOF), and an atexit hook kills
    children still running.

    ``registration`` (JSON-able): the child registers itself in ZooKeeper once listening, from its own session like a
    real HiveServer2, so a SIGKILL of the child leaves its znode until that session expires. Keys: ``zk_hosts``,
    ``session_timeout`` (s), ``sasl_options`` (kazoo's), ``secure_acl`` (Hive's secure ACL), ``host`` (the host to
    publish, default the server's) and ``register`` (``Registrar.register`` keywords; the port, and in HTTP transport
    the HTTP port, are the server's). ``znode`` is the path it created; ``set_active`` rewrites an hsi-ha record.
    """

    def __init__(self, name=None, *, host=LOOPBACK, port=0, auth="NONE", transport="binary",
                 http_path="cliservice", users=None, delay=0.0, running_polls=0, ready_timeout=15.0, kerberos=None,
                 env=None, registration=None, proxy_users=None):
        self._name, self.host, self.port = name, host, port
        self.kerberos, self.env = kerberos, dict(env or {})  # env: e.g. KRB5_CONFIG for a Kerberos test realm
        self.auth, self.transport, self.http_path = auth, transport, http_path
        self.users, self.delay, self.running_polls = users, delay, running_polls
        self.ready_timeout = ready_timeout
        self.registration = registration
        self.proxy_users = proxy_users
        self.znode = None
        self._proc = self._stderr = None

    def command(self):
        cmd = [rig_python(), "-m", MODULE, "--host", self.host, "--port", str(self.port), "--auth", self.auth,
               "--transport", self.transport, "--http-path", self.http_path, "--delay", str(self.delay),
               "--running-polls", str(self.running_polls), "--exit-on-stdin-eof"]
        if self._name:
            cmd += ["--name", self._name]
        for user, password in (self.users or {}).items():
            cmd += ["--user", "%s:%s" % (user, password)]
        if self.kerberos:
            cmd += ["--kerberos-principal", self.kerberos[0], "--kerberos-keytab", self.kerberos[1]]
        if self.proxy_users is not None:
            cmd += ["--proxy-users", ",".join(sorted(self.proxy_users))]
        if self.registration:
            cmd += ["--register-json", json.dumps(self.registration)]
        return cmd

    def start(self):
        """Launch the child and wait for its ``READY host:port`` line."""
        if self._proc is not None:
            raise RuntimeError("%r already started" % self)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this checkout of hive_ha
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.update(self.env)
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, env=env)
        _live_processes.add(self)
        try:
            address, _, self.znode = self._read_line("READY ", self.ready_timeout).partition(" ")
        except BaseException:
            self.kill()
            raise
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.znode = self.znode or None
        return self

    def set_active(self, active, timeout=15.0):
        """hsi-ha: the child rewrites its own record with an active (True) or passive (False) endpoint."""
        if not self.registration:
            raise RuntimeError("%r registered nothing" % self)
        self._proc.stdin.write(b"active\n" if active else b"passive\n")
        self._proc.stdin.flush()
        self.znode = self._read_line("ACTIVE " if active else "PASSIVE ", timeout)

    def _read_line(self, prefix, timeout):
        """The rest of the child's next stdout line, which must start with ``prefix`` (one line is in flight at a
        time, so the pipe's buffer never hides a second one from the selector)."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    continue
                line = self._proc.stdout.readline().decode("utf-8", "replace").strip()
                if line.startswith(prefix):
                    return line[len(prefix):]
                if not line and self._proc.poll() is not None:
                    break
                if line.startswith("ERROR "):
                    raise RuntimeError("hs2server child %s: %s" % (self.pid, line[6:]))
        raise RuntimeError("hs2server child did not answer %r (exit code %s): %s"
                           % (prefix.strip(), self._proc.poll(), self._stderr_text()))

    def _stderr_text(self):
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    @property
    def name(self):
        return self._name or "hs2-%d" % self.port

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def alive(self):
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self):
        return self._proc.poll() if self._proc else None

    def kill(self):
        """SIGKILL the child (no cleanup, sockets closed by the kernel) and reap it."""
        self._end(lambda: self._proc.send_signal(signal.SIGKILL), wait=5.0)

    def pause(self):
        """SIGSTOP the child, as a long GC pause or a hung host stops a server: its kernel still accepts
        connections, nothing answers them."""
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self):
        """SIGCONT after ``pause()``."""
        self._proc.send_signal(signal.SIGCONT)

    def stop(self, timeout=5.0):
        """SIGTERM the child (clean shutdown); SIGKILL it if it does not exit within ``timeout``."""
        if self.alive:
            self.resume()  # a stopped process acts on SIGTERM only once continued
        self._end(self._proc.terminate if self._proc else None, wait=timeout)
        if self.alive:
            self.kill()

    def restart(self):
        """Stop the child if it still runs and start a fresh one on the same port (a server coming back)."""
        self.stop()
        self._proc = None
        return self.start()

    def _end(self, send, wait):
        if self._proc is None:
            return
        if self._proc.poll() is None:
            send()
            try:
                self._proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                return
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            stream.close()
        _live_processes.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return "<HS2ServerProcess %s pid=%s %s:%s>" % (self._name, self.pid, self.host, self.port)


# ---------------------------------------------------------------------------------------------------------- main


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m " + MODULE, description="HiveServer2-protocol test server.")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--name", help="what select current_server() returns (default hs2-<port>)")
    parser.add_argument("--auth", choices=AUTH_MODES, default="NONE", help="hive.server2.authentication")
    parser.add_argument("--transport", choices=TRANSPORTS, default="binary")
    parser.add_argument("--http-path", default="cliservice")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                        help="accepted credentials (repeatable); without any, every password is accepted")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--running-polls", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when the parent closes stdin")
    parser.add_argument("--kerberos-principal", help="with --auth KERBEROS: the server principal (hive/host@REALM)")
    parser.add_argument("--kerberos-keytab", help="with --auth KERBEROS: the keytab holding its key")
    parser.add_argument("--proxy-users", metavar="USER[,USER...]",
                        help="the authenticated users that may impersonate others (hadoop.proxyuser.USER; empty: "
                             "nobody); without it, hive.server2.proxy.user is recorded only")
    parser.add_argument("--register-json", metavar="JSON",
                        help="register in ZooKeeper from this process (see HS2ServerProcess's registration)")
    return parser.parse_args(argv)


def _read_commands(fd, at_eof, answer):
    """Answer each line on ``fd`` with ``answer(line)`` on stdout; call ``at_eof()`` at EOF (the parent is gone)."""
    # os.read, not sys.stdin: a daemon thread blocked inside a BufferedReader makes interpreter shutdown abort.
    pending = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            sys.stdout.write(answer(line.decode("utf-8", "replace").strip()) + "\n")
            sys.stdout.flush()
    at_eof()


def _register(spec, server):
    """``(registrar, registration)`` of ``server`` made from this process, per ``HS2ServerProcess.registration``."""
    from hive_ha.sandbox.registrar import Registrar, hive_secure_acl

    registrar = Registrar(spec["zk_hosts"], sasl_options=spec.get("sasl_options"),
                          acl=hive_secure_acl() if spec.get("secure_acl") else None,
                          session_timeout=spec.get("session_timeout", 3.0))
    kwargs = dict(spec.get("register") or {})
    if server.transport == "http":
        kwargs["http_port"] = server.port
    try:
        return registrar, registrar.register(spec.get("host") or server.host, server.port, **kwargs)
    except BaseException:
        registrar.close()
        raise


def _answer(registrar, registration):
    """The child's side of ``HS2ServerProcess.set_active``."""
    def answer(command):
        if registration is None or command not in ("active", "passive"):
            return "ERROR cannot %r here" % command
        try:
            registrar.set_active(registration, command == "active")
        except Exception as exc:  # noqa: BLE001 - the parent gets the reason
            return "ERROR %s: %s" % (type(exc).__name__, exc)
        return "%s %s" % (command.upper(), registration.znode)
    return answer


def main(argv=None):
    """Run a server until SIGTERM/SIGINT; print ``READY host:port`` once listening."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    users = dict(u.split(":", 1) for u in args.user) if args.user else None
    server = HS2Server(args.name, host=args.host, port=args.port, auth=args.auth, transport=args.transport,
                       http_path=args.http_path, users=users, delay=args.delay, running_polls=args.running_polls,
                       kerberos=(args.kerberos_principal, args.kerberos_keytab) if args.kerberos_principal else None,
                       proxy_users=None if args.proxy_users is None else [u for u in args.proxy_users.split(",") if u])
    signals = StopSignals().install()  # a handler that takes no lock (Event.set() in one can deadlock)
    server.start()
    registrar = registration = None
    try:
        if args.register_json:
            registrar, registration = _register(json.loads(args.register_json), server)
        if args.exit_on_stdin_eof:
            threading.Thread(target=_read_commands,
                             args=(sys.stdin.fileno(), signals.wake, _answer(registrar, registration)),
                             daemon=True).start()
        print("READY %s:%d%s" % (server.host, server.port, " " + registration.znode if registration else ""),
              flush=True)
        signals.wait()  # SIGTERM, SIGINT, or the parent gone
    finally:
        if registrar is not None:
            registrar.close()  # a clean shutdown deregisters first, as HiveServer2.stop() does
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
