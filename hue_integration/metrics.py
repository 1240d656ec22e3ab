"""Prometheus metrics (prometheus_client, which Hue ships): a collector that reads the integration's
state at scrape time, so the hot path pays nothing for them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

try:
    from prometheus_client import REGISTRY
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError:  # pragma: no cover - prometheus_client is in the hue extra
    REGISTRY = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from prometheus_client.metrics_core import Metric

    from hue_integration.integration import Integration


class Collector:
    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def collect(self) -> Iterator[Metric]:
        discovery = self.integration.discovery
        lookups = CounterMetricFamily("hive_ha_lookups", "Query-server lookups answered by hive-ha",
                                      labels=["service"])
        for service, count in sorted(self.integration.lookups().items()):
            lookups.add_metric([service], count)
        failovers = CounterMetricFamily("hive_ha_failovers", "Reselections after a connection-level failure",
                                        labels=["service"])
        for service, count in sorted(discovery.cache.failover_counts().items()):
            failovers.add_metric([service], count)
        connected = GaugeMetricFamily("hive_ha_zookeeper_connected", "1 while the ZooKeeper session is connected",
                                      labels=["hosts"])
        state = discovery.status()  # one reading of the cache and the ZooKeeper state per scrape
        connected.add_metric([discovery.settings.hosts], 1.0 if state["zookeeper"]["state"] == "CONNECTED" else 0.0)
        endpoints = GaugeMetricFamily("hive_ha_endpoints", "Endpoints known, by state", labels=["service", "state"])
        stale = GaugeMetricFamily("hive_ha_registry_stale", "1 while the registry reading may be out of date",
                                  labels=["service"])
        for entry in state["services"]:
            endpoints.add_metric([entry["service"], "registered"], len(entry["endpoints"]))
            endpoints.add_metric([entry["service"], "excluded"], len(entry["excluded"]))
            stale.add_metric([entry["service"]], 1.0 if entry["stale"] else 0.0)
        yield from (lookups, failovers, connected, endpoints, stale)


_registered: Optional[Collector] = None


def register(integration: Integration) -> None:
    """Replace any collector of an earlier install (idempotent)."""
    global _registered
    if REGISTRY is None:
        return
    unregister()
    _registered = Collector(integration)
    REGISTRY.register(_registered)


def unregister() -> None:
    global _registered
    if _registered is not None and REGISTRY is not None:
        REGISTRY.unregister(_registered)
        _registered = None
