"""Installing hive-ha into Hue 4.11's virtualenv moves none of Hue's pins (constraints/hue-4.11.txt).

A fresh virtualenv (no system site-packages) gets exactly those pins first, as Hue's build leaves them; then pip
resolves the working tree's extras against it (``--dry-run --report``): the resolution must succeed and must not
upgrade or downgrade any pinned package. Finally ``.[hue]`` is really installed and ``pip check`` must pass.
This talks to the package index (pip's wheel cache keeps repeated runs fast).
"""
import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PINS_FILE = ROOT / "constraints" / "hue-4.11.txt"
# What a working tree holds besides the sources: never part of what gets installed.
NOT_SOURCES = (".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
               ".ruff_cache", "site")
PIP_TIMEOUT = 900  # seconds per pip run: generous, the index and the machine may be slow


def canonical(name):
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins():
    pins = {}
    for line in PINS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{PINS_FILE.name}: not an exact pin: {line!r}"
            pins[canonical(name)] = version.strip()
    return pins


def setup_extras():
    """The keys of the EXTRAS dict literal in setup.py (read, not executed)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXTRAS" for t in node.targets):
            return {key.value for key in node.value.keys}
    raise AssertionError("setup.py has no EXTRAS = {...} literal")


PINS = read_pins()
EXTRAS = setup_extras()
# The extras meant for Hue's virtualenv, alone and together; "kerberos" joins them once setup.py has it.
COMBOS = [("hue",), ("dbapi",), ("hue", "dbapi")]
if "kerberos" in EXTRAS:
    COMBOS += [("kerberos",), ("hue", "dbapi", "kerberos")]


def run(*cmd, **kw):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
                            **kw)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n" \
                                   f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def installed(python):
    listing = json.loads(run(python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check").stdout)
    return {canonical(item["name"]): item["version"] for item in listing}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A copy of the working tree's sources: building from it leaves no build/ or egg-info in the real tree."""
    target = tmp_path_factory.mktemp("hive-ha-src") / "hive-ha"
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    return target


@pytest.fixture(scope="module")
def hue_venv(tmp_path_factory):
    """The python of a fresh virtualenv holding exactly Hue 4.11's pins (and what they depend on)."""
    venv = tmp_path_factory.mktemp("hue-venv") / "venv"
    run(sys.executable, "-m", "venv", venv)  # without --system-site-packages: nothing leaks in from outside
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", PINS_FILE)
    have = installed(python)
    assert {name: have.get(name) for name in PINS} == PINS
    return python


@pytest.mark.parametrize("extras", COMBOS, ids=",".join)
def test_extras_resolve_against_hues_pins(hue_venv, source, tmp_path, extras):
    report_file = tmp_path / "report.json"
    run(hue_venv, "-m", "pip", "install", "--dry-run", "-q", "--disable-pip-version-check", "--report",
        report_file, f"{source}[{','.join(extras)}]")
    report = json.loads(report_file.read_text())
    to_install = {canonical(item["metadata"]["name"]): item for item in report["install"]}
    moved = {name: f"{PINS[name]} -> {to_install[name]['metadata']['version']}" for name in PINS if name in to_install}
    assert moved == {}, f"installing .[{','.join(extras)}] would move Hue's pins: {moved}"
    ours = to_install["hive-ha"]
    assert sorted(ours.get("requested_extras") or []) == sorted(extras)
    assert set(extras) <= set(ours["metadata"].get("provides_extra", []))


def test_install_hue_extra_then_pip_check(hue_venv, source):
    run(hue_venv, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}[hue]")
    have = installed(hue_venv)
    assert {name: have.get(name) for name in PINS} == PINS
    assert "hive-ha" in have and "prometheus-client" in have
    run(hue_venv, "-m", "pip", "check", "--disable-pip-version-check")
    run(hue_venv, "-c", "import hive_ha.discovery, hue_integration")
