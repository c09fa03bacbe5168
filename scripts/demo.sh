#!/usr/bin/env bash
# The easycars demo: build and install the extension into a scratch PostgreSQL 15 (pg_cron
# preloaded), start the EasyCars simulator, create the extension, store encrypted credentials,
# query EasyCars live, sync stock, push and refresh leads, schedule syncs with pg_cron and watch
# one scheduled run. `scripts/demo.sh stop` stops it all.
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

say "CREATE EXTENSION easycars; dealerships and encrypted credentials from the simulator"
scripts/pg-scratch.sh psql -q -v sim="$SIM_URL" <<'SQL'
CREATE EXTENSION pg_cron;
CREATE EXTENSION easycars CASCADE;
ALTER DATABASE easycars_demo SET easycars_demo.sim_url = :'sim';
SET easycars_demo.sim_url = :'sim';
-- The simulator's manifest, read server-side (curl) so no secret appears in any SQL text.
CREATE TEMP TABLE manifest (line text);
DO $$ BEGIN
    EXECUTE format('COPY manifest FROM PROGRAM %L WITH (FORMAT csv, QUOTE E''\x01'', DELIMITER E''\x02'')',
                   'curl -s ' || current_setting('easycars_demo.sim_url') || '/_sim/manifest');
END $$;
CREATE TEMP TABLE dealer AS
SELECT row_number() OVER ()::int AS id, d FROM manifest, jsonb_array_elements(line::jsonb -> 'dealers') AS d;
INSERT INTO easycars.dealership (id, name) SELECT id, d->>'DealerName' FROM dealer;
SELECT easycars.set_credentials(id, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret',
                                'Test', NULL, current_setting('easycars_demo.sim_url') || '/TestECService')
FROM dealer \g /dev/null
\echo
\echo 'What an analyst may see of credentials (easycars.credentials_safe) -- what is stored is ciphertext:'
SELECT c.dealership_id, d.name AS dealership, c.environment, c.account_number_masked, left(k.client_secret_encrypted, 30) || '…' AS stored_client_secret
FROM easycars.credentials_safe c JOIN easycars.dealership d ON d.id = c.dealership_id
JOIN easycars.credentials k USING (dealership_id) ORDER BY 1;
SQL

say "an analyst queries EasyCars live through the foreign data wrapper"
scripts/pg-scratch.sh psql -q <<'SQL'
CREATE SERVER harbour_city FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1');
CREATE SCHEMA harbour_city;
IMPORT FOREIGN SCHEMA easycars FROM SERVER harbour_city INTO harbour_city;
\echo 'SELECT make, count(*), min(price), max(price) FROM harbour_city.stock GROUP BY make ORDER BY 2 DESC LIMIT 5;'
SELECT make, count(*), min(price), max(price) FROM harbour_city.stock GROUP BY make ORDER BY 2 DESC LIMIT 5;
\echo 'EXPLAIN shows what goes to EasyCars:'
EXPLAIN (COSTS OFF) SELECT stock_number, price FROM harbour_city.stock WHERE yard_code = '200' AND price < 30000;
SQL

say "syncing stock into easycars.vehicle, pushing and refreshing leads"
scripts/pg-scratch.sh psql -q <<'SQL'
SET client_min_messages = warning;
SELECT d.id AS dealership, s.status, s.records_created AS created, s.records_updated AS updated,
       s.records_unchanged AS unchanged, s.records_removed AS removed
FROM easycars.dealership d, LATERAL easycars.sync_stock(d.id) s ORDER BY 1;
\echo 'A second sync finds nothing to do (and writes no tuple):'
SELECT status, records_created, records_updated, records_unchanged FROM easycars.sync_stock(1);
\echo 'A few synced vehicles:'
SELECT easycars_stock_number AS stock, title, price, condition, exterior_color, jsonb_array_length(features) AS features
FROM easycars.vehicle WHERE dealership_id = 1 ORDER BY price DESC NULLS LAST LIMIT 5;
\echo 'Two web leads, pushed to EasyCars (CreateLead), then refreshed from it (GetLeadDetail):'
INSERT INTO easycars.lead (dealership_id, vehicle_id, name, email, mobile, message, rating, vehicle_interest_type, data_source)
SELECT 1, id, 'Jo Citizen', 'jo@example.com', '0400111222', 'Is it still available?', 'Warm', 'TestDrive', 'WebForm'
FROM easycars.vehicle WHERE dealership_id = 1 ORDER BY id LIMIT 2;
SELECT status, records_created, records_failed FROM easycars.push_leads(1);
SELECT status, records_processed, records_updated FROM easycars.sync_leads(1);
SELECT id, name, easycars_lead_number, easycars_customer_no, rating, last_synced_to_easycars IS NOT NULL AS pushed
FROM easycars.lead WHERE dealership_id = 1 ORDER BY id;
\echo 'Who to call first (lead score, kept by the database) and a fuzzy search by name and by phone:'
SET app.current_dealership_id = '1';
SELECT id, name, rating, vehicle_interest_type, mobile_e164, score FROM easycars.lead ORDER BY score DESC LIMIT 5;
SELECT lead_id, name, matched_on, round(rank::numeric, 2) AS rank FROM easycars.search_leads('joe citizen') LIMIT 3;
SELECT lead_id, name, matched_on FROM easycars.search_leads('+61 400 111 222') LIMIT 3;
SQL

say "scheduling syncs with pg_cron and waiting for one scheduled run (up to a minute)"
scripts/pg-scratch.sh psql -q <<'SQL'
SET client_min_messages = warning;
SELECT job_name, schedule, command FROM easycars.schedule_syncs('* * * * *', '*/30 * * * *');
CREATE TEMP TABLE t0 AS SELECT now() AS at;
DO $$ BEGIN
    FOR i IN 1 .. 90 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'easycars-stock' AND d.status = 'succeeded' AND d.start_time >= (SELECT at FROM t0));
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
SELECT j.jobname, d.status, d.start_time, d.end_time - d.start_time AS took
FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY d.start_time DESC LIMIT 1;
\echo 'The sync log (newest first):'
SELECT id, dealership_id AS d, sync_type, sync_direction, status, records_processed AS n, records_created AS new,
       records_updated AS upd, records_unchanged AS same, triggered_by, completed_at - started_at AS took
FROM easycars.sync_log ORDER BY id DESC LIMIT 10;
\echo '7-day sync report (easycars.sync_performance_7d):'
SELECT * FROM easycars.sync_performance_7d;
SELECT easycars.unschedule_syncs() AS jobs_removed;
SQL

cat <<EOF2

The demo cluster keeps running:
  psql -h 127.0.0.1 -p $EASYCARS_PG_PORT -U postgres $EASYCARS_PG_DB
  simulator: $SIM_URL (control API under /_sim/, see easycars-sim/README.md)
Stop both with: scripts/demo.sh stop
EOF2
