"""Stand-in for ``desktop/core/src/desktop/lib/rest/resource.py``: ``Resource(client).post(relpath, data=,
headers=)`` returning the response body (bytes), as Thrift-over-HTTP reads it."""


class Resource(object):
    def __init__(self, client, relpath=''):
        self._client = client
        self._path = relpath.strip('/')

    def post(self, relpath=None, params=None, data=None, contenttype=None, headers=None, **_ignored):
        path = self._path + ('/' + relpath.strip('/') if relpath else '')
        return self._client.execute('POST', path, params=params, data=data, headers=headers).content
