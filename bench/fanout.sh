#!/usr/bin/env bash
# Fan-out benchmark: many dealerships in one schedule window. N dealerships with V vehicles each on
# the simulator, L ms of latency on every EasyCars call (RequestToken, GetAdvertisementStocks), and
# one full stock cycle drained by W parallel workers (CALL easycars.run_due_syncs('stock'), each in
# its own session, as W pg_cron jobs would run). Prints wall time, dealerships per minute, the
# workers' backend CPU and peak connections. Not part of the test run.
#   bench/fanout.sh                                   # 100 and 1,000 dealerships, 1/4/8/16 workers
#   DEALERS="100" WORKERS="1 16" bench/fanout.sh
#   SKIP_SLOW=1 bench/fanout.sh                       # at 1,000 only 8 and 16 workers
#   HANG_PCT=5 DEADLINE='10 seconds' bench/fanout.sh  # also the cycle with 5% of dealerships hanging
#                                                     # (their API never answers) under that run deadline
#   LOOKAHEAD="0 8" bench/fanout.sh                   # each cycle at these easycars.sync_lookahead
#                                                     # values (default: the extension's default, 8)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg-fanout}
export EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28819}
export EASYCARS_PG_DB=easycars_fanout
DEALERS=${DEALERS:-"100 1000"}
WORKERS=${WORKERS:-"1 4 8 16"}
VEHICLES=${VEHICLES:-100}
LATENCY_MS=${LATENCY_MS:-200}
HANG_PCT=${HANG_PCT:-0}
DEADLINE=${DEADLINE:-10 seconds}
LOOKAHEAD=${LOOKAHEAD:-8}

scripts/setup.sh >/dev/null
echo "building (release) ..." >&2
cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
cargo build --quiet --release -p easycars-sim

SIM_PID=
HANG_PID=
cleanup() { for p in $SIM_PID $HANG_PID; do kill "$p" 2>/dev/null; done; scripts/pg-scratch.sh stop; }
trap cleanup EXIT
q() { scripts/pg-scratch.sh psql -qAt "$@"; }

scripts/pg-scratch.sh stop
rm -rf "$EASYCARS_PG_DIR"
scripts/pg-scratch.sh start
q -c "ALTER SYSTEM SET max_connections = 100" -c "CREATE EXTENSION easycars CASCADE" >/dev/null
scripts/pg-scratch.sh stop && scripts/pg-scratch.sh start

# CPU (clock ticks) of the server's exited children (the workers' backends, once reaped).
postmaster_pid() { head -1 "$EASYCARS_PG_DIR/data/postmaster.pid"; }
children_cpu() { read -r -a f < "/proc/$(postmaster_pid)/stat"; echo $((f[15] + f[16])); }
ticks=$(getconf CLK_TCK)

# start_sim NAME N: (re)starts simulator NAME (SIM or HANG) with N dealerships; sets NAME_PID and
# NAME_URL. Both use seed 1, so they serve the same accounts.
start_sim() {
  local pid_var=${1}_PID url_var=${1}_URL out=$EASYCARS_PG_DIR/${1,,}.out
  [ -n "${!pid_var}" ] && kill "${!pid_var}" 2>/dev/null && wait "${!pid_var}" 2>/dev/null || true
  target/release/easycars-sim --listen 127.0.0.1:0 --seed 1 --dealers "$2" --vehicles "$VEHICLES" --no-image-quirks >"$out" 2>/dev/null &
  printf -v "$pid_var" '%s' "$!"
  for _ in $(seq 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  printf -v "$url_var" '%s' "$(sed -n 's/^listening on //p' "$out")"
}

printf '%s\n' "dealerships | workers | look-ahead | hanging | cycle wall time | dealerships/min | workers' backend CPU | peak connections | synced"
for n in $DEALERS; do
  start_sim SIM "$n"
  for route in RequestToken GetAdvertisementStocks; do
    curl -s -X POST -H 'Content-Type: application/json' --data-binary "{\"route\": \"$route\", \"ms\": $LATENCY_MS}" "$SIM_URL/_sim/latency" >/dev/null
  done
  q <<SQL >/dev/null
SET client_min_messages = warning;
DELETE FROM easycars.dealership;
CREATE TEMP TABLE manifest (line text);
COPY manifest FROM PROGRAM 'curl -s $SIM_URL/_sim/manifest' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');
INSERT INTO easycars.dealership (id, name)
SELECT o, d->>'DealerName' FROM manifest, jsonb_array_elements(line::jsonb->'dealers') WITH ORDINALITY AS t(d, o);
SELECT easycars.set_credentials(o::int, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret', 'Test', NULL, '$SIM_URL/TestECService')
FROM manifest, jsonb_array_elements(line::jsonb->'dealers') WITH ORDINALITY AS t(d, o);
SQL
  # The same accounts on a second simulator whose API never answers (10 minutes per call): the
  # dealerships pointed at it hang, and the run deadline (easycars.sync_deadline) ends each.
  if [ "$HANG_PCT" -gt 0 ]; then
    start_sim HANG "$n"
    curl -s -X POST -H 'Content-Type: application/json' --data-binary '{"route": "*", "ms": 600000}' "$HANG_URL/_sim/latency" >/dev/null
  fi
  # A first cycle (not measured) writes every dealership's vehicles; the measured cycles are the
  # steady state a schedule window sees: every dealership fetched, nothing changed.
  warm=()
  for _ in $(seq 16); do
    q -c "SET client_min_messages = warning" -c "CALL easycars.run_due_syncs('stock', budget => '30 minutes')" >/dev/null 2>&1 &
    warm+=($!)
  done
  wait "${warm[@]}" || true
  hang_runs=(0)
  [ "$HANG_PCT" -gt 0 ] && hang_runs=(0 "$HANG_PCT")
  for hang in "${hang_runs[@]}"; do
  # Every (100 / hang)-th dealership hangs in this cycle (none when hang is 0).
  q -c "UPDATE easycars.credentials SET base_url = CASE WHEN $hang > 0 AND dealership_id % (100 / greatest($hang, 1)) = 0
                                                     THEN '${HANG_URL:-}/TestECService' ELSE '$SIM_URL/TestECService' END" >/dev/null
  for ahead in $LOOKAHEAD; do
  for w in $WORKERS; do
    if [ -n "${SKIP_SLOW:-}" ] && [ "$n" -ge 1000 ] && [ "$w" -lt 8 ]; then continue; fi
    q -c "DELETE FROM easycars.sync_schedule" -c "SELECT coalesce(max(id), 0) FROM easycars.sync_log" >"$EASYCARS_PG_DIR/mark"
    mark=$(tail -1 "$EASYCARS_PG_DIR/mark")
    cpu0=$(children_cpu)
    t0=$(date +%s.%N)
    pids=()
    for _ in $(seq "$w"); do
      q -c "SET client_min_messages = warning" -c "SET easycars.sync_deadline = '$DEADLINE'" \
        -c "SET easycars.sync_lookahead = $ahead" \
        -c "CALL easycars.run_due_syncs('stock', budget => '30 minutes')" >/dev/null 2>&1 &
      pids+=($!)
    done
    peak=0
    while kill -0 "${pids[@]}" 2>/dev/null; do
      c=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
      [ "$c" -gt "$peak" ] && peak=$c
      sleep 0.5
    done
    wait "${pids[@]}" || true
    t1=$(date +%s.%N)
    sleep 0.5
    cpu1=$(children_cpu)
    synced=$(q -c "SELECT count(*) FILTER (WHERE status = 'Success') || '/' || count(*) FROM easycars.sync_log WHERE id > $mark AND sync_type = 'Stock'")
    wall=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
    rate=$(awk "BEGIN { printf \"%.0f\", $n / ($t1 - $t0) * 60 }")
    cpu=$(awk "BEGIN { printf \"%.1f\", ($cpu1 - $cpu0) / $ticks }")
    # The sampling session itself is one of the connections counted.
    printf '%s\n' "$n | $w | $ahead | ${hang}% | ${wall} s | $rate | ${cpu} s | $((peak - 1)) | $synced"
  done
  done
  done
done
