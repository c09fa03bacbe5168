#!/usr/bin/env bash
# The easycars demo: build and install the extension into a scratch PostgreSQL 15 (pg_cron
# preloaded), start the EasyCars simulator, create the extension, store encrypted credentials for
# the simulated dealerships, and show what is there. `scripts/demo.sh stop` stops it all.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg-demo}
export EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28816}
export EASYCARS_PG_DB=easycars_demo
SIM_PID_FILE=$EASYCARS_PG_DIR/sim.pid

stop_all() {
  [ -f "$SIM_PID_FILE" ] && kill "$(cat "$SIM_PID_FILE")" 2>/dev/null || true
  rm -f "$SIM_PID_FILE"
  scripts/pg-scratch.sh stop
}
if [ "${1:-}" = stop ]; then stop_all; echo "demo stopped"; exit 0; fi

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "installing prerequisites (once)"
scripts/setup.sh

say "building and installing the extension into PostgreSQL 15"
cargo pgrx install --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
cargo build --quiet -p easycars-sim

say "starting a fresh scratch cluster on port $EASYCARS_PG_PORT and the EasyCars simulator"
stop_all
rm -rf "$EASYCARS_PG_DIR"
scripts/pg-scratch.sh start
SIM_OUT=$EASYCARS_PG_DIR/sim.out
target/debug/easycars-sim --listen 127.0.0.1:0 --seed 7 --dealers 3 --vehicles 200 >"$SIM_OUT" 2>"$EASYCARS_PG_DIR/sim.err" &
echo $! >"$SIM_PID_FILE"
for _ in $(seq 100); do grep -q '^listening on ' "$SIM_OUT" && break; sleep 0.1; done
SIM_URL=$(sed -n 's/^listening on //p' "$SIM_OUT")
echo "simulator: $SIM_URL"
MANIFEST=$(curl -sf "$SIM_URL/_sim/manifest")

say "CREATE EXTENSION easycars; dealerships and encrypted credentials from the simulator"
scripts/pg-scratch.sh psql -q -v manifest="$MANIFEST" -v sim="$SIM_URL" <<'SQL'
CREATE EXTENSION pg_cron;
CREATE EXTENSION easycars;
CREATE TEMP TABLE dealer AS
SELECT row_number() OVER ()::int AS id, d
FROM jsonb_array_elements((:'manifest')::jsonb -> 'dealers') AS d;
INSERT INTO easycars.dealership (id, name) SELECT id, d->>'DealerName' FROM dealer;
SELECT easycars.set_credentials(id, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret',
                                'Test', NULL, :'sim' || '/TestECService')
FROM dealer \g /dev/null
\echo
\echo 'Objects of the extension:'
\dx+ easycars
\echo 'What an analyst may see of credentials (easycars.credentials_safe):'
SELECT dealership_id, d.name AS dealership, environment, account_number_masked, base_url
FROM easycars.credentials_safe JOIN easycars.dealership d ON d.id = dealership_id ORDER BY 1;
\echo 'Do they decrypt with the key file? (easycars.verify_credentials())'
SELECT * FROM easycars.verify_credentials();
\echo 'What is actually stored (ciphertext envelopes, one nonce per value):'
SELECT dealership_id, left(client_secret_encrypted, 48) || '…' AS client_secret_encrypted FROM easycars.credentials ORDER BY 1;
\echo 'Monthly partitions of the activity log:'
SELECT inhrelid::regclass AS partition, pg_get_expr(c.relpartbound, c.oid) AS bounds
FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid WHERE inhparent = 'easycars.sync_activity_log'::regclass ORDER BY 1;
SQL

say "the simulator serves the documented EasyCars API"
TOKEN=$(curl -sf -X POST "$SIM_URL/TestECService/StockService/RequestToken?ClientID=$(echo "$MANIFEST" | sed -n 's/.*"ClientID":"\([^"]*\)".*/\1/p' | head -1)&ClientSecret=$(echo "$MANIFEST" | sed -n 's/.*"ClientSecret":"\([^"]*\)".*/\1/p' | head -1)" --data '' | sed -n 's/.*"Token":"\([^"]*\)".*/\1/p')
echo "RequestToken -> a ${#TOKEN}-character HS256 JWT"
echo "GET $SIM_URL/_sim/stats:"
curl -sf "$SIM_URL/_sim/stats" | head -c 300; echo

cat <<EOF2

The demo cluster keeps running:
  psql -h 127.0.0.1 -p $EASYCARS_PG_PORT -U postgres $EASYCARS_PG_DB
  simulator: $SIM_URL (control API under /_sim/, see easycars-sim/README.md)
Stop both with: scripts/demo.sh stop
EOF2
