"""hive-ha: ZooKeeper-aware high availability for HiveServer2, Hive LLAP/HSI and Impala clients.

The public API::

    from hive_ha import Discovery, ZkSettings, Service
    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2", "hiveserver2"), user="alice")

    conn = hive_ha.connect(zookeeper="zk1:2181,zk2:2181", namespace="hiveserver2")   # a PEP 249 connection
"""
from .cache import Backoff, EndpointCache
from .config import HiveHAConfig, load_config
from .discovery import Discovery
from .endpoint import Endpoint
from .errors import (
    ConfigError,
    DiscoveryError,
    HiveHAError,
    MalformedRegistration,
    NoEndpointAvailable,
    RegistryUnavailable,
)
from .layouts import HS2, HSI, HSI_HA, Layout, Service
from .snapshot import Snapshot
from .zkclient import ZkSettings

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``hive_ha.connect`` is loaded on first use so that ``import hive_ha`` stays free of the DB-API drivers.
    if name == "connect":
        from .dbapi import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Backoff", "ConfigError", "Discovery", "DiscoveryError", "Endpoint", "EndpointCache", "HS2", "HSI",
    "HSI_HA", "HiveHAConfig", "HiveHAError", "Layout", "MalformedRegistration", "NoEndpointAvailable",
    "RegistryUnavailable", "Service", "Snapshot", "ZkSettings", "connect", "load_config",
]
