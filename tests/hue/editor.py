"""One user's SQL editor, speaking Hue's notebook API with the form fields Hue's frontend sends.

The same driver runs in-process (Django's test client on ``/notebook/api/...``) and over HTTP against Hue's own
server (the JWT REST API ``/api/v1/editor/...``, which the same views serve). Every call goes through Hue's
views, ``notebook.connectors.base.get_api`` and ``HS2Api`` exactly as a browser's does.
"""
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from hive_ha.testing.waiting import wait_until

#: Hue's JSON status codes (notebook/decorators.py api_error_handler).
OK, QUERY_ERROR, EXPIRED = 0, 1, -3


class EditorError(AssertionError):
    """A notebook API call answered something other than success; ``response`` is Hue's JSON."""

    def __init__(self, call, response):
        self.call, self.response = call, response
        self.status, self.message = response.get("status"), response.get("message", "")
        super().__init__(f"{call}: status {self.status}: {self.message or response}")


class DjangoTransport:
    """In-process: Django's test client, logged in (Hue's own ``make_logged_in_client``)."""

    prefix = "/notebook/api"

    def __init__(self, client):
        self.client = client

    def post(self, path, data):
        response = self.client.post(self.prefix + path, data)
        assert response.status_code == 200, f"{path}: HTTP {response.status_code}: {response.content[:500]!r}"
        return json.loads(response.content)


class HttpError(AssertionError):
    """An HTTP answer other than 200 (``code``, and the start of the ``body``)."""

    def __init__(self, path, code, body):
        self.path, self.code, self.body = path, code, body
        super().__init__(f"{path}: HTTP {code}: {body[:500]!r}")


class HttpTransport:
    """Over HTTP against a running Hue: JWT from ``/api/v1/token/auth/``, then ``/api/v1/editor/...``.

    ``cookies``: keep the cookies the server sets, as a browser-based client does (behind a load balancer: its
    stickiness cookie); without, every request stands alone, as a script's does."""

    prefix = "/api/v1/editor"

    def __init__(self, base_url, username, password, timeout=60.0, cookies=False):
        import http.cookiejar

        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.jar = http.cookiejar.CookieJar() if cookies else None
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)] if cookies else []
        self.opener = urllib.request.build_opener(*handlers)
        self.headers = {}
        token = self._request("/api/v1/token/auth/", {"username": username, "password": password})
        self.token = token["access"]
        self.headers = {"Authorization": "Bearer " + self.token}

    def post(self, path, data):
        return self._request(self.prefix + path, data)

    def get(self, path, params):
        return self._request(self.prefix + path + "?" + urllib.parse.urlencode(params), None)

    def cookie(self, name):
        return next((c.value for c in self.jar or () if c.name == name), None)

    def _request(self, path, data):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body, headers=self.headers)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise HttpError(path, exc.code, exc.read()) from None


class Editor:
    """A query editor tab: one notebook holding the sessions Hue handed out, one snippet per statement."""

    def __init__(self, transport, dialect="hive"):
        self.transport, self.dialect = transport, dialect
        self.notebook = {"id": None, "uuid": str(uuid.uuid4()), "type": f"query-{dialect}", "name": "",
                         "isSaved": False, "sessions": [], "snippets": []}

    # -- the calls the frontend makes ---------------------------------------------------------------------
    def create_session(self):
        response = self._post("create_session", {"session": json.dumps({"type": self.dialect, "properties": []})})
        session = response["session"]
        self.notebook["sessions"] = [session]
        return session

    def execute(self, statement):
        """``execute/<dialect>``; returns the snippet (with its handle) for the calls that follow."""
        snippet = {"id": str(uuid.uuid4()), "type": self.dialect, "status": "ready", "statement": statement,
                   "statement_raw": statement, "database": "default", "variables": [], "wasBatchExecuted": False,
                   "properties": {"settings": [], "files": [], "functions": []}, "result": {"handle": {}}}
        self.notebook["snippets"] = [snippet]
        response = self._post(f"execute/{self.dialect}", {"notebook": json.dumps(self.notebook),
                                                           "snippet": json.dumps(snippet)})
        if not response.get("handle"):
            raise EditorError("execute", response)
        snippet["result"]["handle"] = response["handle"]
        snippet["status"] = "running"
        snippet["operation_id"] = response.get("history_uuid")
        return snippet

    def check_status(self, snippet):
        return self._post("check_status", self._snippet_fields(snippet))["query_status"]

    def fetch_result_data(self, snippet, rows=100, start_over=True):
        fields = dict(self._snippet_fields(snippet), rows=str(rows), startOver=json.dumps(start_over))
        return self._post("fetch_result_data", fields)["result"]

    def close_session(self, session_id):
        """Close the user's HiveServer2 session ``session_id`` (a ``Session`` row id: an execute reply's
        ``handle["session_id"]``), as the editor's "close session" does."""
        session = {"type": self.dialect, "id": session_id, "properties": []}
        return self._post("close_session", {"session": json.dumps(session)})

    def close_statement(self, snippet):
        return self._post("close_statement", self._snippet_fields(snippet), accept=(OK, -1))

    def autocomplete(self):
        snippet = {"type": self.dialect, "properties": {}, "result": {}}
        return self._post("autocomplete", {"notebook": json.dumps(self.notebook), "snippet": json.dumps(snippet)})

    # -- what a user does -------------------------------------------------------------------------------
    def run(self, statement, timeout=30.0):
        """Execute, poll until available, fetch: the rows, as lists."""
        snippet = self.execute(statement)
        self.wait(snippet, timeout)
        return [list(row) for row in self.fetch_result_data(snippet)["data"]]

    def wait(self, snippet, timeout=30.0):
        wait_until(lambda: self.check_status(snippet)["status"] == "available", timeout, interval=0.05,
                   message=f"{snippet['statement']!r} did not finish")
        snippet["status"] = "available"

    def history(self):
        """The statements of this user's query history, newest first (Hue's ``get_history``; HTTP only)."""
        response = self.transport.get("/get_history", {"doc_type": self.dialect, "limit": "100"})
        return [entry["data"].get("statement") for entry in response["history"]]

    def session_id(self):
        return self.notebook["sessions"][0]["id"] if self.notebook["sessions"] else None

    # -- plumbing ---------------------------------------------------------------------------------------
    def _snippet_fields(self, snippet):
        fields = {"notebook": json.dumps(self.notebook), "snippet": json.dumps(snippet)}
        if snippet.get("operation_id"):
            fields["operationId"] = snippet["operation_id"]
        return fields

    def _post(self, call, data, accept=(OK,)):
        response = self.transport.post("/" + call, data)
        if response.get("status") not in accept:
            raise EditorError(call, response)
        return response

