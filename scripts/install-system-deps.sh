#!/bin/sh
# Installs the Debian packages hive-ha's demo and tests need, only when some are missing.
# Runs apt-get as root (or through sudo); prints what it does.
#
# postgresql, mariadb-server: the database servers the Hue tests run Hue on (tests/rig/databases.py starts its own,
# on free loopback ports in temporary directories; Debian's own services are not used). default-libmysqlclient-dev
# and pkg-config build mysqlclient, Hue's MySQL driver (scripts/hue-venv.sh).
set -eu
PKGS="zookeeper default-jre-headless python3-venv ca-certificates haproxy nginx libnginx-mod-stream apache2 krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit libkrb5-dev gcc postgresql mariadb-server default-libmysqlclient-dev pkg-config"
# PostgreSQL's initdb and postgres, and MariaDB's server, refuse to run as root: when the tests run as root, the
# database servers they start run as this unprivileged system user (no login, no home).
DB_USER=hive-ha-db
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ "$(id -u)" -eq 0 ] && ! id -u "$DB_USER" >/dev/null 2>&1; then
    echo "install-system-deps: adding system user $DB_USER" >&2
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$DB_USER"
fi
[ -z "$missing" ] && exit 0
echo "install-system-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Where an /usr/sbin/policy-rc.d forbids it (containers), the packages' own services do not start; elsewhere Debian
# starts them (zookeeper, postgresql, mariadb, ...): the tests run their own servers on free ports either way.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
