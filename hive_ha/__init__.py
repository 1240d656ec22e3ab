"""hive-ha: ZooKeeper-aware high availability for HiveServer2, Hive LLAP/HSI and Impala clients.

The public API::

    from hive_ha import Discovery, ZkSettings, Service
    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2", "hiveserver2"), user="alice")

    conn = hive_ha.connect(zookeeper="zk1:2181,zk2:2181", namespace="hiveserver2")   # a PEP 249 connection
"""
from hive_ha.core.backoff import Backoff
from hive_ha.core.cache import EndpointCache
from hive_ha.core.config import HiveHAConfig, load_config
from hive_ha.core.discovery import Discovery
from hive_ha.model.endpoint import Endpoint
from hive_ha.errors import (
    ConfigError,
    DiscoveryError,
    HiveHAError,
    MalformedRegistration,
    NoEndpointAvailable,
    RegistryUnavailable,
)
from hive_ha.model.layouts import HS2, HSI, HSI_HA, Layout, Service
from hive_ha.model.snapshot import Snapshot
from hive_ha.io.zookeeper import ZkSettings

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``hive_ha.connect`` is loaded on first use so that ``import hive_ha`` stays free of the DB-API drivers.
    if name == "connect":
        from hive_ha.clients.dbapi import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Backoff", "ConfigError", "Discovery", "DiscoveryError", "Endpoint", "EndpointCache", "HS2", "HSI",
    "HSI_HA", "HiveHAConfig", "HiveHAError", "Layout", "MalformedRegistration", "NoEndpointAvailable",
    "RegistryUnavailable", "Service", "Snapshot", "ZkSettings", "connect", "load_config",
]
