"""Stand-in for ``desktop/libs/notebook/src/notebook/connectors/hive_metastore.py``: only its by-name binding of
``get_query_server_config``."""
from beeswax.server import dbms  # noqa: F401
from beeswax.server.dbms import QueryServerException, get_query_server_config  # noqa: F401
