"""How the prober (``hive_ha.core.prober``) asks a HiveServer2 whether it answers, from inside Hue: with Hue's own
Thrift transport for that server (``thrift_util.connect_to_thrift`` with the connection settings of Hue's clients
for it: binary or HTTP, SASL mechanism, TLS, Kerberos principal, credentials) on a fresh connection, an
``OpenSession`` and a ``CloseSession``, all bounded by the probe timeout. Any reply is an answer, an error status
included: the server is there. Before hive-ha has built a client for a server, a TCP connect is all it can do.
"""
from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Dict, Tuple

from hive_ha.io.probe import tcp_probe
from hive_ha.model.endpoint import Endpoint

if TYPE_CHECKING:  # pragma: no cover
    from desktop.lib.thrift_util import ConnectionConfig


class HueProbe:
    """``probe(endpoint, timeout)``, for ``Discovery(probe=...)``; ``remember`` is told the connection settings of each
    client hive-ha builds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a leaf: dictionary work only
        self._confs: Dict[Tuple[str, str], ConnectionConfig] = {}

    def remember(self, endpoint: Endpoint, conf: ConnectionConfig) -> None:
        with self._lock:
            self._confs.setdefault(endpoint.key, conf)

    def __call__(self, endpoint: Endpoint, timeout: float) -> None:
        with self._lock:
            conf = self._confs.get(endpoint.key)
        if conf is None:
            tcp_probe(endpoint, timeout)
            return
        from beeswax import conf as beeswax_conf
        from desktop.lib import thrift_util
        from thrift.Thrift import TApplicationException
        from TCLIService.ttypes import TCloseSessionReq, TOpenSessionReq

        conf = copy.copy(conf)
        conf.timeout_seconds = timeout
        service, _, transport = thrift_util.connect_to_thrift(conf)
        transport.open()
        try:
            reply = service.OpenSession(TOpenSessionReq(client_protocol=beeswax_conf.THRIFT_VERSION.get() - 1,
                                                        username=conf.username, configuration={}))

            if reply.sessionHandle is not None:
                service.CloseSession(TCloseSessionReq(sessionHandle=reply.sessionHandle))
        except TApplicationException:
            pass  # the server answered, with an error of its own
        finally:
            transport.close()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
