"""hive-ha: ZooKeeper-aware high availability for HiveServer2, Hive LLAP/HSI and Impala clients.

The public API is what this module exports (``__all__``): the ``Discovery`` facade and what it takes and returns,
the PEP 249 ``connect``, settings, and every error a public call raises (the tree is in ``hive_ha.errors``)::

    from hive_ha import Discovery, ZkSettings, Service
    discovery = Discovery(ZkSettings(hosts="zk1:2181,zk2:2181"), policy="per_user")
    endpoint = discovery.endpoint(Service.of("hs2", "hiveserver2"), user="alice")   # an Endpoint
    snapshot = discovery.snapshot(Service.of("hs2", "hiveserver2"))                  # every registration, a Snapshot

    conn = hive_ha.connect(zookeeper="zk1:2181,zk2:2181", namespace="hiveserver2")   # a PEP 249 connection

The packages below are layers, each importing only those before it: ``model`` (pure) -> ``io`` (ZooKeeper,
Kerberos) -> ``core`` (cache, policies, ``Discovery``) -> consumers (``clients``, ``lb``, ``cli``,
``hue_integration``). Their modules are importable, but only the names here are the stable API.
"""
from hive_ha._version import __version__
from hive_ha.core.config import HiveHAConfig, load_config
from hive_ha.core.discovery import Discovery
from hive_ha.errors import (AllServersFailed, CertificateNotVerified, ConfigError, DiscoveryClosed, DiscoveryError,
                            ExtraRequired, HiveHAError, KerberosLoginFailed, LoadBalancerCommandFailed,
                            LoadBalancerConfigRejected, MalformedRegistration, NoEndpointAvailable, RegistryUnavailable,
                            ServerConnectionError, ServerConnectionLost, ServerUnreachable, UnsafeTicketCache,
                            UnusableEndpoint,
                            ZooKeeperAuthFailed)
from hive_ha.io.zookeeper import ZkSettings
from hive_ha.model.endpoint import Endpoint
from hive_ha.model.layouts import HS2, HSI, HSI_HA, Service
from hive_ha.model.snapshot import Snapshot


def __getattr__(name: str):
    # ``hive_ha.connect`` is loaded on first use so that ``import hive_ha`` stays free of the DB-API drivers.
    if name == "connect":
        from hive_ha.clients.dbapi import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    # the facade
    "Discovery", "Endpoint", "HS2", "HSI", "HSI_HA", "HiveHAConfig", "Service", "Snapshot", "ZkSettings",
    "__version__", "connect", "load_config",
    # every error a public call raises
    "AllServersFailed", "CertificateNotVerified", "ConfigError", "DiscoveryClosed", "DiscoveryError", "ExtraRequired",
    "HiveHAError", "KerberosLoginFailed", "LoadBalancerCommandFailed", "LoadBalancerConfigRejected",
    "MalformedRegistration", "NoEndpointAvailable", "RegistryUnavailable", "ServerConnectionError",
    "ServerConnectionLost", "ServerUnreachable", "UnsafeTicketCache", "UnusableEndpoint", "ZooKeeperAuthFailed",
]
