"""pip as the tests that install hive-ha use it: a copy of the working tree's sources, and pip runs with a timeout."""
import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a working tree holds besides the sources: never part of what gets installed.
NOT_SOURCES = (".venv", ".hue", ".git", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
               ".ruff_cache", "site")
PIP_TIMEOUT = 900  # seconds per pip run: generous, the index and the machine may be slow


def canonical(name):
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run(*cmd, **kw):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
                            **kw)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n" \
                                   f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def installed(python):
    """{canonical name: version} of what ``python``'s environment holds."""
    listing = json.loads(run(python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check").stdout)
    return {canonical(item["name"]): item["version"] for item in listing}


def copy_sources(target):
    """A copy of the working tree's sources at ``target`` (building from it leaves nothing in the real tree)."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    return target
