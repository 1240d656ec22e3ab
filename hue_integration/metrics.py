"""Prometheus metrics (prometheus_client, which Hue ships): a collector that reads the integration's
state at scrape time, so the hot path pays nothing for them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

from hive_ha.core.health import State

try:
    from prometheus_client import REGISTRY
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
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
        endpoints = GaugeMetricFamily("hive_ha_endpoints", "Registered endpoints, by health state",
                                      labels=["service", "state"])
        servers = GaugeMetricFamily("hive_ha_server_state", "1 for the health state each registration is in",
                                    labels=["service", "address", "znode", "state"])
        stale = GaugeMetricFamily("hive_ha_registry_stale", "1 while the registry reading may be out of date",
                                  labels=["service"])
        for entry in state["services"]:
            by_state = {s.value: 0 for s in State}
            for server in entry["servers"]:
                if server["registered"]:
                    by_state[server["state"]] += 1
                for each in State:
                    servers.add_metric([entry["service"], server["address"], server["znode"], each.value],
                                       1.0 if server["state"] == each.value else 0.0)
            for name, count in by_state.items():
                endpoints.add_metric([entry["service"], name], count)
            stale.add_metric([entry["service"]], 1.0 if entry["stale"] else 0.0)
        transitions = CounterMetricFamily("hive_ha_server_transitions", "Health state transitions of registrations",
                                          labels=["service", "from", "to"])
        for (service, before, after), count in sorted(discovery.cache.transition_counts().items()):
            transitions.add_metric([service, before, after], count)
        probes = SummaryMetricFamily("hive_ha_probe_seconds", "Time the prober's probes took", labels=["service"])
        for service, (count, seconds) in sorted(discovery.prober.totals().items()):
            probes.add_metric([service], count_value=count, sum_value=seconds)
        last_probe = GaugeMetricFamily("hive_ha_probe_last_seconds", "How long the last probe of a registration took",
                                       labels=["service", "address", "znode", "evidence"])
        for probe in state["probes"]:
            last_probe.add_metric([probe["service"], probe["address"], probe["znode"], probe["evidence"] or "none"],
                                  probe["seconds"])
        yield from (lookups, failovers, connected, endpoints, servers, stale, transitions, probes, last_probe)


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
