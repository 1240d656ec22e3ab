#!/bin/sh
# Prints the directory of the Hue build kit (build-hue-venv.sh, hue-4.11-backend.tgz, hue-requirements-3.11.txt):
# $HIVE_HA_HUE_DIST, else ../shared/hue next to this checkout, else next to the local checkout it was cloned from.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for candidate in ${HIVE_HA_HUE_DIST:-} "$ROOT/../shared/hue" "$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo /nonexistent)/../shared/hue"; do
    if [ -f "$candidate/build-hue-venv.sh" ] && [ -f "$candidate/hue-4.11-backend.tgz" ] \
            && [ -f "$candidate/hue-requirements-3.11.txt" ]; then
        (cd "$candidate" && pwd)
        exit 0
    fi
done
echo "no Hue build kit (build-hue-venv.sh, hue-4.11-backend.tgz, hue-requirements-3.11.txt) at" \
     "${HIVE_HA_HUE_DIST:-../shared/hue}: set HIVE_HA_HUE_DIST to the directory that holds them" >&2
exit 2
