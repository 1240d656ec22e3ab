"""Probes of one server, for the prober (``hive_ha.core.prober``): each returns when the server answered within
``timeout`` seconds and raises the connection error otherwise.

``tcp_probe`` opens a TCP connection and closes it: it tells a dead process or host from a live one, but a paused or
hung server whose kernel still accepts connections looks alive to it. Clients that speak HiveServer2's Thrift
protocol give the prober a probe that does a real round trip (``hive_ha.clients.probe``, Hue's in
``hue_integration.probe``).
"""
from __future__ import annotations

import socket

from hive_ha.model.endpoint import Endpoint


def tcp_probe(endpoint: Endpoint, timeout: float) -> None:
    """A fresh TCP connection to ``endpoint``, closed at once."""
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
        pass
