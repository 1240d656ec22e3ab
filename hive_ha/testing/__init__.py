"""The hive-ha test rig, shipped like ``kazoo.testing``: real ZooKeeper servers (``zookeeper``), a
registrar that registers servers exactly as Hive does (``registrar``), a HiveServer2-protocol
Thrift server (``hs2server``) and ``waiting.wait_until``. Used by the tests, the benchmarks, the
demo and the sandbox."""
