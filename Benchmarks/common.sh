# Shared by the wrk benchmark scripts (source it): the bench keys, checks for wrk and the release
# binaries, a work directory ($WORK) removed on exit, background processes stopped on exit, and
# waiting for a server to answer.

export TOLLGATE_GATEWAY_KEY="bench-gateway-key-0123456789"
export TOLLGATE_ADMIN_KEY="bench-admin-key-0123456789"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

# require_binary PATH PRODUCT: exits with the build command when PATH is not built.
require_binary() {
  [ -x "$1" ] || { echo "$1 not built: swift build -c release --product $2" >&2; exit 1; }
}

WORK="$(mktemp -d /tmp/tollgate-bench.XXXXXX)"
BENCH_PIDS=()

# stop_process PID: stops a background process started by the script and waits for it.
stop_process() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]}"; do stop_process "$pid"; done
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

# wait_for URL NAME: waits up to 10 s for URL to answer; otherwise prints $WORK/NAME.log and exits.
wait_for() {
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not start:" >&2; cat "$WORK/$2.log" >&2; exit 1
}
