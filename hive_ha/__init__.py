"""hive-ha: ZooKeeper-aware high availability for HiveServer2, Hive LLAP/HSI and Impala clients.

The public API::

    from hive_ha import Discovery, ZkSettings, Service
    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2", "hiveserver2"), user="alice")
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

__all__ = [
    "Backoff", "ConfigError", "Discovery", "DiscoveryError", "Endpoint", "EndpointCache", "HS2", "HSI",
    "HSI_HA", "HiveHAConfig", "HiveHAError", "Layout", "MalformedRegistration", "NoEndpointAvailable",
    "RegistryUnavailable", "Service", "Snapshot", "ZkSettings", "load_config",
]
