"""Helpers for tests of code that uses hive-ha, shipped like ``kazoo.testing`` and needing nothing beyond a plain
install: ``memory_zookeeper`` (an in-memory ZooKeeper client that scripts faults between two reads) and
``waiting.wait_until``. Real servers to test against come with the sandbox (``hive_ha.sandbox``)."""
