"""The HiveServer2-protocol test server, exercised with real clients: PyHive (binary NOSASL, SASL PLAIN via pure-sasl,
HTTP) and thrift's own TSocket/THttpClient + TCLIService.Client."""
import http.client
import signal
import socket
import ssl
import struct
import threading
import time

import pytest
import thrift_sasl
from pyhive import hive
from pyhive.exc import OperationalError, ProgrammingError
from TCLIService import TCLIService, ttypes
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport.THttpClient import THttpClient
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport, TTransportException

from hive_ha.sandbox.hs2server import V6

SUCCESS = ttypes.TStatusCode.SUCCESS_STATUS
ERROR = ttypes.TStatusCode.ERROR_STATUS
State = ttypes.TOperationState


# ---------------------------------------------------------------------------------------------------------- helpers


def connect(server, username="bob", **kwargs):
    """PyHive connection with the client arguments that match the server's auth/transport."""
    if server.transport == "http":
        return hive.connect(server.host, server.port, scheme="http", username=username, **kwargs)
    auth = kwargs.pop("auth", "NOSASL" if server.auth == "NOSASL" else "NONE")
    return hive.connect(server.host, server.port, auth=auth, username=username, **kwargs)


def query(conn, sql):
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def socket_transport(server, timeout_ms=None, sasl=None, user="bob", password="x"):
    """An unopened thrift transport for a binary server, as PyHive builds it, plus its TSocket (for timeouts).

    sasl: SASL PLAIN framing (thrift_sasl + pure-sasl, PyHive's auth NONE/LDAP/CUSTOM) or the plain buffered
    transport (auth NOSASL); by default whatever the server expects.
    """
    sock = TSocket(server.host, server.port)
    if timeout_ms:
        sock.setTimeout(timeout_ms)
    if sasl is None:
        sasl = server.auth != "NOSASL"
    if not sasl:
        return TBufferedTransport(sock), sock
    factory = lambda: hive.get_installed_sasl(server.host, "PLAIN", username=user, password=password)  # noqa: E731
    return thrift_sasl.TSaslClientTransport(factory, "PLAIN", sock), sock


class RawClient:
    """TCLIService.Client over an open transport, with session helpers."""

    def __init__(self, transport):
        self.transport = transport
        self.protocol = TBinaryProtocol(transport)
        self.client = TCLIService.Client(self.protocol)
        transport.open()

    def open_session(self, **config):
        resp = self.client.OpenSession(ttypes.TOpenSessionReq(client_protocol=V6, username="raw", configuration=config))
        assert resp.status.statusCode == SUCCESS, resp
        return resp.sessionHandle

    def execute(self, session, sql, run_async=False):
        return self.client.ExecuteStatement(ttypes.TExecuteStatementReq(session, sql, runAsync=run_async))

    def fetch_all(self, op_handle):
        resp = self.client.FetchResults(ttypes.TFetchResultsReq(op_handle, ttypes.TFetchOrientation.FETCH_NEXT, 1000))
        assert resp.status.statusCode == SUCCESS, resp
        columns = [next(v for v in col.__dict__.values() if v is not None).values for col in resp.results.columns]
        return list(zip(*columns))

    def call_unknown(self, name):
        """Send a call the TCLIService IDL does not have (like impyla's Impala-only methods); return the reply."""
        self.protocol.writeMessageBegin(name, TMessageType.CALL, 7)
        self.protocol.writeStructBegin("args")
        self.protocol.writeFieldStop()
        self.protocol.writeStructEnd()
        self.protocol.writeMessageEnd()
        self.transport.flush()
        _, message_type, seqid = self.protocol.readMessageBegin()
        error = TApplicationException()
        error.read(self.protocol)
        self.protocol.readMessageEnd()
        return message_type, seqid, error

    def close(self):
        self.transport.close()


@pytest.fixture
def nosasl(hs2_server_factory):
    return hs2_server_factory("hs2-n", auth="NOSASL")


# ------------------------------------------------------------------------------------------------ PyHive, happy path


@pytest.mark.parametrize("auth", ["NOSASL", "NONE"])
def test_pyhive_execute_fetch_and_which_server(hs2_server_factory, auth):
    server = hs2_server_factory("hs2-" + auth.lower(), auth=auth)
    conn = connect(server, configuration={"hive.exec.parallel": "true"})
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT current_server(), 1, 'two' AS t, current_user()")
        assert cursor.fetchall() == [(server.name, 1, "two", "bob")]
        assert [d[:2] for d in cursor.description] == [
            ("_c0", "STRING_TYPE"), ("_c1", "INT_TYPE"), ("t", "STRING_TYPE"), ("_c3", "STRING_TYPE")]
        assert query(conn, "select 12345678901") == [(12345678901,)]
        [session] = server.sessions
        assert session.username == "bob"
        assert session.auth_user == (None if auth == "NOSASL" else "bob")
        assert session.config["hive.exec.parallel"] == "true"
        assert server.call_count("ExecuteStatement") == 3  # PyHive's USE `default` + two queries
    finally:
        conn.close()
    assert server.sessions == []
    assert server.calls["CloseSession"] == 1


def test_sasl_none_accepts_any_password(hs2_server):
    conn = hive.connect(hs2_server.host, hs2_server.port, auth="CUSTOM", username="carol", password="whatever")
    with conn:
        assert query(conn, "select current_user()") == [("carol",)]


def test_sasl_ldap_checks_credentials(hs2_server_factory):
    server = hs2_server_factory(auth="LDAP", users={"alice": "secret"})
    with hive.connect(server.host, server.port, auth="LDAP", username="alice", password="secret") as conn:
        assert query(conn, "select current_user(), current_database()") == [("alice", "default")]
    for user, password in [("alice", "wrong"), ("mallory", "secret")]:
        with pytest.raises(TTransportException, match=r"Bad status: 3 .*Error validating the login"):
            hive.connect(server.host, server.port, auth="LDAP", username=user, password=password)
    assert server.calls["OpenSession"] == 1


def test_impersonation_as_hiveserver2_checks_it(hs2_server_factory):
    """hive.server2.proxy.user: the session runs as that user when the authenticated one may impersonate
    (hadoop.proxyuser.<user>.*), else OpenSession fails with HiveServer2's words."""
    server = hs2_server_factory(auth="CUSTOM", users={"hue": "pw", "mallory": "pw"}, proxy_users={"hue"})
    proxied = {"hive.server2.proxy.user": "alice"}
    with hive.connect(server.host, server.port, auth="CUSTOM", username="hue", password="pw",
                      configuration=proxied) as conn:
        assert query(conn, "select current_user(), logged_in_user()") == [("alice", "hue")]
    with pytest.raises(Exception, match="Failed to validate proxy privilege of mallory for alice"):
        hive.connect(server.host, server.port, auth="CUSTOM", username="mallory", password="pw",
                     configuration=proxied)
    with hive.connect(server.host, server.port, auth="CUSTOM", username="mallory", password="pw") as conn:
        assert query(conn, "select current_user(), logged_in_user()") == [("mallory", "mallory")]


def test_bad_sql_raises_operational_error_like_hive(hs2_server):
    with connect(hs2_server) as conn:
        with pytest.raises(OperationalError) as excinfo:
            query(conn, "SELEC 1 FROM nowhere")
        status = excinfo.value.args[0].status
        assert status.statusCode == ERROR
        assert status.sqlState == "42000" and status.errorCode == 40000
        assert "ParseException line 1:0 cannot recognize input near 'SELEC' '1' 'FROM'" in status.errorMessage
        assert query(conn, "select 1") == [(1,)]  # the session survives a failed statement


def test_use_set_and_show(hs2_server_factory):
    server = hs2_server_factory(databases=["default", "sales"], tables={"sales.orders": [("id", "int")]})
    with connect(server) as conn:
        assert query(conn, "show databases") == [("default",), ("sales",)]
        cursor = conn.cursor()
        cursor.execute("use sales")
        assert cursor.description is None
        with pytest.raises(ProgrammingError):  # no result set, PyHive checks the handle
            cursor.fetchall()
        assert query(conn, "select current_database()") == [("sales",)]
        assert query(conn, "show tables") == [("orders",)]
        with pytest.raises(OperationalError, match="Database does not exist: nope"):
            query(conn, "USE `nope`;")
        conn.cursor().execute("SET hive.execution.engine=tez")
        assert query(conn, "set hive.execution.engine") == [("hive.execution.engine=tez",)]
        assert query(conn, "set nothing.here") == [("nothing.here is undefined",)]


def test_two_servers_counters_tell_which_answered(hs2_server_factory):
    a, b = hs2_server_factory("hs2-a"), hs2_server_factory("hs2-b")
    with connect(b) as conn:
        assert query(conn, "select server()") == [("hs2-b",)]
    assert b.statements == ["USE `default`", "select server()"]
    assert a.calls == {} and a.accepted == 0


def test_async_statement_runs_for_n_polls(hs2_server_factory):
    server = hs2_server_factory(running_polls=2)
    with connect(server) as conn:
        cursor = conn.cursor()
        cursor.execute("select 7", async_=True)
        with pytest.raises(OperationalError, match="Expected state FINISHED, but found RUNNING"):
            cursor.fetchall()
        states = [cursor.poll().operationState for _ in range(3)]
        assert states == [State.RUNNING_STATE, State.RUNNING_STATE, State.FINISHED_STATE]
        assert cursor.fetchall() == [(7,)]
        assert any("Compiling command" in line for line in cursor.fetch_logs())  # via GetLog


def test_sync_statement_delay(hs2_server_factory):
    server = hs2_server_factory(delay=0.2)
    with connect(server) as conn:
        started = time.monotonic()
        assert query(conn, "select 1") == [(1,)]
        assert time.monotonic() - started >= 0.2
        server.delay = 0
        cursor = conn.cursor()
        cursor.execute("select 2")
        assert cursor.poll().operationState == State.FINISHED_STATE


def test_cancel_operation(hs2_server_factory):
    server = hs2_server_factory(running_polls=100)
    with connect(server) as conn:
        cursor = conn.cursor()
        cursor.execute("select 1", async_=True)
        cursor.cancel()
        assert cursor.poll().operationState == State.CANCELED_STATE


def test_concurrent_clients(hs2_server):
    results, errors = [], []

    def run(i):
        try:
            with connect(hs2_server, username="u%d" % i) as conn:
                results.append(query(conn, "select %d, current_user()" % i)[0])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sorted(results) == [(i, "u%d" % i) for i in range(8)]


def test_session_closed_when_binary_connection_ends(hs2_server):
    conn = connect(hs2_server)
    assert len(hs2_server.sessions) == 1
    conn._transport.close()  # no CloseSession, like a client that died
    hs2_server.wait_until(lambda: not hs2_server.sessions, message="session outlived its connection")


# ---------------------------------------------------------------------------------------------------- raw Thrift


def test_invalid_handles_answer_error_status(nosasl):
    raw = RawClient(socket_transport(nosasl)[0])
    try:
        bogus = ttypes.TSessionHandle(ttypes.THandleIdentifier(guid=b"\1" * 16, secret=b"\2" * 16))
        resp = raw.execute(bogus, "select 1")
        assert resp.status.statusCode == ERROR
        assert resp.status.errorMessage.startswith("Invalid SessionHandle: SessionHandle [01010101-")
        op = ttypes.TOperationHandle(ttypes.THandleIdentifier(b"\3" * 16, b"\4" * 16), 0, True)
        resp = raw.client.FetchResults(ttypes.TFetchResultsReq(op, 0, 10))
        assert resp.status.statusCode == ERROR
        assert resp.status.errorMessage.startswith("Invalid OperationHandle: OperationHandle [opType=EXECUTE_STATEMENT")
        session = raw.open_session()
        raw.client.CloseSession(ttypes.TCloseSessionReq(session))
        resp = raw.client.CloseSession(ttypes.TCloseSessionReq(session))
        assert "Invalid SessionHandle" in resp.status.errorMessage
    finally:
        raw.close()


def test_unknown_method_is_an_application_exception_and_connection_survives(nosasl):
    raw = RawClient(socket_transport(nosasl)[0])
    try:
        message_type, seqid, error = raw.call_unknown("GetRuntimeProfile")  # Impala-only
        assert (message_type, seqid) == (TMessageType.EXCEPTION, 7)
        assert error.type == TApplicationException.UNKNOWN_METHOD
        assert "GetRuntimeProfile" in error.message
        session = raw.open_session()  # same connection, still in sync
        resp = raw.client.GetDelegationToken(ttypes.TGetDelegationTokenReq(session, "bob", "hive"))
        assert resp.status.statusCode == ERROR and "not supported" in resp.status.errorMessage
        assert raw.fetch_all(raw.execute(session, "select 'still here'").operationHandle) == [("still here",)]
    finally:
        raw.close()
    assert nosasl.calls["GetRuntimeProfile"] == 1


@pytest.mark.parametrize("auth", ["NOSASL", "NONE"])
def test_impala_only_call_with_binary_guids_is_skipped_and_connection_survives(hs2_server_factory, auth):
    """impyla's CloseImpalaOperation(TCloseImpalaOperationReq{1: TOperationHandle}) carries raw GUID bytes: the
    server must skip them by wire type (no UTF-8 decoding) and answer UNKNOWN_METHOD as Hive's libthrift does."""
    server = hs2_server_factory("hs2-impyla", auth=auth)
    raw = RawClient(socket_transport(server)[0])
    not_utf8 = bytes(range(0x80, 0x90))
    handle = ttypes.TOperationHandle(ttypes.THandleIdentifier(guid=not_utf8, secret=b"\xff\xfe" * 8),
                                     ttypes.TOperationType.EXECUTE_STATEMENT, True)
    try:
        proto = raw.protocol
        proto.writeMessageBegin("CloseImpalaOperation", TMessageType.CALL, 11)
        proto.writeStructBegin("CloseImpalaOperation_args")
        proto.writeFieldBegin("req", TType.STRUCT, 1)
        proto.writeStructBegin("TCloseImpalaOperationReq")
        proto.writeFieldBegin("operationHandle", TType.STRUCT, 1)
        handle.write(proto)
        proto.writeFieldEnd()
        proto.writeFieldBegin("blobs", TType.MAP, 2)  # containers of binary values are skipped the same way
        proto.writeMapBegin(TType.STRING, TType.LIST, 1)
        proto.writeBinary(b"\xc3\x28")
        proto.writeListBegin(TType.STRING, 2)
        proto.writeBinary(not_utf8)
        proto.writeBinary(b"\xed\xa0\x80")
        proto.writeListEnd()
        proto.writeMapEnd()
        proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        raw.transport.flush()
        name, message_type, seqid = proto.readMessageBegin()
        error = TApplicationException()
        error.read(proto)
        proto.readMessageEnd()
        assert (name, message_type, seqid) == ("CloseImpalaOperation", TMessageType.EXCEPTION, 11)
        assert error.type == TApplicationException.UNKNOWN_METHOD
        assert error.message == "Invalid method name: 'CloseImpalaOperation'"
        session = raw.open_session()  # same connection, still in sync
        assert raw.fetch_all(raw.execute(session, "select current_server()").operationHandle) == [("hs2-impyla",)]
    finally:
        raw.close()
    assert server.calls["CloseImpalaOperation"] == 1


def test_metadata_calls(hs2_server_factory):
    server = hs2_server_factory(auth="NOSASL", databases=["default", "sales"],
                                tables={"sales.orders": [("id", "bigint"), ("note", "string")],
                                        "default.t1": [("x", "int")]})
    raw = RawClient(socket_transport(server)[0])
    try:
        session = raw.open_session(**{"use:database": "sales"})
        assert server.sessions[0].database == "sales"
        schemas = raw.client.GetSchemas(ttypes.TGetSchemasReq(session, schemaName="s%"))
        assert raw.fetch_all(schemas.operationHandle) == [("sales", "")]
        tables = raw.client.GetTables(ttypes.TGetTablesReq(session, schemaName="*", tableName="%"))
        assert [row[1:4] for row in raw.fetch_all(tables.operationHandle)] == [
            ("default", "t1", "TABLE"), ("sales", "orders", "TABLE")]
        columns = raw.client.GetColumns(ttypes.TGetColumnsReq(session, schemaName="sales", tableName="orders"))
        assert [(r[3], r[4], r[5], r[8]) for r in raw.fetch_all(columns.operationHandle)] == [
            ("id", -5, "BIGINT", 1), ("note", 12, "STRING", 2)]
        meta = raw.client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(columns.operationHandle))
        assert meta.schema.columns[4].typeDesc.types[0].primitiveEntry.type == ttypes.TTypeId.INT_TYPE
        info = raw.client.GetInfo(ttypes.TGetInfoReq(session, ttypes.TGetInfoType.CLI_DBMS_NAME))
        assert info.infoValue.stringValue == "Apache Hive"
    finally:
        raw.close()


# ------------------------------------------------------------------------------------------------------------- HTTP


def test_http_with_pyhive(hs2_server_factory):
    server = hs2_server_factory("hs2-h", transport="http")
    with hive.connect(server.host, server.port, scheme="http", username="dave", password="pw") as conn:
        assert query(conn, "select current_server(), current_user()") == [("hs2-h", "dave")]
    assert server.calls["CloseSession"] == 1 and server.sessions == []


def test_http_with_thrift_client_and_basic_auth(hs2_server_factory):
    server = hs2_server_factory(transport="http", users={"erin": "pw"})
    transport = THttpClient(server.url)  # no trailing slash, unlike PyHive's "/cliservice/"
    transport.setCustomHeaders({"Authorization": "Basic ZXJpbjpwdw=="})  # erin:pw
    raw = RawClient(transport)
    try:
        session = raw.open_session()
        assert raw.fetch_all(raw.execute(session, "select current_user()").operationHandle) == [("erin",)]
        transport.setCustomHeaders({"Authorization": "Basic ZXJpbjpubw=="})  # erin:no
        with pytest.raises(EOFError):  # THttpClient ignores the 401 status and hits the empty body: a bare EOFError
            raw.execute(session, "select 1")
        assert transport.code == 401
    finally:
        raw.close()
    with pytest.raises(EOFError):  # PyHive over HTTP: the same
        hive.connect(server.host, server.port, scheme="http", username="erin", password="no")
    assert server.calls["OpenSession"] == 1


def tls_client(server, ca, cert=None):
    """A RawClient over TLS with thrift's own clients (TSSLSocket with a context, THttpClient over HTTPS)."""
    from thrift.transport.TSSLSocket import TSSLSocket

    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(*cert)
    if server.transport == "http":
        return RawClient(THttpClient(server.url, ssl_context=context))
    # the context checks the host name; thrift's own callback would repeat it with deprecated ssl.match_hostname
    sock = TSSLSocket("localhost", server.port, ssl_context=context, validate_callback=lambda cert, hostname: None)
    return RawClient(TBufferedTransport(sock))


@pytest.mark.parametrize("transport", ["binary", "http"])
def test_tls_serves_either_transport_and_can_require_client_certificates(hs2_server_factory, hs2_tls, transport):
    server = hs2_server_factory("hs2-tls", auth="NOSASL", transport=transport, tls=hs2_tls.server)
    assert server.url.startswith("https://")
    raw = tls_client(server, hs2_tls.ca)
    try:
        assert raw.fetch_all(raw.execute(raw.open_session(), "select server()").operationHandle) == [("hs2-tls",)]
    finally:
        raw.close()
    with pytest.raises((ssl.SSLError, TTransportException)):  # a client trusting another CA refuses the server
        tls_client(server, hs2_tls.stranger_ca).open_session()
    strict = hs2_server_factory("hs2-mtls", auth="NOSASL", transport=transport, tls=hs2_tls.server,
                                tls_client_ca=hs2_tls.ca)
    with pytest.raises((ssl.SSLError, TTransportException)):  # no client certificate: the server hangs up
        tls_client(strict, hs2_tls.ca).open_session()
    raw = tls_client(strict, hs2_tls.ca, cert=hs2_tls.client)
    try:
        assert raw.fetch_all(raw.execute(raw.open_session(), "select server()").operationHandle) == [("hs2-mtls",)]
    finally:
        raw.close()


def test_http_path_is_configurable(hs2_server_factory):
    server = hs2_server_factory("hs2-p", transport="http", http_path="gateway/hive")
    raw = RawClient(THttpClient(server.url))
    try:
        session = raw.open_session()
        assert raw.fetch_all(raw.execute(session, "select server()").operationHandle) == [("hs2-p",)]
    finally:
        raw.close()
    wrong = RawClient(THttpClient("http://%s:%d/cliservice" % (server.host, server.port)))
    try:
        with pytest.raises(EOFError):
            wrong.open_session()
        assert wrong.transport.code == 404
    finally:
        wrong.close()


# ------------------------------------------------------------------------------------------------- fault injection


def test_refuse_and_resume(nosasl):
    with connect(nosasl) as conn:
        nosasl.refuse()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((nosasl.host, nosasl.port), timeout=2).close()
        with pytest.raises(TTransportException, match="Could not connect"):
            connect(nosasl)
        assert query(conn, "select 1") == [(1,)]  # open connections keep working
        nosasl.resume()
        with connect(nosasl) as again:
            assert query(again, "select current_server()") == [("hs2-n",)]


@pytest.mark.parametrize("auth", ["NOSASL", "NONE"])
def test_hang_times_out_clients(hs2_server_factory, auth):
    server = hs2_server_factory(auth=auth)
    transport, sock = socket_transport(server, timeout_ms=5000)
    conn = hive.connect(thrift_transport=transport)
    try:
        server.hang()
        sock.setTimeout(300)
        started = time.monotonic()
        with pytest.raises(TTransportException) as excinfo:
            query(conn, "select 1")
        assert isinstance(excinfo.value.inner, TimeoutError)  # thrift reports a timeout as "unexpected exception"
        assert time.monotonic() - started < 3
        server.wait_for_calls("ExecuteStatement", 2)  # the request reached the server; it just never answered
        with pytest.raises(TTransportException):  # a new connection hangs too (in the SASL handshake, if any)
            hive.connect(thrift_transport=socket_transport(server, timeout_ms=300)[0])
    finally:
        transport.close()
    server.unhang()
    with connect(server) as again:
        assert query(again, "select 1") == [(1,)]


def test_drop_next_closes_connection_mid_call(hs2_server):
    conn = connect(hs2_server)
    try:
        hs2_server.drop_next("ExecuteStatement")
        with pytest.raises(TTransportException, match="read 0 bytes"):
            query(conn, "select 1")
    finally:
        conn._transport.close()
    assert "select 1" not in hs2_server.statements  # dropped before the statement ran
    with connect(hs2_server) as again:  # one-shot
        assert query(again, "select 2") == [(2,)]


def test_drop_after_handler_runs_the_statement_and_loses_the_reply(hs2_server):
    hs2_server.drop_next("ExecuteStatement", run_handler=True)
    hs2_server.drop_next("ExecuteStatement", run_handler=True)  # queued: a second one
    for sql in ("select 'a'", "select 'b'"):
        raw = RawClient(socket_transport(hs2_server)[0])
        session = raw.open_session()
        with pytest.raises(TTransportException):
            raw.execute(session, sql)
        raw.close()
    assert hs2_server.statements == ["select 'a'", "select 'b'"]
    with connect(hs2_server) as again:
        assert query(again, "select 3") == [(3,)]


def test_drop_on_until_cleared(nosasl):
    nosasl.drop_on("OpenSession")
    for _ in range(2):
        with pytest.raises(TTransportException):
            connect(nosasl)
    nosasl.clear_drops()
    with connect(nosasl) as conn:
        assert query(conn, "select 1") == [(1,)]
    assert nosasl.calls["OpenSession"] == 3


def test_drop_in_http_mode(hs2_server_factory):
    server = hs2_server_factory(transport="http")
    with connect(server) as conn:
        server.drop_next("ExecuteStatement")
        with pytest.raises(http.client.RemoteDisconnected):  # THttpClient does not wrap http.client errors
            query(conn, "select 1")
        assert query(conn, "select 2") == [(2,)]  # next request, new HTTP connection, same session


def test_kill_breaks_open_connections_and_forgets_sessions(hs2_server):
    conn = connect(hs2_server)
    try:
        assert query(conn, "select 1") == [(1,)]
        hs2_server.kill()
        assert hs2_server.sessions == []
        with pytest.raises(TTransportException):
            query(conn, "select 1")
        with pytest.raises(TTransportException, match="Could not connect"):
            connect(hs2_server)
    finally:
        conn._transport.close()
    hs2_server.resume()  # "restarted": same port, no old sessions
    with connect(hs2_server) as again:
        assert query(again, "select current_server()") == [("hs2-a",)]
    hs2_server.wait_until(lambda: hs2_server.connections == 0)


def test_stop_closes_everything_and_joins_threads(hs2_server_factory):
    server = hs2_server_factory(auth="NOSASL")
    conn = connect(server)
    server.hang()
    errors = []

    def blocked_query():
        try:
            query(conn, "select 1")
        except TTransportException as exc:
            errors.append(exc)

    stuck = threading.Thread(target=blocked_query)
    stuck.start()
    server.wait_for_calls("ExecuteStatement", 2)
    server.stop()
    stuck.join(5)
    conn._transport.close()
    assert not stuck.is_alive() and len(errors) == 1
    assert server.connections == 0
    assert not [t for t in threading.enumerate() if t.name.startswith(server.name + "-")]


def test_auth_mismatch_fails_fast(hs2_server_factory):
    nosasl_server = hs2_server_factory(auth="NOSASL")
    sasl_server = hs2_server_factory(auth="NONE")
    started = time.monotonic()
    with pytest.raises(TTransportException) as excinfo:  # SASL client, NOSASL server: closed at once
        hive.connect(thrift_transport=socket_transport(nosasl_server, timeout_ms=3000, sasl=True)[0])
    # EOF, or a reset when the client's second SASL message arrived after the server gave up; never a timeout
    # (waiting for a 16 MB "string", which is what the START byte would mean to a non-strict reader).
    assert not isinstance(excinfo.value.inner, TimeoutError) and time.monotonic() - started < 2.5
    with pytest.raises(TTransportException):  # NOSASL client, SASL server: ERROR status, then closed
        hive.connect(thrift_transport=socket_transport(sasl_server, timeout_ms=3000, sasl=False)[0])


def test_sasl_unsupported_mechanism_gets_bad_status(hs2_server):
    sock = socket.create_connection((hs2_server.host, hs2_server.port), timeout=5)
    try:
        sock.sendall(struct.pack(">BI", 1, 6) + b"GSSAPI" + struct.pack(">BI", 2, 0))
        status, length = struct.unpack(">BI", sock.recv(5))
        assert status == 3 and b"Unsupported mechanism type GSSAPI" in sock.recv(length)
    finally:
        sock.close()


# ------------------------------------------------------------------------------------------------- child process


@pytest.mark.parametrize("transport", ["binary", "http"])
def test_subprocess_server_sigkill(hs2_process_factory, transport):
    proc = hs2_process_factory("hs2-p", auth="NONE", transport=transport)
    conn = connect(proc)
    try:
        assert query(conn, "select current_server()") == [("hs2-p",)]
        proc.kill()
        assert proc.returncode == -signal.SIGKILL and not proc.alive
        # binary: the kernel closed the socket (EOF); HTTP: the next request's connect is refused
        with pytest.raises((TTransportException, ConnectionRefusedError)):
            query(conn, "select 1")
        with pytest.raises((TTransportException, ConnectionRefusedError)):
            connect(proc)
    finally:
        conn._transport.close()
    port = proc.port
    proc.restart()  # back on the same port, as a new process
    assert proc.port == port and proc.alive
    with connect(proc) as again:
        assert query(again, "select current_server()") == [("hs2-p",)]
