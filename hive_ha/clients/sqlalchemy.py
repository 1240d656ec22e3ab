"""SQLAlchemy dialect ``hive+zookeeper://``: PyHive's Hive dialect, connecting through ``hive_ha.connect``.

::

    engine = create_engine("hive+zookeeper://zk1,zk2,zk3:2181/default?zooKeeperNamespace=hiveserver2")
    engine = create_engine("hive+zookeeper:///default?zooKeeperQuorum=zk1:2181,zk2:2182&serviceDiscoveryMode=zooKeeperHA")

Registered through the ``sqlalchemy.dialects`` entry point ``hive.zookeeper``. The query parameters are the
JDBC ones (see ``hive_ha.clients.jdbc_url``). SQLAlchemy's URL parser takes a single port, so ensembles whose members
listen on different ports go in ``zooKeeperQuorum``. Every new pooled connection asks discovery again, so
after a server dies the pool's next connection lands on another one.
"""
from __future__ import annotations

from pyhive.sqlalchemy_hive import HiveDialect

from hive_ha.clients.dbapi import connect_with
from hive_ha.clients.jdbc_url import ConnectOptions, parse_sqlalchemy_url

__all__ = ["HiveZooKeeperDialect"]


class HiveZooKeeperDialect(HiveDialect):
    """PyHive's ``hive`` dialect (SQL compilation, reflection, PyHive's DB-API errors) with discovery."""

    name = "hive"
    driver = "zookeeper"

    def create_connect_args(self, url):
        # Validates now, so a bad URL fails in create_engine() rather than on first use.
        fields = parse_sqlalchemy_url(url.host, url.port, url.username, url.password, url.database, url.query)
        return [], {"options": ConnectOptions(**fields)}

    def connect(self, *cargs, options: ConnectOptions = None, **driver_args):
        # ``connect_args`` given to create_engine() arrive here and go to PyHive's connect unchanged.
        return connect_with(options, driver_args=driver_args)
