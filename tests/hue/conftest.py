"""Fixtures for the tests that run inside the real Hue 4.11 backend (see tests/hue/environment.py)."""
import os

import pytest

from tests.hue import environment
from tests.hue.fixtures import *  # noqa: F401,F403


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On sqlite, Hue names its test database with the pre-Django-1.7 ``TEST_NAME`` key, which Django 4.2 ignores
    (it would use a shared in-memory database): use the file Hue meant, as its own desktop.db is a file. On the
    server databases Django's test database is ``test_<name>`` on the same server. Hue's settings stay as they are."""
    from django.db import connections

    if environment.DATABASE == "sqlite":
        connections["default"].settings_dict["TEST"]["NAME"] = os.environ["DESKTOP_DB_TEST_NAME"]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``server_database`` need what sqlite cannot give Hue: several users' requests at once, each one
    transaction (a sqlite transaction that read cannot write while another connection writes, so Hue fails such a
    request with "database is locked"; docs/hue.md). They run on PostgreSQL and MariaDB only."""
    if environment.DATABASE != "sqlite":
        return
    kept = [item for item in items if item.get_closest_marker("server_database") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_report_header(config):
    server = environment.DATABASE_SERVER
    return f"Hue database: {environment.DATABASE}" + (f" ({server!r})" if server else "")


def pytest_unconfigure(config):
    environment.cleanup()
