#!/bin/sh
# Prints pip constraints derived from the Hue build's own pin list (hue-requirements-3.11.txt in the Hue build
# kit, see scripts/hue-venv.sh for where it is found): every "name==version" pin, extras dropped, without the
# installer toolchain (pip, setuptools, wheel). The dev venv is built against these, so that every package it
# shares with Hue is at Hue's version and the two cannot drift.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST=$(sh "$ROOT/scripts/hue-dist.sh")
sed -n 's/#.*//; s/[[:space:]]*$//; s/^\([A-Za-z0-9_.-]*\)\(\[[A-Za-z0-9_,-]*\]\)\{0,1\}==\([^[:space:];]*\)$/\1==\3/p' \
    "$DIST/hue-requirements-3.11.txt" | grep -viE '^(pip|setuptools|wheel)=='
