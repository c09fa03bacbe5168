#!/usr/bin/env bash
# Runs every test of easycars: formatting and lints, the plain-Rust crates (API types, simulator),
# then the installed extension in a scratch PostgreSQL 15 (pg_cron preloaded) against the simulator.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg-test}
export EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28815}
export EASYCARS_PG_DB=easycars_test

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "raised rights only in src/security.rs"
# The Rust code switches identity in one reviewed place; the privilege walk (13_privileges.sql)
# checks the installed catalog for definer functions and unpinned search_paths.
if grep -rnE "SetUserIdAndSecContext|SetUserId\(|SetSessionUserId" src --include='*.rs' | grep -v '^src/security.rs:'; then
  echo "an identity switch outside src/security.rs: use security::as_extension_owner" >&2
  exit 1
fi

step "cargo clippy"
cargo clippy --quiet --workspace --all-targets -- -D warnings

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"; for p in ${SIM_PID:-} ${RECORDER_PID:-}; do kill "$p" 2>/dev/null; done; scripts/pg-scratch.sh stop' EXIT

step "cargo test (plain crates, and the extension's Postgres-free helpers)"
cargo test --workspace --exclude easycars 2>&1 | tee -a "$RESULTS"
cargo test -p easycars --lib 2>&1 | tee -a "$RESULTS"

step "install the extension into PostgreSQL 15"
cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null
# The install script of 0.1.0, for the upgrade test (ALTER EXTENSION easycars UPDATE from it).
install -m 644 pgrx-tests/fixtures/easycars--0.1.0.sql "$("$PG_CONFIG" --sharedir)/extension/"

step "start a fresh scratch cluster and the simulator"
scripts/pg-scratch.sh stop
rm -rf "$EASYCARS_PG_DIR"
scripts/pg-scratch.sh start
# A key file other OS users could read, which the extension must refuse.
scripts/make-test-keys.sh "$EASYCARS_PG_DIR"
cargo build --quiet -p easycars-sim
SIM_OUT=$(mktemp)
target/debug/easycars-sim --listen 127.0.0.1:0 --seed 42 --dealers 3 --vehicles 25 >"$SIM_OUT" &
SIM_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' "$SIM_OUT" && break; sleep 0.1; done
export EASYCARS_SIM_URL=$(sed -n 's/^listening on //p' "$SIM_OUT")
[ -n "$EASYCARS_SIM_URL" ] || { echo "simulator did not start" >&2; exit 1; }
# An attacker's listener on another loopback address (not in easycars.allowed_hosts): the security
# tests point credentials at it every way they can and check that it receives nothing.
RECORDER_LOG="$EASYCARS_PG_DIR/recorder.log"
RECORDER_OUT=$(mktemp)
python3 scripts/recorder.py 127.0.0.2 "$RECORDER_LOG" >"$RECORDER_OUT" &
RECORDER_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' "$RECORDER_OUT" && break; sleep 0.1; done
RECORDER_URL=$(sed -n 's/^listening on //p' "$RECORDER_OUT")
[ -n "$RECORDER_URL" ] || { echo "recorder did not start" >&2; exit 1; }
scripts/pg-scratch.sh psql -q <<SQL
CREATE EXTENSION pgtap;
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION dblink;
CREATE EXTENSION easycars CASCADE;
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.sim_url = '$EASYCARS_SIM_URL';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.recorder_url = '$RECORDER_URL';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.recorder_log = '$RECORDER_LOG';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.server_log = '$(scripts/pg-scratch.sh log)';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.open_key_file = '$EASYCARS_PG_DIR/group-readable.keys';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.rotated_key_file = '$EASYCARS_PG_DIR/rotated.keys';
ALTER DATABASE $EASYCARS_PG_DB SET easycars_test.new_only_key_file = '$EASYCARS_PG_DIR/new-only.keys';
SQL
scripts/pg-scratch.sh psql -q -f scripts/sim-fixtures.sql

step "SQL tests (pgTAP) against the installed extension"
PGHOST=127.0.0.1 PGPORT=$EASYCARS_PG_PORT PGUSER=postgres PGDATABASE=$EASYCARS_PG_DB \
  pg_prove --ext .sql pgrx-tests/*.sql 2>&1 | tee -a "$RESULTS"

passed=$(grep -Eo '[0-9]+ passed' "$RESULTS" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$RESULTS" | awk '{s+=$1} END {print s+0}')
pgtap=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$RESULTS" | tail -1)
echo
echo "${passed} passed (cargo), ${pgtap:-0} pgTAP assertions passed"
echo "$((passed + ${pgtap:-0})) passed, ${failed} failed"
