#!/usr/bin/env bash
# Relay overhead with wrk on loopback, each part its own process: the PTU simulator
# (tollgate-ptu-sim, no token latency), the runtime (tollgate-runtime, SQLite) and wrk. Measures
# the same chat-completions call straight to the simulator and through /v1/relay, non-streaming and
# streaming, and reports req/s, p50 and p99 and the relay's added p50/p99.
#
# Usage: Benchmarks/relay/run.sh
# Environment: DURATION (default 10s), CONNECTIONS (default "1 16"; 1 = sequential calls),
#   SQLITE_OPTIONS (e.g. "?synchronous=normal"), BIN (default .build/release; build with
#   `swift build -c release --product tollgate-runtime; swift build -c release --product tollgate-ptu-sim`).
# Needs: wrk (apt-get install -y wrk), curl.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-1 16}"
BIN="${BIN:-$ROOT/.build/release}"
SIM_PORT="${SIM_PORT:-18191}"
RT_PORT="${RT_PORT:-18192}"
source "$ROOT/Benchmarks/common.sh"
for binary in tollgate-runtime tollgate-ptu-sim; do require_binary "$BIN/$binary" "$binary"; done

# The example configuration with its deployment pointed at the simulator.
sed -e "s|\"name\": \"gpt-4o\", \"model\": \"gpt-4o\", \"sku\": \"GlobalStandard\"|\"name\": \"bench\", \"model\": \"gpt-4o\", \"sku\": \"ProvisionedManaged\"|" \
  -e "s|https://example.openai.azure.com|http://127.0.0.1:$SIM_PORT/openai|" \
  -e 's/"500.00"/"100000000.00"/' "$ROOT/docs/runtime-config.example.json" > "$WORK/runtime-config.json"

"$BIN/tollgate-ptu-sim" --port "$SIM_PORT" --tpm 1000000000000 --tokens-per-second 1000000000 --ttft 0 \
  > "$WORK/simulator.log" 2>&1 &
BENCH_PIDS+=($!)
TOLLGATE_DATABASE_URL="sqlite:$WORK/relay.db${SQLITE_OPTIONS:-}" LOG_LEVEL=error "$BIN/tollgate-runtime" \
  --config "$WORK/runtime-config.json" --host 127.0.0.1 --port "$RT_PORT" > "$WORK/runtime.log" 2>&1 &
BENCH_PIDS+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/_sim/stats" simulator
wait_for "http://127.0.0.1:$RT_PORT/health" runtime

CHAT="/deployments/bench/chat/completions?api-version=2024-10-21"
measure() {  # port path mode connections → "req/s p50 p99 non-2xx"
  local out="$WORK/wrk.txt"
  wrk -t1 -c"$4" -d2s -s "$ROOT/Benchmarks/relay/chat.lua" "http://127.0.0.1:$1" -- "$2" "$3" > /dev/null
  wrk -t1 -c"$4" -d"$DURATION" --latency -s "$ROOT/Benchmarks/relay/chat.lua" "http://127.0.0.1:$1" -- "$2" "$3" > "$out"
  echo "$(awk '/Requests\/sec/ {print $2}' "$out") $(awk '$1 == "50%" {print $2}' "$out") $(awk '$1 == "99%" {print $2}' "$out") $(awk '/non-2xx/ {print $3}' "$out")"
}
to_us() {  # wrk latency (e.g. 812.00us, 1.23ms) → microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /[0-9]s$/) n *= 1000000; printf "%.0f", n }'
}

echo "relay overhead, wrk -t1 -d$DURATION on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %5s %11s %11s %9s %9s %11s %11s %12s %12s\n' call conns "direct r/s" "relay r/s" "d p50" "d p99" "relay p50" "relay p99" "added p50" "added p99"
for mode in plain stream; do
  for connections in $CONNECTIONS; do
    read -r drps dp50 dp99 derr < <(measure "$SIM_PORT" "/openai$CHAT" "$mode" "$connections")
    read -r rrps rp50 rp99 rerr < <(measure "$RT_PORT" "/v1/relay/openai$CHAT" "$mode" "$connections")
    [ "${derr:-0}" = 0 ] && [ "${rerr:-0}" = 0 ] || echo "warning: non-2xx answers (direct ${derr:-0}, relay ${rerr:-0})" >&2
    printf '%-14s %5s %11s %11s %9s %9s %11s %11s %10sus %10sus\n' "$mode" "$connections" "$drps" "$rrps" "$dp50" "$dp99" "$rp50" "$rp99" \
      "$(( $(to_us "$rp50") - $(to_us "$dp50") ))" "$(( $(to_us "$rp99") - $(to_us "$dp99") ))"
  done
done
