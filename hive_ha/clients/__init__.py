"""Layer 4, consumers that connect: the PEP 249 ``connect`` (``dbapi``), JDBC-style URLs (``jdbc_url``), the
SQLAlchemy dialect (``sqlalchemy``) and the deployment check (``deployment_check``); ``connect`` (with PyHive) and
the check build their Thrift transports with ``transport``, and ``probe`` gives ``connect``'s discoveries a real
Thrift round trip to probe servers with. The load-balancer emitters (``hive_ha.lb``), the command
line (``hive_ha.cli``) and the Hue app (``hue_integration``) are consumers too."""
