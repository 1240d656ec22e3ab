#!/bin/sh
# Installs the Debian packages hive-ha's demo and tests need, only when some are missing.
# Runs apt-get as root (or through sudo); prints what it does.
set -eu
PKGS="zookeeper default-jre-headless python3-venv ca-certificates haproxy nginx libnginx-mod-stream apache2 krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit libkrb5-dev gcc"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-system-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the package's own service from starting: tests run their own servers.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
