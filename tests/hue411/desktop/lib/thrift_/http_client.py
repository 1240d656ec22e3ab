"""Stand-in for ``desktop/core/src/desktop/lib/thrift_/http_client.py``: ``THttpClient(base_url)``, a Thrift
transport that POSTs each flushed message through Hue's HttpClient, so failures raise ``RestException`` (not a
TTransportException): what makes Hue's HTTP mode never reach its "Connection refused" handling."""
import logging
from io import BytesIO

from thrift.transport.TTransport import TTransportBase

from desktop.lib.rest.http_client import HttpClient
from desktop.lib.rest.resource import Resource

LOG = logging.getLogger()


class THttpClient(TTransportBase):
    """HTTP transport mode for Thrift, e.g. ``THttpClient('http://hive-localhost:10001/cliservice')``."""

    def __init__(self, base_url):
        self._base_url = base_url
        self._client = HttpClient(self._base_url, logger=LOG)
        self._data = None
        self._headers = None
        self._wbuf = BytesIO()

    def open(self):
        pass

    def set_kerberos_auth(self, service="HTTP"):
        self._client.set_kerberos_auth(service=service)

    def set_basic_auth(self, username, password):
        self._client.set_basic_auth(username, password)

    def set_bearer_auth(self, token):
        self._client.set_bearer_auth(token)

    def set_verify(self, verify=True):
        self._client.set_verify(verify)

    def close(self):
        self._headers = None

    def isOpen(self):
        return self._client is not None

    def setTimeout(self, ms):
        if not self._headers:
            self._headers = {}
        self._headers.update(timeout=str(int(ms / 1000)))

    def setCustomHeaders(self, headers):
        if self._headers:
            self._headers.update(headers)
        else:
            self._headers = headers

    def read(self, sz):
        # Like Hue: the whole response body, whatever sz is (the buffered transport above consumes it).
        return self._data

    def write(self, buf):
        self._wbuf.write(buf)

    def flush(self):
        data = self._wbuf.getvalue()
        self._wbuf = BytesIO()
        self._root = Resource(self._client)
        self._data = self._root.post('', data=data, headers=self._headers)
