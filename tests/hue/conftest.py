"""Fixtures for the tests that run inside the real Hue 4.11 backend (see tests/hue/environment.py)."""
import os

import pytest

from tests.hue.environment import cleanup
from tests.hue.fixtures import *  # noqa: F401,F403


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Two adjustments of Hue's sqlite test database, so concurrent editor requests behave as on the MySQL/PostgreSQL
    database a multi-user Hue runs on:

    - Hue names its test database with the pre-Django-1.7 ``TEST_NAME`` key, which Django 4.2 ignores (it would use a
      shared in-memory database); use the file Hue meant, as its own desktop.db is a file.
    - Hue wraps each request in one transaction (``ATOMIC_REQUESTS``). On sqlite a transaction that read and then
      writes fails at once with "database is locked" when another one writes (a server database waits on row
      locks instead), so with many users Hue-on-sqlite fails requests that have nothing to do with hive-ha. Each
      statement commits on its own here, and waits up to the hue.ini ``timeout`` for the write lock.
    """
    from django.db import connections

    settings = connections["default"].settings_dict
    settings["TEST"]["NAME"] = os.environ["DESKTOP_DB_TEST_NAME"]
    settings["ATOMIC_REQUESTS"] = False


def pytest_unconfigure(config):
    cleanup()
