"""Stand-in for ``apps/beeswax/src/beeswax/api.py``: its by-name binding of ``get_query_server_config`` (as in
Hue, a copy that replacing ``dbms.get_query_server_config`` does not change) and the two helpers the editor's
HS2Api calls, ``_autocomplete`` and ``_get_sample_data``, reduced to the branches that need no table metadata
(database list, ``operation='hello'``). Like Hue, ``_autocomplete`` turns every error (also a dead server's
``StructuredThriftTransportException``) into ``{'code': ..., 'error': str(e)}`` instead of raising."""
import logging

from thrift.transport.TTransport import TTransportException

from beeswax.server import dbms  # noqa: F401  (Hue holds the module too)
from beeswax.server.dbms import QueryServerTimeoutException, get_query_server_config  # noqa: F401

LOG = logging.getLogger()


def _autocomplete(db, database=None, table=None, column=None, nested=None, query=None, cluster=None,
                  operation='schema'):
    response = {}
    try:
        if database is None:
            response['databases'] = db.get_databases()
        else:
            raise NotImplementedError("Table and column autocomplete are not reproduced by the test stand-in")
    except (QueryServerTimeoutException, TTransportException) as e:
        response['code'] = 503
        response['error'] = str(e)
    except TypeError as e:
        response['code'] = 500
        response['error'] = str(e)
    except Exception as e:
        LOG.exception('Autocomplete data fetching error')
        response['code'] = 500
        response['error'] = str(e)
    return response


def _get_sample_data(db, database, table, column, nested, is_async=False, cluster=None, operation=None):
    if operation != 'hello':
        raise NotImplementedError("Table samples are not reproduced by the test stand-in")
    sample_data = db.get_sample(database, None, column, nested, generate_sql_only=is_async, operation=operation)
    response = {'status': -1}
    if sample_data:
        response['status'] = 0
        if is_async:
            raise NotImplementedError("Asynchronous samples are not reproduced by the test stand-in")
        response['headers'] = sample_data.cols()
        response['full_headers'] = sample_data.full_cols()
        response['rows'] = list(sample_data.rows())
    else:
        response['message'] = 'Failed to get sample data.'
    return response
