#!/usr/bin/env bash
# Server instructions per request of one `broker-bench web` variant, under callgrind: the
# steady measure behind BENCHMARKS.md's gateway profile (CPU time moves with the machine's
# load; instruction counts do not). wrk -t1 -c8 for WARMUP s, counters zeroed, then DURATION s
# measured; prints Ir/request and leaves the callgrind file for callgrind_annotate.
# Usage: scripts/callgrind-gateway.sh [local|axum]      (default local)
# Env: DURATION (default 6s), WARMUP (default 3s), OUT (default /tmp/callgrind-gateway),
#      BROKER_BENCH_BIN (default target/release/broker-bench, built if missing).
# Needs valgrind (apt-get install -y valgrind), wrk and curl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VARIANT="${1:-local}"
DURATION="${DURATION:-6s}"
WARMUP="${WARMUP:-3s}"
OUT="${OUT:-/tmp/callgrind-gateway}"
BIN="${BROKER_BENCH_BIN:-$ROOT/target/release/broker-bench}"
for tool in valgrind callgrind_control wrk curl; do
	command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -p broker-bench >&2)
mkdir -p "$OUT"
file="$OUT/$VARIANT.callgrind"
rm -f "$file"*
GATEWAY_ADDR=127.0.0.1:0 valgrind --tool=callgrind --callgrind-out-file="$file" \
	"$BIN" web "$VARIANT" >"$OUT/$VARIANT.stdout" 2>"$OUT/$VARIANT.valgrind" &
pid=$!
stop() {
	kill -INT "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}
trap stop EXIT
# Up to 2 minutes: valgrind starts slowly on a busy machine.
for _ in $(seq 600); do grep -q '"ready":true' "$OUT/$VARIANT.stdout" 2>/dev/null && break; sleep 0.2; done
port="$(grep -o '"port":[0-9]*' "$OUT/$VARIANT.stdout" | cut -d: -f2 || true)"
[ -n "$port" ] || { echo "the server did not start:" >&2; cat "$OUT/$VARIANT.valgrind" >&2; exit 1; }
url="http://127.0.0.1:$port/api/hello/bench"
[ "$(curl -s --max-time 10 "$url")" = '"Hello, bench!"' ] || { echo "unexpected answer from $url" >&2; exit 1; }
wrk -t1 -c8 -d"$WARMUP" "$url" >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
wrk -t1 -c8 -d"$DURATION" "$url" >"$OUT/$VARIANT.wrk"
callgrind_control -d "$pid" >/dev/null 2>&1
sleep 1
requests="$(awk '/requests in/ {print $1}' "$OUT/$VARIANT.wrk")"
dump="$(ls -t "$file".* | head -1)"
ir="$(awk '/^summary:/ {print $2; exit}' "$dump")"
echo "$VARIANT: $requests requests, $ir instructions, $((ir / requests)) per request ($dump)"
