"""hive-ha in Hue's virtualenv moves none of Hue's packages: checked in the real Hue build (scripts/hue-venv.sh
installed this checkout into it with Hue's pins as constraints, as docs/hue.md tells an admin, and added Hue's
database drivers the same way)."""
import json
import os
import sys

import pytest

from hive_ha.sandbox.lifecycle import rig_python
from tests._pip import ROOT, canonical, copy_sources, installed, run

pytestmark = pytest.mark.slow

VENV = os.path.dirname(os.path.dirname(sys.executable))


def hue_build_pins():
    """{name: version} of every package the Hue build installed (its own freeze, written before hive-ha came)."""
    pins = {}
    with open(os.path.join(VENV, "hue-freeze.txt")) as freeze:
        for line in freeze:
            name, sep, version = line.strip().partition("==")
            if sep and not line.startswith("#"):
                pins[canonical(name)] = version
    return pins


def recorded_drivers():
    """{name: version} of scripts/hue-db-drivers.txt."""
    drivers = {}
    with open(os.path.join(ROOT, "scripts", "hue-db-drivers.txt")) as pins:
        for line in pins:
            name, sep, version = line.split("#")[0].strip().partition("==")
            if sep:
                drivers[canonical(name)] = version
    return drivers


def test_nothing_of_hues_moved_and_pip_check_passes():
    pins, have = hue_build_pins(), installed(sys.executable)
    assert {name: have.get(name) for name in pins} == pins
    assert "hive-ha" in have
    run(sys.executable, "-m", "pip", "check", "--disable-pip-version-check")


def test_hues_database_drivers_are_the_recorded_versions_and_none_of_hues_own():
    drivers, have = recorded_drivers(), installed(sys.executable)
    assert set(drivers) == {"psycopg2-binary", "mysqlclient"}
    assert {name: have.get(name) for name in drivers} == drivers
    assert not set(drivers) & set(hue_build_pins())  # added to Hue's packages, replacing none


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """``make dist``'s wheel, built from a copy of the sources with the dev venv's ``build``."""
    source = copy_sources(tmp_path_factory.mktemp("src") / "hive-ha")
    out = tmp_path_factory.mktemp("dist")
    run(rig_python(), "-m", "build", "--wheel", "--outdir", out, source)
    (built,) = out.glob("hive_ha-*.whl")
    return built


@pytest.mark.parametrize("extras", ["hue", "hue,kerberos"])
def test_the_documented_install_from_a_wheel_resolves_against_hues_pins(wheel, tmp_path, extras):
    """``pip install -c $VENV/hue-constraints.txt 'hive_ha-*.whl[hue]'`` (docs/hue.md), dry run: only hive-ha is
    (re)installed; every other package is Hue's, as it is."""
    report = tmp_path / "report.json"
    run(sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--disable-pip-version-check", "--report", report,
        "-c", os.path.join(VENV, "hue-constraints.txt"), f"{wheel}[{extras}]")
    to_install = {canonical(i["metadata"]["name"]): i["metadata"]["version"]
                  for i in json.loads(report.read_text())["install"]}
    pins = hue_build_pins()
    assert {name: version for name, version in to_install.items() if name in pins} == {}
    assert set(to_install) <= {"hive-ha"} | set(installed(sys.executable))
