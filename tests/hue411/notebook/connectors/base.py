"""Stand-in for ``desktop/libs/notebook/src/notebook/connectors/base.py``: the errors the editor UI understands
(``SessionExpired``, ``QueryExpired(message=None)``, ``AuthenticationRequired(message=None)``,
``OperationTimeout``, ``OperationNotSupported``, ``QueryError(message, handle=None)``), ``Api(user,
interpreter=None, request=None, query_server=None)`` with its default methods used by HS2Api, and
``_get_snippet_name``. Not reproduced: ``Notebook``, ``get_api``/``ApiWrapper``, interpreters, optimizer calls."""
import logging
import re

from notebook.sql_utils import get_current_statement

LOG = logging.getLogger()


class SessionExpired(Exception):
    pass


class QueryExpired(Exception):
    def __init__(self, message=None):
        super(QueryExpired, self).__init__()
        self.message = message


class AuthenticationRequired(Exception):
    def __init__(self, message=None):
        super(AuthenticationRequired, self).__init__()
        self.message = message

    def __str__(self):
        return 'AuthenticationRequired: %s' % self.message


class OperationTimeout(Exception):
    def __str__(self):
        return 'OperationTimeout'


class OperationNotSupported(Exception):
    pass


class QueryError(Exception):
    def __init__(self, message, handle=None):
        super(QueryError, self).__init__(message)
        self.message = message or 'No error message, please check the logs.'
        self.handle = handle
        self.extra = {}


class Api(object):
    """Base class of the editor's connector APIs."""

    def __init__(self, user, interpreter=None, request=None, query_server=None):
        self.user = user
        self.interpreter = interpreter
        self.request = request
        self.query_server = query_server

    def create_session(self, lang, properties=None):
        return {'type': lang, 'id': None, 'properties': properties if not None else []}

    def close_session(self, session):
        pass

    def fetch_result(self, notebook, snippet, rows, start_over):
        pass

    def can_start_over(self, notebook, snippet):
        return False

    def fetch_result_size(self, notebook, snippet):
        raise OperationNotSupported()

    def get_log(self, notebook, snippet, startFrom=None, size=None):
        return 'No logs'

    def autocomplete(self, snippet, database=None, table=None, column=None, nested=None, operation=None):
        return {}

    def progress(self, notebook, snippet, logs=None):
        return 50

    def get_jobs(self, notebook, snippet, logs):
        return []

    def get_sample_data(self, snippet, database=None, table=None, column=None, nested=None, is_async=False,
                        operation=None):
        raise NotImplementedError()

    def close_statement(self, notebook, snippet):
        pass

    def _get_current_statement(self, notebook, snippet):
        should_close, resp = get_current_statement(snippet)
        if should_close:
            try:
                self.close_statement(notebook, snippet)  # Close all the time past multi queries
            except Exception:
                LOG.warning('Could not close previous multiquery query')
        return resp

    def get_log_is_full_log(self, notebook, snippet):
        return True


def _get_snippet_name(notebook, unique=False, table_format=False):
    name = (('%(name)s' + ('-%(id)s' if unique else '') if notebook.get('name') else '%(type)s-%(id)s') % notebook)
    if table_format:
        name = re.sub(r'[-|\s:]', '_', name)
    return name
