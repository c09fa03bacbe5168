#!/usr/bin/env bash
# Developer loop: rebuild and install the extension, restart the dev scratch cluster, recreate the extension.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export EASYCARS_PG_DIR=${EASYCARS_PG_DIR:-$ROOT/target/pg-dev}
export EASYCARS_PG_PORT=${EASYCARS_PG_PORT:-28817}
cargo pgrx install --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
scripts/pg-scratch.sh stop
scripts/pg-scratch.sh start
scripts/pg-scratch.sh psql -q -c "DROP EXTENSION IF EXISTS easycars CASCADE" -c "CREATE EXTENSION IF NOT EXISTS pgtap" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION easycars CASCADE"
