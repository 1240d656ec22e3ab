#!/bin/sh
# Builds (once per Hue tarball, cached) a virtualenv holding the real Hue 4.11 backend, installs this checkout
# into it the way docs/hue.md tells a Hue admin to (editable here, with Hue's own pins as constraints), adds Hue's
# PostgreSQL and MySQL drivers (scripts/hue-db-drivers.txt) and writes the venv's python path to .hue/python for
# `make test-hue` and benchmarks/hue_lookup.py.
#
#   HIVE_HA_HUE_DIST  the Hue build kit (build-hue-venv.sh, the tarball; default: see scripts/hue-dist.sh)
#   HIVE_HA_HUE_HOME  where the venv and Hue's source go (default: ~/.cache/hive-ha/hue-<tarball sha256[:12]>)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)

DIST=$(sh "$ROOT/scripts/hue-dist.sh")
SHA=$(sha256sum "$DIST/hue-4.11-backend.tgz" | cut -c1-12)
HOME_DIR=${HIVE_HA_HUE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hive-ha/hue-$SHA}
VENV="$HOME_DIR/venv"

bash "$DIST/build-hue-venv.sh" "$VENV" "$HOME_DIR/hue-src"
# -c: every package Hue's build installed stays at its version; pip stops rather than move one of them.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$VENV/hue-constraints.txt" -e "$ROOT[hue,hue-test]"
# The database drivers, added as Hue's docs tell an admin (the tests run Hue on PostgreSQL and MariaDB).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$VENV/hue-constraints.txt" \
    -r "$ROOT/scripts/hue-db-drivers.txt"
mkdir -p "$ROOT/.hue"
printf '%s\n' "$VENV/bin/python" > "$ROOT/.hue/python"
