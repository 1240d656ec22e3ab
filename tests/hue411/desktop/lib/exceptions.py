"""Stand-in for ``desktop/core/src/desktop/lib/exceptions.py``: ``StructuredException`` and
``StructuredThriftTransportException`` (a StructuredException AND a thrift ``TTransportException``, code
THRIFTTRANSPORT, its ``data`` the original transport exception), with Hue's ``__str__``:
``"<message> (code <code>): <repr(data)>"``."""
import sys
import traceback

from thrift.transport.TTransport import TTransportException


class StructuredException(Exception):
    """An error with a code and data, rendered by Hue's middleware."""

    def __init__(self, code, message, data=None, error_code=500):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.data = data
        self.error_code = error_code
        self.traceback = traceback.extract_tb(sys.exc_info()[2])

    def __str__(self):
        return "%s (code %s): %s" % (self.message, self.code, repr(self.data))

    @property
    def response_data(self):
        return dict(code=self.code, message=self.message, data=self.data, traceback=self.traceback)


class StructuredThriftTransportException(StructuredException, TTransportException):
    """A Thrift transport failure, wrapped the way Hue's thrift_util raises it."""

    def __init__(self, ex, *args, **kwargs):
        kwargs['data'] = ex
        kwargs['message'] = ex.message
        kwargs['code'] = "THRIFTTRANSPORT"
        StructuredException.__init__(self, *args, **kwargs)
