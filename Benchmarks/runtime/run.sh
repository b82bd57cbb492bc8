#!/usr/bin/env bash
# Load test of the Tollgate runtime with wrk on loopback: /v1/check and /v1/usage, on SQLite and
# PostgreSQL, with GET /health on the same server as the peer (no storage, same HTTP stack).
# Reports requests/s and p50/p99 latency per route, back end and connection count.
#
# Usage: Benchmarks/runtime/run.sh [sqlite|postgres|both]
# Environment: DURATION (default 10s), CONNECTIONS (default 32; a list such as "16 32" runs each),
#   THREADS (default 1), ROUTES (default "health check usage"),
#   RUNTIME_BINARY (default .build/release/tollgate-runtime; build it with
#   `swift build -c release --product tollgate-runtime`), TOLLGATE_TEST_POSTGRES_URL for PostgreSQL
#   (scripts/start-postgres.sh prints it), SQLITE_OPTIONS (e.g. "?synchronous=normal").
# Needs: wrk (apt-get install -y wrk).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BACKENDS="${1:-both}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
BINARY="${RUNTIME_BINARY:-$ROOT/.build/release/tollgate-runtime}"
PORT="${BENCH_PORT:-18181}"
source "$ROOT/Benchmarks/common.sh"
require_binary "$BINARY" tollgate-runtime

# A product with a budget large enough never to deny during the run.
sed -e 's/"id": "team-a"/"id": "bench"/' -e 's/"500.00"/"100000000.00"/' \
  "$ROOT/docs/runtime-config.example.json" > "$WORK/runtime-config.json"

start_server() {
  TOLLGATE_DATABASE_URL="$1" LOG_LEVEL=error "$BINARY" --config "$WORK/runtime-config.json" \
    --host 127.0.0.1 --port "$PORT" > "$WORK/runtime.log" 2>&1 &
  BENCH_PIDS=($!)
  wait_for "http://127.0.0.1:$PORT/health" runtime
}

stop_server() {
  for pid in "${BENCH_PIDS[@]}"; do stop_process "$pid"; done
  BENCH_PIDS=()
}

RESULTS=()
run_route() {
  local backend="$1" route="$2" connections="$3"
  # Warm-up, then the measured run.
  wrk -t"$THREADS" -c"$connections" -d2s -s "$ROOT/Benchmarks/runtime/post.lua" "http://127.0.0.1:$PORT" -- "$route" >/dev/null
  wrk -t"$THREADS" -c"$connections" -d"$DURATION" --latency -s "$ROOT/Benchmarks/runtime/post.lua" \
    "http://127.0.0.1:$PORT" -- "$route" > "$WORK/wrk.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  errors=$(awk '/non-200 responses/ {print $3}' "$WORK/wrk.txt")
  local path="/v1/$route"
  [ "$route" = "health" ] && path="/health"
  RESULTS+=("$(printf '%-9s %-10s %5s %10s %9s %9s %8s' "$backend" "$path" "$connections" "$rps" "$p50" "$p99" "${errors:-0}")")
}

run_backend() {
  local backend="$1" url="$2"
  start_server "$url"
  for connections in $CONNECTIONS; do
    for route in ${ROUTES:-health check usage}; do run_route "$backend" "$route" "$connections"; done
  done
  stop_server
}

if [ "$BACKENDS" = "sqlite" ] || [ "$BACKENDS" = "both" ]; then
  run_backend sqlite "sqlite:$WORK/bench.db${SQLITE_OPTIONS:-}"
fi
if [ "$BACKENDS" = "postgres" ] || [ "$BACKENDS" = "both" ]; then
  if [ -z "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
    echo "skipping PostgreSQL: set TOLLGATE_TEST_POSTGRES_URL (eval \"\$(scripts/start-postgres.sh)\")" >&2
  else
    run_backend postgres "$TOLLGATE_TEST_POSTGRES_URL"
  fi
fi

echo "wrk -t$THREADS -d$DURATION on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-9s %-10s %5s %10s %9s %9s %8s\n' backend route conns "req/s" p50 p99 non-200
for line in "${RESULTS[@]}"; do echo "$line"; done
