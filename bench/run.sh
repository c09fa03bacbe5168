#!/usr/bin/env bash
# easycars benchmarks: syncs at 1,000 / 10,000 / 100,000 vehicles against the simulator on
# loopback, with the floors that isolate what the FDW, HTTP and JSON cost, lead refresh
# concurrency, and foreign-table scans. Prints a table; not part of the test run.
#   bench/run.sh                 # all sizes, release build
#   SIZES="1000 10000" bench/run.sh
#   PG=18 bench/run.sh           # on PostgreSQL 18 (default 15)
#   BENCH_SETUP_SQL='ALTER TABLE ...' bench/run.sh   # one change after CREATE EXTENSION
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. scripts/pg-versions.sh
export EASYCARS_PG_MAJOR=${PG:-15}
PG_CONFIG=$(pg_config_for "$EASYCARS_PG_MAJOR")
if [ "$EASYCARS_PG_MAJOR" = 15 ]; then
  export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg-bench} EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28818}
else
  export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg18-bench} EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28828}
fi
export EASYCARS_PG_DB=easycars_bench
SIZES=${SIZES:-"1000 10000 100000"}
LEADS=${LEADS:-1000}
LEAD_LATENCY_MS=${LEAD_LATENCY_MS:-50}

scripts/setup.sh >/dev/null
echo "building (release) ..." >&2
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
cargo build --quiet --release -p easycars-sim

SIM_PID=
cleanup() { [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; scripts/pg-scratch.sh stop; }
trap cleanup EXIT

q() { scripts/pg-scratch.sh psql -qAt "$@"; }

start_sim() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
  local out=$EASYCARS_PG_DIR/sim.out
  "${CARGO_TARGET_DIR:-target}/release/easycars-sim" --listen 127.0.0.1:0 --seed 1 --dealers 1 --vehicles "$1" --no-image-quirks >"$out" 2>/dev/null &
  SIM_PID=$!
  for _ in $(seq 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  SIM_URL=$(sed -n 's/^listening on //p' "$out")
}

# One measurement in a fresh backend: seconds and the backend's peak resident memory (MiB).
# $1: SQL statements; they may put a figure into the temp table result(v). Prints "seconds peak_mib result".
measure() {
  q <<SQL
SET client_min_messages = warning;
CREATE TEMP TABLE result (v text);
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS at;
$1
SELECT round(extract(epoch FROM clock_timestamp() - (SELECT at FROM t0))::numeric, 3)
       || ' ' || (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::bigint / 1024
       || ' ' || coalesce((SELECT string_agg(v, ';') FROM result), '-');
SQL
}

calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

scripts/pg-scratch.sh stop
rm -rf "$EASYCARS_PG_DIR"
scripts/pg-scratch.sh start
# pg_cron exists for 15 only here; the benchmark itself does not schedule.
[ "$EASYCARS_PG_MAJOR" = 15 ] && q -c "CREATE EXTENSION pg_cron"
q -c "CREATE EXTENSION easycars CASCADE"
# BENCH_SETUP_SQL: statements run once after CREATE EXTENSION, to compare one setting at a time.
if [ -n "${BENCH_SETUP_SQL:-}" ]; then q -c "$BENCH_SETUP_SQL"; fi

rows=()
gin_rows=()
for n in $SIZES; do
  echo "== $n vehicles" >&2
  start_sim "$n"
  q <<SQL
DROP TABLE IF EXISTS bench_stage, bench_copy;
DELETE FROM easycars.dealership;
INSERT INTO easycars.dealership (id, name) VALUES (1, 'Bench'), (2, 'Floor');
CREATE TEMP TABLE manifest (line text);
COPY manifest FROM PROGRAM 'curl -s $SIM_URL/_sim/manifest' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');
SELECT easycars.set_credentials(1, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret', 'Test', NULL, '$SIM_URL/TestECService')
FROM manifest, jsonb_array_elements(line::jsonb->'dealers') d;
SQL
  acct=$(curl -s "$SIM_URL/_sim/manifest" | sed -n 's/.*"AccountNumber":"\([^"]*\)".*/\1/p' | head -1)

  read -r t1 m1 _ < <(measure "INSERT INTO result SELECT records_created FROM easycars.sync_stock(1);")
  # 1% of the vehicles change price in EasyCars.
  q -c "COPY (SELECT jsonb_build_object('changes', jsonb_agg(jsonb_build_object('stock_number', easycars_stock_number, 'fields', jsonb_build_object('Price', coalesce(price, 0) + 1))))::text FROM (SELECT easycars_stock_number, price FROM easycars.vehicle WHERE dealership_id = 1 ORDER BY easycars_stock_number LIMIT greatest($n / 100, 1)) s) TO PROGRAM 'curl -s -X POST -H \"Content-Type: application/json\" --data-binary @- $SIM_URL/_sim/stock/$acct/change >/dev/null'"
  read -r t2 m2 r2 < <(measure "INSERT INTO result SELECT records_updated FROM easycars.sync_stock(1);")
  w0=$(q -c "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = 'easycars.vehicle'::regclass")
  read -r t3 m3 r3 < <(measure "INSERT INTO result SELECT records_unchanged FROM easycars.sync_stock(1);")
  sleep 1
  w1=$(q -c "SELECT pg_stat_clear_snapshot(); SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = 'easycars.vehicle'::regclass" | tail -1)

  # Floors: the same rows from a local typed staging table (no FDW, HTTP or JSON), and binary COPY.
  q <<SQL
SET app.current_dealership_id = '1';
CREATE TABLE bench_stage AS $(q -c "SELECT easycars._stock_feed_sql(1)");
CREATE TABLE bench_copy (LIKE easycars.vehicle);
COPY (SELECT * FROM easycars.vehicle WHERE dealership_id = 1) TO '$EASYCARS_PG_DIR/vehicles.bin' (FORMAT binary);
SQL
  upsert="SET app.current_dealership_id = '2'; INSERT INTO result SELECT fetched::text FROM easycars._run_stock_upsert('SELECT stock_number, easycars_raw_md5 AS raw_md5 FROM public.bench_stage s', 'SELECT s.* FROM public.bench_stage s WHERE s.stock_number IN (SELECT unnest(stock_numbers) FROM todo)', 2);"
  read -r tf1 _ _ < <(measure "$upsert")
  q -c "UPDATE bench_stage SET price = price + 1, easycars_raw_data = easycars_raw_data || '{\"bench\": 1}', easycars_raw_md5 = md5(random()::text) WHERE stock_number IN (SELECT stock_number FROM bench_stage ORDER BY stock_number LIMIT greatest($n / 100, 1))"
  read -r tf2 _ _ < <(measure "$upsert")
  read -r tc _ _ < <(measure "COPY bench_copy FROM '$EASYCARS_PG_DIR/vehicles.bin' (FORMAT binary);")
  # What the jsonb_path_ops index on the raw EasyCars data costs: the first staging upsert again,
  # with and without it, and its size.
  q -c "DELETE FROM easycars.vehicle WHERE dealership_id = 2"
  read -r tg1 _ _ < <(measure "$upsert")
  q -c "DELETE FROM easycars.vehicle WHERE dealership_id = 2" -c "DROP INDEX easycars.vehicle_raw_data_idx"
  read -r tg0 _ _ < <(measure "$upsert")
  q -c "CREATE INDEX vehicle_raw_data_idx ON easycars.vehicle USING gin (easycars_raw_data jsonb_path_ops)"
  gin_mib=$(q -c "SELECT round(pg_relation_size('easycars.vehicle_raw_data_idx') / 1048576.0, 1)")
  table_mib=$(q -c "SELECT round(pg_table_size('easycars.vehicle') / 1048576.0, 1)")
  gin_rows+=("$(printf '%8s | %7.2fs | %7.2fs | +%3.0f%% | %6s MiB (table %s MiB, both dealerships)' "$n" "$tg0" "$tg1" "$(calc "($tg1 / $tg0 - 1) * 100")" "$gin_mib" "$table_mib")")

  # The HTTP floor: the same answer downloaded by curl (token first), nothing parsed or stored.
  read -r cid csec asec < <(curl -s "$SIM_URL/_sim/manifest" | python3 -c "import json,sys; d=json.load(sys.stdin)['dealers'][0]; print(d['ClientID'], d['ClientSecret'], d['AccountSecret'])")
  token=$(curl -s -X POST --data '' "$SIM_URL/TestECService/StockService/RequestToken?ClientID=$cid&ClientSecret=$csec" | python3 -c "import json,sys; print(json.load(sys.stdin)['Token'])")
  th=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    "$SIM_URL/TestECService/StockService/GetAdvertisementStocks" -d "{\"AccountNumber\":\"$acct\",\"AccountSecret\":\"$asec\"}")

  # Scans of the stock foreign table: time to first row and total (from EXPLAIN ANALYZE).
  q -c "CREATE SERVER IF NOT EXISTS bench FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1')" \
    -c "CREATE SCHEMA IF NOT EXISTS bench" -c "DROP FOREIGN TABLE IF EXISTS bench.stock" \
    -c "IMPORT FOREIGN SCHEMA easycars LIMIT TO (stock) FROM SERVER bench INTO bench"
  count_plan=$(q -c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM bench.stock")
  filt_plan=$(q -c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT stock_number, price FROM bench.stock WHERE make = 'TOYOTA' AND price < 40000")
  scan_first=$(echo "$count_plan" | python3 -c "import json,sys; p=json.load(sys.stdin)[0]['Plan']['Plans'][0]; print(round(p['Actual Startup Time']/1000,3), round(p['Actual Total Time']/1000,3))")
  filt_first=$(echo "$filt_plan" | python3 -c "import json,sys; p=json.load(sys.stdin)[0]['Plan']; print(round(p['Actual Startup Time']/1000,3), round(p['Actual Total Time']/1000,3))")

  rows+=("$(printf '%8s | %7.2fs %8.0f/s %6s MiB | %7.2fs (%s upd) %6s MiB | %7.2fs (%s same) %6s MiB, %s tuples written | %7.2fs %7.2fs %7.2fs %7.2fs | %5.2fx %5.2fx | %5.2fx %5.2fx | %s / %s s | %s / %s s' \
    "$n" "$t1" "$(calc "$n / $t1")" "$m1" "$t2" "$r2" "$m2" "$t3" "$r3" "$m3" "$((w1 - w0))" \
    "$tc" "$tf1" "$tf2" "$th" "$(calc "$t1 / $tf1")" "$(calc "$t2 / $tf2")" \
    "$(calc "$t1 / ($th + $tf1)")" "$(calc "$t2 / ($th + $tf2)")" $scan_first $filt_first)")
done

# Lead refresh: LEADS leads with LEAD_LATENCY_MS per GetLeadDetail, against the sequential minimum.
start_sim 10
q <<SQL >/dev/null
DELETE FROM easycars.dealership;
DROP SERVER IF EXISTS bench CASCADE;
INSERT INTO easycars.dealership (id, name) VALUES (1, 'Bench');
CREATE TEMP TABLE manifest (line text);
COPY manifest FROM PROGRAM 'curl -s $SIM_URL/_sim/manifest' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');
SELECT easycars.set_credentials(1, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret', 'Test', NULL, '$SIM_URL/TestECService')
FROM manifest, jsonb_array_elements(line::jsonb->'dealers') d;
INSERT INTO easycars.lead (dealership_id, name, email, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
SELECT 1, 'Buyer ' || i, 'buyer' || i || '@example.com', 'Toyota', 'Corolla', 2022, 'Car', false FROM generate_series(1, $LEADS) i;
SQL
read -r tpush _ _ < <(measure "INSERT INTO result SELECT records_created FROM easycars.push_leads(1);")
curl -s -X POST "$SIM_URL/_sim/latency" -H 'Content-Type: application/json' -d "{\"route\":\"GetLeadDetail\",\"ms\":$LEAD_LATENCY_MS}" >/dev/null
read -r tlead mlead rlead < <(measure "INSERT INTO result SELECT records_processed FROM easycars.sync_leads(1);")
seq_min=$(calc "$LEADS * $LEAD_LATENCY_MS / 1000")
peak=$(curl -s "$SIM_URL/_sim/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['peak_in_flight'])")

echo
echo "easycars benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, PostgreSQL $(q -c 'SHOW server_version'), release build"
echo
echo "vehicles | first sync: time, rows/s, peak backend RSS | 1% changed: time, peak | no change: time, peak, tuples written | floors: binary COPY, staging upsert (first), (1%), HTTP fetch (curl) | sync / staging-upsert: first, 1% | sync / (HTTP fetch + staging upsert): first, 1% | SELECT count(*): first row / total | filtered SELECT: first row / total"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "vehicles | staging upsert without the raw-data GIN index | with it | its cost | its size"
for r in "${gin_rows[@]}"; do echo "$r"; done
echo
printf 'lead push: %s leads created in %.2fs\n' "$LEADS" "$tpush"
printf 'lead refresh: %s leads at %s ms each in %.2fs (sequential minimum %.1fs): %.1fx faster, peak %s concurrent requests, backend peak %s MiB\n' \
  "$rlead" "$LEAD_LATENCY_MS" "$tlead" "$seq_min" "$(calc "$seq_min / $tlead")" "$peak" "$mlead"
