#!/usr/bin/env bash
# The Rust server over NATS under a client's load: requests per second and the server's CPU
# time per request (utime + stime from /proc/<pid>/stat over the run, divided by the calls of
# warm-up + run), for one or more server binaries, interleaved round by round in rotating
# order so that a busy machine hurts each the same. CPU per request is the steadier figure on
# a shared machine; req/s moves with whatever else runs.
# Usage: scripts/bench-nats-server.sh                       (this tree's broker-bench, JS client)
#        VARIANTS="before:/tmp/old-broker-bench after:target/release/broker-bench" scripts/bench-nats-server.sh
#        CLIENT=rust scripts/bench-nats-server.sh           (the Rust client instead)
#        VARIANTS="rust:target/release/broker-bench moleculer:js" scripts/bench-nats-server.sh
#                                                           (`js`: the Moleculer.js bench server)
# Env: VARIANTS ("name:binary ..."), CLIENT (js|rust), RUST_CLIENT_BIN (the Rust client's
#      binary when a variant is `js`; default the variant's), SCENARIOS (remote_c64), RUNS (5),
#      DURATION (5), WARMUP (1), NATS_PORT (4222), PERF=1 (perf record -g the server of the
#      last round of each variant into OUT/perf-<name>.data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-5}"
export DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}"
NATS_PORT="${NATS_PORT:-4222}"
CLIENT="${CLIENT:-js}"
SCENARIOS="${SCENARIOS:-remote_c64}"
export TRANSPORTER="nats://127.0.0.1:$NATS_PORT" NATS_URL="nats://127.0.0.1:$NATS_PORT"
export NODE_PATH="$ROOT/interop/node_modules"
OUT="$ROOT/bench/results/nats-server-$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
CLIENT_TIMEOUT=$((60 + 8 * (${DURATION%.*} + ${WARMUP%.*} + 20)))
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
ensure_nats
if [ -z "${VARIANTS:-}" ]; then
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	VARIANTS="current:$ROOT/target/release/broker-bench"
fi
read -r -a LIST <<<"$VARIANTS"
TICKS="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for i in $(seq "$RUNS"); do
	n=${#LIST[@]}
	for k in $(seq 0 $((n - 1))); do
		IFS=: read -r name bin <<<"${LIST[$(((k + i) % n))]}"
		node="nats-server-bench-$name-$$-$i"
		export NAMESPACE="bench-ns-$name-$$-$i"
		if [ "$bin" = js ]; then
			NODE_ID="$node" start_bg "server-$name-$i" node "$ROOT/bench/js/server.js"
		else
			NODE_ID="$node" start_bg "server-$name-$i" "$bin" server
		fi
		pid=$BG_PID
		sleep 1
		perf_pid=""
		if [ "${PERF:-0}" = 1 ] && [ "$i" = "$RUNS" ]; then
			perf record -g -o "$OUT/perf-$name.data" -p "$pid" >/dev/null 2>&1 &
			perf_pid=$!
		fi
		echo "== $name run $i ($CLIENT client)" >&2
		if [ "$CLIENT" = js ]; then
			cmd=(node "$ROOT/bench/js/client.js")
		else
			cmd=("${RUST_CLIENT_BIN:-$bin}" client)
		fi
		before="$(cpu_ticks "$pid")"
		LABEL="$name" SERVER_NODE="$node" SCENARIOS="$SCENARIOS" timeout "$CLIENT_TIMEOUT" "${cmd[@]}" \
			>"$TMP/run.jsonl" || echo "$name: client failed" >&2
		after="$(cpu_ticks "$pid")"
		[ -n "$perf_pid" ] && { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" || true; }
		# One scenario per line; with several scenarios the CPU is shared out by calls.
		total_calls="$(grep -o '"calls":[0-9]*' "$TMP/run.jsonl" | cut -d: -f2 | paste -sd+ | bc)"
		awk -v t="$((after - before))" -v hz="$TICKS" -v c="${total_calls:-0}" -v w="$WARMUP" -v d="$DURATION" -v cl="$CLIENT" \
			'{ sub(/}$/, sprintf(",\"client\":\"%s\",\"server_cpu_us_per_call\":%.2f}", cl, c > 0 ? t / hz * 1e6 / (c * (w + d) / d) : 0)); print }' \
			"$TMP/run.jsonl" >>"$RESULTS"
		stop_bg "$pid"
	done
done

python3 - "$RESULTS" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
variants = list(dict.fromkeys(r["label"] for r in rows))
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
def cell(xs):
    if not xs: return "–"
    return f"{statistics.median(xs):.4g} ({min(xs):.4g}–{max(xs):.4g})"
print("| scenario | metric | " + " | ".join(variants) + " |")
print("|---|---|" + "---|" * len(variants))
for s in scenarios:
    for f, label in [("rps", "req/s"), ("p50_ms", "p50 ms"), ("server_cpu_us_per_call", "server CPU µs/call")]:
        cells = [cell([r[f] for r in rows if r["label"] == v and r["scenario"] == s and f in r]) for v in variants]
        print(f"| {s} | {label} | " + " | ".join(cells) + " |")
PY
echo "== $OUT" >&2
