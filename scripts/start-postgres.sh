#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for Tollgate's tests and benchmarks.
#
# Usage:  eval "$(scripts/start-postgres.sh)"     # exports TOLLGATE_TEST_POSTGRES_URL
#         scripts/start-postgres.sh stop          # stops the cluster and removes its data
#
# Environment: PGPORT_TOLLGATE (default 54329), PGDATA_TOLLGATE (default /tmp/tollgate-pg).
# Needs Debian's `postgresql` package (any version); runs the server as the `postgres` user
# when started as root, since PostgreSQL refuses to run as root.
set -euo pipefail

PORT="${PGPORT_TOLLGATE:-54329}"
DATA="${PGDATA_TOLLGATE:-/tmp/tollgate-pg}"
LOG="$DATA.log"

BIN=""
for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/pg_ctl" ] && BIN="$candidate"
done
if [ -z "$BIN" ]; then
    if command -v pg_ctl >/dev/null 2>&1; then BIN="$(dirname "$(command -v pg_ctl)")"; else
        echo "start-postgres.sh: PostgreSQL not found; apt-get install -y postgresql" >&2; exit 1
    fi
fi

as_pg() {
    if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-start}" = "stop" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DATA" "$LOG"
    exit 0
fi

if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    touch "$LOG"
    if [ "$(id -u)" = "0" ]; then chown postgres:postgres "$DATA" "$LOG"; fi
    chmod 700 "$DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    # Throwaway test cluster: durability settings stay on (the crash test relies on them);
    # only connection limits are raised for the replica test.
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-h 127.0.0.1 -p $PORT -k /tmp -c max_connections=300" start >/dev/null
fi

for _ in $(seq 1 60); do
    if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; then break; fi
    sleep 0.5
done
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='tollgate_test'" | grep -q 1 \
    || "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE tollgate_test" >/dev/null

echo "export TOLLGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/tollgate_test"
