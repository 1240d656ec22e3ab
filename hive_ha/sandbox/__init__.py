"""The sandbox, a user feature behind the ``sandbox`` extra: a local ZooKeeper (``zookeeper``), HiveServer2-protocol
Thrift servers (``hs2server``) registered exactly as Hive registers them (``registrar``), an optional MIT KDC
(``kdc``), throw-away TLS certificates (``certs``; ``cryptography``, in the test extra), and ``cluster.Sandbox``,
which runs them together for ``hive-ha sandbox`` and ``make demo`` (``demo``).

Nothing of the library imports this package. The command line imports ``cluster`` for its flags (it needs no extra)
and the servers only when ``hive-ha sandbox`` runs. This file imports nothing, so that ``hive_ha.sandbox.zookeeper`` can be used where PyHive's Thrift code must not be loaded."""
