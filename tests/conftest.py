"""Shared pytest fixtures: real ZooKeeper servers and HiveServer2-protocol test servers.

The same tree runs twice (`make test`): in the dev venv (everything but tests/hue) and inside the real Hue venv
(tests/hue only), where Hue's settings must be loaded before any fixture module imports Hue's Thrift code.
"""
import importlib.util

if importlib.util.find_spec("desktop") is not None:  # inside the real Hue venv
    import tests.hue.environment  # noqa: F401
else:
    collect_ignore = ["hue"]

pytest_plugins = ["tests._zk_fixtures", "tests._hs2_fixtures", "tests._krb_fixtures", "tests._spark_fixtures"]
