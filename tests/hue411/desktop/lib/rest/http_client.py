"""Stand-in for ``desktop/core/src/desktop/lib/rest/http_client.py``: ``RestException`` (same attributes:
``_error``, ``_code``, ``_message``, ``_headers``; ``code``/``message`` properties; ``get_parent_ex()``; ``__str__``
"<message>[ (error <code>)]") and a small ``HttpClient``.

Hue's HttpClient sits on ``requests``; this one uses urllib (requests is not a dependency here). Every failure
(refused connection, HTTP status >= 300) still surfaces as ``RestException(original error)``; HTTP errors carry
``.response`` with ``status_code``/``headers``/``text`` like requests' errors do, so the exception reads the same.
"""
import base64
import logging
import ssl
import urllib.error
import urllib.request

LOG = logging.getLogger()


class RestException(Exception):
    """Any error result from a REST call."""

    def __init__(self, error):
        Exception.__init__(self, error)
        self._error = error
        self._code = None
        self._message = str(error)
        self._headers = {}
        try:
            self._code = error.response.status_code
            self._headers = error.response.headers
            self._message = self._message + '\n' + self._error.response.text
        except AttributeError:
            pass

    def __str__(self):
        res = self._message or ""
        if self._code is not None:
            res += " (error %s)" % self._code
        return res

    def get_parent_ex(self):
        if isinstance(self._error, Exception):
            return self._error
        return None

    @property
    def code(self):
        return self._code

    @property
    def message(self):
        return self._message


class _Response(object):
    """The parts of a requests.Response that Hue reads."""

    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.text = content.decode('utf-8', 'replace')


class _HTTPError(Exception):
    def __init__(self, message, response):
        Exception.__init__(self, message)
        self.response = response


class HttpClient(object):
    """Basic HTTP client: ``HttpClient(base_url, exc_class=None, logger=None)``; ``execute(method, path, ...)``."""

    def __init__(self, base_url, exc_class=None, logger=None):
        self._base_url = base_url.rstrip('/')
        self._exc_class = exc_class or RestException
        self._logger = logger or LOG
        self._auth_header = None
        self._verify = True

    def set_kerberos_auth(self, service="HTTP"):
        raise NotImplementedError("Kerberos over HTTP is not reproduced by the test stand-in")

    def set_basic_auth(self, username, password):
        token = base64.b64encode(('%s:%s' % (username, password)).encode('utf-8')).decode('ascii')
        self._auth_header = 'Basic ' + token
        return self

    def set_bearer_auth(self, token):
        self._auth_header = 'Bearer ' + token

    def set_verify(self, verify=True):
        self._verify = verify
        return self

    @property
    def base_url(self):
        return self._base_url

    def execute(self, http_method, path, params=None, data=None, headers=None, timeout=120, **_ignored):
        url = self._base_url + ('/' + path.lstrip('/') if path else '')
        request_headers = dict(headers or {})
        if 'timeout' in request_headers:  # Hue passes the Thrift timeout this way
            timeout = int(request_headers.pop('timeout'))
        if self._auth_header:
            request_headers['Authorization'] = self._auth_header
        request_headers.setdefault('Content-Type', 'application/x-thrift')
        req = urllib.request.Request(url, data=data, headers=request_headers, method=http_method.upper())
        context = None
        if url.startswith('https') and not self._verify:
            context = ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(req, timeout=timeout or None, context=context) as resp:
                return _Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as ex:
            response = _Response(ex.code, dict(ex.headers or {}), ex.read() or b'')
            raise self._exc_class(_HTTPError('%s Error for url: %s' % (ex.code, url), response))
        except (urllib.error.URLError, OSError) as ex:
            raise self._exc_class(ex)
