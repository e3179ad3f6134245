#!/usr/bin/env bash
# The database servers and client libraries the EXPLAIN tests use (docs/explain.md).
#
#   scripts/databases.sh client-deps  what mysqlclient needs to build (libmariadb-dev, pkg-config),
#                                     installed with apt-get when missing (as root)
#   scripts/databases.sh start        start PostgreSQL and MariaDB when installed but not running
#   scripts/databases.sh install      install both servers with apt-get, then start them
#
# The tests expect PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) and MariaDB at
# 127.0.0.1:3306 (root, empty password). A server that is not running makes them FAIL with
# this script's name in the message; DJTOP_TEST_SKIP_DATABASES=postgresql,mariadb leaves one
# out on purpose.
set -uo pipefail

say() { echo "databases: $*"; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port="$1" i
  for i in $(seq 1 50); do
    listening "$port" && return 0
    sleep 0.2
  done
  return 1
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || return 1
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq || return 1
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

client_deps() {
  if command -v pkg-config >/dev/null \
    && { pkg-config --exists libmariadb || pkg-config --exists mysqlclient; }; then
    return 0
  fi
  say "mysqlclient needs libmariadb-dev and pkg-config: installing them"
  if ! apt_install libmariadb-dev pkg-config; then
    say "FAILED: install libmariadb-dev (or libmysqlclient-dev) and pkg-config, then run make again"
    return 1
  fi
}

start_postgresql() {
  if listening 5432; then say "PostgreSQL: running on 127.0.0.1:5432"; return 0; fi
  if ! command -v pg_ctlcluster >/dev/null || [ ! -d /etc/postgresql ]; then
    say "PostgreSQL: not installed (scripts/databases.sh install); its EXPLAIN tests will fail"
    return 0
  fi
  local version
  for version in $(ls /etc/postgresql); do
    say "PostgreSQL $version: starting"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
      || say "PostgreSQL $version: could not start"
  done
  wait_port 5432 && say "PostgreSQL: running on 127.0.0.1:5432" \
    || say "PostgreSQL: still not listening on 127.0.0.1:5432; its EXPLAIN tests will fail"
}

start_mariadb() {
  if listening 3306; then say "MariaDB: running on 127.0.0.1:3306"; return 0; fi
  if [ ! -x /usr/sbin/mariadbd ]; then
    say "MariaDB: not installed (scripts/databases.sh install); its EXPLAIN tests will fail"
    return 0
  fi
  say "MariaDB: starting"
  as_root install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
    || say "MariaDB: could not start"
  wait_port 3306 && say "MariaDB: running on 127.0.0.1:3306" \
    || say "MariaDB: still not listening on 127.0.0.1:3306; its EXPLAIN tests will fail"
}

case "${1:-start}" in
  client-deps) client_deps ;;
  start)
    start_postgresql
    start_mariadb
    ;;
  install)
    apt_install postgresql mariadb-server libmariadb-dev pkg-config || { say "FAILED: apt-get"; exit 1; }
    start_postgresql
    start_mariadb
    say "the tests connect as postgres (trust) and root (empty password) over 127.0.0.1:"
    say "configure pg_hba.conf and the MariaDB root account to match if they differ"
    ;;
  *)
    echo "usage: $0 client-deps|start|install" >&2
    exit 2
    ;;
esac
