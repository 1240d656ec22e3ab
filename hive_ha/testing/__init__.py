"""The hive-ha test rig, shipped like ``kazoo.testing``: real ZooKeeper servers (``zookeeper``), a
registrar that registers servers exactly as Hive does (``registrar``), a HiveServer2-protocol
Thrift server (``hs2server``) and ``waiting.wait_until``. Used by the tests, the benchmarks, the
demo and the sandbox. Needs the ``sandbox`` extra (PyHive's TCLIService, thrift); the command line imports
it only when ``hive-ha sandbox`` starts."""
