#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for tests and the demo: 15 (the default) with pg_cron preloaded,
# or 18 (no pg_cron exists for it here).
# Usage: scripts/pg-scratch.sh start|stop|psql [args]|url|log|bin ; settings via EASYCARS_PG_MAJOR
# (15 or 18), EASYCARS_PG_DIR, EASYCARS_PG_PORT, EASYCARS_PG_DB.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/pg-versions.sh"
MAJOR=${EASYCARS_PG_MAJOR:-15}
BIN=$("$(pg_config_for "$MAJOR")" --bindir)
case "$MAJOR" in
  15) DEFAULT_DIR=$ROOT/target/pg-scratch; DEFAULT_PORT=28815
      PRELOAD='pg_cron,pg_stat_statements,easycars' ;;
  18) DEFAULT_DIR=$ROOT/target/pg18-scratch; DEFAULT_PORT=28825
      PRELOAD='pg_stat_statements,easycars' ;;
esac
DIR=${EASYCARS_PG_DIR:-$DEFAULT_DIR}
PORT=${EASYCARS_PG_PORT:-$DEFAULT_PORT}
DB=${EASYCARS_PG_DB:-easycars_test}

# initdb refuses root, so as root the cluster belongs to the postgres OS user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then sudo -u postgres -- "$@"; else "$@"; fi
}

start() {
  if as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then return 0; fi
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
    # The credentials key: outside the database, readable by the server's OS user only.
    (umask 077; echo "k1:$(head -c 32 /dev/urandom | base64)" >"$DIR/easycars.keys")
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR/easycars.keys"
    cat >>"$DIR/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
shared_preload_libraries = '$PRELOAD'
easycars.key_file = '$DIR/easycars.keys'
max_worker_processes = 32
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
CONF
    if [ "$MAJOR" = 15 ]; then
      printf '%s\n' "cron.database_name = '$DB'" "cron.use_background_workers = on" >>"$DIR/data/postgresql.conf"
    fi
  fi
  # The bundled simulator listens on loopback; only a superuser can allow such hosts (clusters made
  # before this setting existed get it too).
  if ! grep -q '^easycars.allowed_hosts' "$DIR/data/postgresql.conf"; then
    echo "easycars.allowed_hosts = '127.0.0.1, localhost'" | as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null
  fi
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
  psql_ -d postgres -qc "SELECT 1" >/dev/null
  if ! psql_ -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    psql_ -d postgres -qc "CREATE DATABASE $DB"
  fi
}

stop() {
  if [ -f "$DIR/data/PG_VERSION" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

psql_() { PGOPTIONS=${PGOPTIONS:-} "$BIN/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  psql) shift; psql_ -d "$DB" "$@" ;;
  url) echo "postgresql://postgres@127.0.0.1:$PORT/$DB" ;;
  log) echo "$DIR/server.log" ;;
  bin) echo "$BIN" ;;
  *) echo "usage: $0 start|stop|psql|url|log|bin" >&2; exit 2 ;;
esac
