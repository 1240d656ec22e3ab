"""Pytest fixtures with the database servers Hue runs on in production (tests.rig.databases; loaded by
tests/conftest.py through ``pytest_plugins``).

    def test_x(database_server_factory):          # function scope: own servers, free to kill and restart
        pg = database_server_factory("postgresql")
        hue_db = pg.create_database("hue")        # hue_db.hue_ini(): the [[database]] section for hue.ini

The tests inside Hue do not use these: tests/hue/environment.py starts the one server Hue's settings point at
before Django starts (``HIVE_HA_HUE_DB``).
"""
import pytest

from tests.rig.databases import SERVERS


@pytest.fixture
def database_server_factory():
    """``make(kind) -> started server``; kind is ``postgresql`` or ``mysql`` (MariaDB). All stopped afterwards."""
    started = []

    def make(kind, **opts):
        server = SERVERS[kind](**opts)
        started.append(server)
        return server.start()

    yield make
    for server in reversed(started):
        server.stop()
