"""Shared pytest fixtures: real ZooKeeper servers and HiveServer2-protocol test servers."""
pytest_plugins = ["tests._zk_fixtures", "tests._hs2_fixtures", "tests._hue_fixtures", "tests._krb_fixtures", "tests._spark_fixtures"]
