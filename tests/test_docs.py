"""The documentation site: it builds with ``mkdocs build --strict``, every page is in the nav, every
image exists, and the configuration reference is exactly what docs/gen_configuration.py generates."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# ![alt](path) and <img src="path">; the path ends at whitespace or the closing parenthesis/quote.
IMAGE_RE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)|<img\s[^>]*src=[\"']([^\"']+)")


def pages():
    found = set()
    for folder, _, files in os.walk(DOCS):
        found.update(os.path.relpath(os.path.join(folder, f), DOCS).replace(os.sep, "/")
                     for f in files if f.endswith(".md"))
    return found


def nav_files(nav):
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            yield from nav_files(value)
        else:
            yield value


def load_mkdocs_yml():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.process
def test_site_builds_strict_without_warnings(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    for page in pages():
        built = "index.html" if page == "index.md" else page[: -len(".md")] + "/index.html"
        assert (site / built).is_file(), f"{page} was not built"
    assert (site / "img" / "architecture.png").is_file()


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = set(nav_files(load_mkdocs_yml()["nav"]))
    assert pages() - nav == set(), "pages missing from the nav in mkdocs.yml"
    assert nav - pages() == set(), "nav entries without a page"


def test_every_image_referenced_exists_and_is_a_png():
    referenced = 0
    for page in sorted(pages()):
        with open(os.path.join(DOCS, page), encoding="utf-8") as fh:
            text = fh.read()
        for match in IMAGE_RE.finditer(text):
            target = match.group(1) or match.group(2)
            assert "://" not in target, f"{page}: remote image {target}"
            path = os.path.normpath(os.path.join(DOCS, os.path.dirname(page), target))
            assert os.path.isfile(path), f"{page}: image {target} does not exist"
            if path.endswith(".png"):
                with open(path, "rb") as img:
                    assert img.read(8) == PNG_MAGIC, f"{page}: {target} is not a PNG"
            referenced += 1
    assert referenced >= 3  # the architecture picture and the two performance plots


def test_configuration_reference_is_generated_from_the_keys_table():
    spec = importlib.util.spec_from_file_location("gen_configuration", os.path.join(DOCS, "gen_configuration.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.render()
    with open(os.path.join(DOCS, "configuration.md"), encoding="utf-8") as fh:
        assert fh.read() == text, "docs/configuration.md is out of date: run python docs/gen_configuration.py"
    from hive_ha.core.config import KEYS

    for section, key in KEYS:
        assert f"## `[{section}]`" in text and f"| `{key}` |" in text
    # defaults come from the loader, allowed values from the key's own parser, meanings from the example
    assert "| `selection_policy` | `oldest` | one of oldest, random, per_user | How a server is chosen" in text
    assert "| `zookeeper_ssl_ca` | (empty) | the path of a readable file |" in text
    assert "Secret: never logged" in text.split("| `zookeeper_digest_password` |")[1].split("\n")[0]
