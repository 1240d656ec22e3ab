"""Nothing in the repository names a path of one machine (a home directory, a work area, a clone location): files
refer to each other relative to the checkout (reference pages beside it: ``../shared/reference/...``) or through an
environment variable with a documented default."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = {".git", ".venv", ".hue", "build", "dist", "site", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}
# Paths of one machine: its work area, home directories, a mirror of other repositories.
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|Users|root)/[\w.+-]|[.]mirror/")


def tracked_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.endswith(".egg-info"))
        for name in sorted(set(files) - SKIP):  # a worktree's .git is a file naming where the repository is
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
            try:
                with open(path, encoding="utf-8") as handle:
                    yield relative, handle.read()
            except UnicodeDecodeError:
                continue  # images and other binary files


def test_no_file_names_a_path_of_one_machine():
    found = [f"{path}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
             for path, text in tracked_text_files() for match in MACHINE_PATH.finditer(text)]
    assert found == []
