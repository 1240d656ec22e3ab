"""Stand-in for ``apps/beeswax/src/beeswax/views.py``: only its by-name binding of ``get_query_server_config``."""
from beeswax.server import dbms  # noqa: F401
from beeswax.server.dbms import get_query_server_config  # noqa: F401
