"""Hue's start-up for the tests in tests/hue, done once, before any test module is imported (tests/conftest.py
imports this module when it runs inside the real Hue venv; `make test-hue`, scripts/hue-venv.sh builds the venv).

Everything Hue does at start-up happens for real: ``desktop.settings`` reads the ``hue.ini`` and ``log.conf`` written
below from ``HUE_CONF_DIR`` with Hue's own config loader and logging set-up, loads every Hue app (and hive-ha
through its ``desktop.sdk.application`` entry point), and pytest-django migrates Hue's test database with Hue's own
migrations. Tests change settings with Hue's ``set_for_testing``, as Hue's own tests do, and switch hive-ha on with
``install.install_if_enabled()``, which is what ``AppConfig.ready()`` runs; the processes started by
``test_hue_process.py`` and ``test_hue_server.py`` read everything from a hue.ini instead.

The database is the one ``HIVE_HA_HUE_DB`` names: ``postgresql`` (the default) or ``mysql`` (MariaDB), a server
started here for the whole run (tests/rig/databases.py) and written into hue.ini's ``[desktop] [[database]]`` with
the keys an admin writes; or ``sqlite``, a file. Hue's settings stay as they are: each request is one transaction
(``ATOMIC_REQUESTS``). `make test-hue` runs the suites once per database.
"""
import os
import shutil
import tempfile

from tests.hue.conf_files import write_conf_dir

HOME = tempfile.mkdtemp(prefix="hive-ha-hue-tests-")
CONF_DIR = os.path.join(HOME, "conf")
LOG_DIR = os.path.join(HOME, "logs")

#: The base hue.ini: discovery off, so Hue starts as a plain Hue; tests switch hive-ha on. The editor offers Hive and
#: LLAP, as an admin configures it for HiveServer2 Interactive.
HUE_INI = """\
[desktop]
secret_key=hive-ha-tests-not-a-secret-0123456789
# Hue exports ccache_path as KRB5CCNAME for its whole process at start-up (desktop/settings.py); the Kerberos tests'
# `hue kt_renewer` writes it (tests/hue/kerberized.py). Without a hue_keytab this Hue is not Kerberized.
[[kerberos]]
ccache_path={home}/hue_krb5_ccache
{database}
[notebook]
[[interpreters]]
[[[hive]]]
name=Hive
interface=hiveserver2
[[[llap]]]
name=LLAP
interface=hiveserver2
"""

#: Which database Hue runs on (``HIVE_HA_HUE_DB``): postgresql, mysql (MariaDB) or sqlite.
DATABASE = os.environ.get("HIVE_HA_HUE_DB", "postgresql")
DATABASES = ("postgresql", "mysql", "sqlite")
if DATABASE not in DATABASES:
    raise SystemExit(f"HIVE_HA_HUE_DB={DATABASE!r}: one of {', '.join(DATABASES)}")
#: The database server of this run (tests/rig/databases.py), None on sqlite.
DATABASE_SERVER = None


def database_section(name, home):
    """hue.ini's ``[[database]]`` section for a new database ``name`` of this run's kind (on sqlite a file in
    ``home``), and the function that drops it."""
    if DATABASE_SERVER is None:
        # sqlite lets one transaction write at a time and Hue wraps each request in one: writers wait their turn.
        return f'[[database]]\nengine=sqlite3\nname={home}/{name}.db\noptions={{"timeout": 120}}\n', lambda: None
    return DATABASE_SERVER.create_database(name).hue_ini(), lambda: DATABASE_SERVER.drop_database(name)


if DATABASE != "sqlite":
    from tests.rig.databases import SERVERS  # noqa: E402

    DATABASE_SERVER = SERVERS[DATABASE](name=f"hue-tests-{DATABASE}")
    try:
        DATABASE_SERVER.start()
    except BaseException:
        DATABASE_SERVER.stop()
        shutil.rmtree(HOME, ignore_errors=True)
        raise
write_conf_dir(CONF_DIR, HUE_INI.format(home=HOME, database=database_section("hue", HOME)[0]))
os.makedirs(LOG_DIR, exist_ok=True)
os.environ.update(
    HUE_CONF_DIR=CONF_DIR,
    DESKTOP_LOG_DIR=LOG_DIR,
    DESKTOP_LOG_CONF_FILE=os.path.join(CONF_DIR, "log.conf"),  # Hue reads log.conf from its own tree otherwise
    DESKTOP_DB_TEST_NAME=os.path.join(HOME, "desktop-test.db"),
    DJANGO_SETTINGS_MODULE="desktop.settings",
)
# Hue's start-up: hue.ini and log.conf are read, every app is loaded and ready() (ours included) has run. beeswax
# puts Hue's generated Thrift code (TCLIService) on sys.path, which the HiveServer2 test servers then use.
import django  # noqa: E402

django.setup()


def cleanup():
    if DATABASE_SERVER is not None:
        DATABASE_SERVER.stop()
    shutil.rmtree(HOME, ignore_errors=True)


