#!/usr/bin/env bash
# Installs everything easycars needs on a Debian 12 machine; safe to re-run (seconds when ready).
set -euo pipefail

PGRX_VERSION=0.16.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
APT_PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
  libtap-parser-sourcehandler-pgtap-perl libclang-dev clang pkg-config libssl-dev sudo curl
)

log() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # The Debian package starts a cluster on 5432 we never use; the project runs its own scratch clusters.
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(cargo pgrx --version 2>/dev/null | awk '{print $2}')" != "$PGRX_VERSION" ]; then
  log "installing cargo-pgrx $PGRX_VERSION (about 10 minutes, once)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
fi

if ! grep -qs "pg15 *= *\"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  log "pointing cargo-pgrx at the system PostgreSQL 15"
  cargo pgrx init --pg15="$PG_CONFIG" >/dev/null
fi

log "setup complete"
