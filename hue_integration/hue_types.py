"""Names for the Hue values hive-ha passes around, for annotations. Hue's own classes are imported only while type
checking: some of hive-ha's modules are imported before Django is set up, and outside Hue.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, Hashable, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from beeswax.server.dbms import HiveServer2Dbms
    from django.contrib.auth.models import User

#: Hue's query-server dict (``dbms.get_query_server_config``). Its keys differ by kind of server (Hive/LLAP, hms,
#: Impala, a connector's compute) and its values are str, int, bool or None, read by key all over Hue: no TypedDict
#: describes them all.
QueryServerConfig = Dict[str, Any]

#: An editor interpreter or a connector, as Hue passes it in ``connector=`` / ``cluster=`` (JSON from the editor or
#: hue.ini, any shape: Hue itself only ``.get``\ s keys of it).
Connector = Dict[str, Any]


class DbmsModule(Protocol):
    """What hive-ha uses of Hue's ``beeswax.server.dbms`` module: its per-process client cache and the functions
    hive-ha replaces (read through the module, so the replacements are what gets called)."""

    #: ``{user.id: {key: client}}``: Hue keys a user's clients by ``server_name``, hive-ha by ``ClientSlot``.
    DBMS_CACHE: Dict[int, Dict[Hashable, HiveServer2Dbms]]
    DBMS_CACHE_LOCK: threading.Lock

    def get_query_server_config(self, name: str = ..., connector: Optional[Connector] = ...) -> QueryServerConfig:
        ...

    def get(self, user: User, query_server: Optional[QueryServerConfig] = ...,
            cluster: Optional[Connector] = ...) -> HiveServer2Dbms:
        ...
