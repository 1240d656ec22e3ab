"""Shared pytest fixtures: real ZooKeeper servers and HiveServer2-protocol test servers; the markers `make test-fast`
selects on.

The same tree runs twice (`make test`): in the dev venv (everything but tests/hue) and inside the real Hue venv
(tests/hue only), where Hue's settings must be loaded before any fixture module imports Hue's Thrift code.

Markers (registered in setup.cfg): a test that needs anything besides this Python process carries one of
``EXTERNAL``; `make test-fast` runs the tests that carry none of them (and are not ``slow``). The server markers come
from the shared fixtures a test uses, directly or through other fixtures (``FIXTURE_MARKERS``); ``lb`` and
``process`` are written on the tests that run a load-balancer binary or start a child process themselves. An
unmarked test that starts a child process fails, naming it: the markers stay true as tests are added.
"""
import importlib.util
import os
import subprocess

import pytest

if importlib.util.find_spec("desktop") is not None:  # inside the real Hue venv
    import tests.hue.environment  # noqa: F401
else:
    collect_ignore = ["hue"]

pytest_plugins = [
    "tests._zk_fixtures", "tests._hs2_fixtures", "tests._krb_fixtures", "tests._spark_fixtures", "tests._db_fixtures",
]

#: Markers for what a test needs besides this Python process.
EXTERNAL = ("zookeeper", "hs2", "kerberos", "spark", "database", "lb", "process")

#: Shared fixtures (tests/_*_fixtures.py) that start servers, and the marker each gives the tests using it.
FIXTURE_MARKERS = {
    "zk_server": "zookeeper", "zk_tls_server": "zookeeper", "zk_sasl_server": "zookeeper",
    "zk_ensemble": "zookeeper", "zk_server_factory": "zookeeper", "krb_zk": "zookeeper",
    "hs2_server_factory": "hs2", "hs2_process_factory": "hs2", "krb_hs2_factory": "hs2",
    "krb_rig": "kerberos",
    "spark_pair": "spark", "spark_factory": "spark",
    "database_server_factory": "database",
}

_HUE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hue") + os.sep


def _in_hue(item):
    return str(item.path).startswith(_HUE_TESTS)  # tests/hue runs inside Hue, with its own rules


def pytest_collection_modifyitems(items):
    for item in items:
        if _in_hue(item):
            continue
        have = {mark.name for mark in item.iter_markers()}
        for marker in sorted({FIXTURE_MARKERS[name] for name in item.fixturenames if name in FIXTURE_MARKERS} - have):
            item.add_marker(marker)


class UndeclaredProcess(BaseException):
    """Not an Exception: code under test that catches ``Exception`` must not turn the mistake into a pass."""


@pytest.fixture(autouse=True)
def _child_processes_only_where_marked(request, monkeypatch):
    node = request.node
    if _in_hue(node) or any(node.get_closest_marker(name) for name in EXTERNAL):
        yield
        return
    attempts = []

    def refuse(popen, args, *rest, **kwargs):
        attempts.append(args)
        raise UndeclaredProcess(f"{node.nodeid} starts a child process {args!r} but carries none of the markers "
                                f"{', '.join(EXTERNAL)}: mark it (tests/conftest.py), or `make test-fast` runs it")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    yield
    assert not attempts, f"started child processes without a marker (see tests/conftest.py): {attempts!r}"
