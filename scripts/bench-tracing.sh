#!/usr/bin/env bash
# Tracing overhead: the Rust bench server and client (one process each, over one Redis) with
# tracing off and on (TRACING=1: sampling 1.0, every action call a span, Moleculer's Event
# exporter), interleaved round by round so drift on a shared machine hits both alike; and,
# with BASE_BIN (a broker-bench built from the commit before tracing), that build as the
# reference the "off" path must match.
# Usage: scripts/bench-tracing.sh                    (RUNS=5 DURATION=5 WARMUP=1)
#        BASE_BIN=/path/to/old/broker-bench scripts/bench-tracing.sh
# Env: RUNS, DURATION, WARMUP, REDIS_PORT, BROKER_BENCH_BIN, BASE_BIN.
# Scenarios: remote_c64 (Redis, 64 in flight; the server's CPU time per call is measured from
# /proc), local_c1 and local_c64 (no transporter; the client process's CPU time per call).
# CPU per call holds up on a busy machine where throughput swings. Prints medians (min–max).
# Not pipefail: processes.sh's start_bg reads an optional "port" through a pipeline.
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-5}"
export DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}"
REDIS_PORT="${REDIS_PORT:-6379}"
export TRANSPORTER="redis://127.0.0.1:$REDIS_PORT"
OUT="$ROOT/bench/results/tracing-$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
CLIENT_TIMEOUT=$((60 + 3 * (${DURATION%.*} + ${WARMUP%.*} + 20)))
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
ensure_redis
if [ -n "${BROKER_BENCH_BIN:-}" ]; then
	BIN="$BROKER_BENCH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	BIN="$ROOT/target/release/broker-bench"
fi
# variant:binary:TRACING
VARIANTS=("off:$BIN:0" "on:$BIN:1")
[ -n "${BASE_BIN:-}" ] && VARIANTS=("before:$BASE_BIN:0" "${VARIANTS[@]}")
TICKS="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for i in $(seq "$RUNS"); do
	# Rotate the order each round.
	n=${#VARIANTS[@]}
	for k in $(seq 0 $((n - 1))); do
		IFS=: read -r name bin tracing <<<"${VARIANTS[$(((k + i) % n))]}"
		node="trace-bench-$name-$$-$i"
		export NAMESPACE="bench-trace-$name-$$-$i" TRACING="$tracing"
		NODE_ID="$node" start_bg "server-$name-$i" "$bin" server
		pid=$BG_PID
		sleep 1
		echo "== $name run $i" >&2
		before="$(cpu_ticks "$pid")"
		LABEL="$name" SERVER_NODE="$node" SCENARIOS=remote_c64 timeout "$CLIENT_TIMEOUT" "$bin" client \
			>"$TMP/remote.jsonl" || echo "$name: client failed" >&2
		after="$(cpu_ticks "$pid")"
		calls="$(grep -o '"calls":[0-9]*' "$TMP/remote.jsonl" | head -1 | cut -d: -f2)"
		# Server CPU per call over the whole client run (warm-up included in both numbers).
		awk -v t="$((after - before))" -v hz="$TICKS" -v c="${calls:-0}" -v w="$WARMUP" -v d="$DURATION" \
			'{ sub(/}$/, sprintf(",\"server_cpu_us_per_call\":%.2f}", c > 0 ? t / hz * 1e6 / (c * (w + d) / d) : 0)); print }' \
			"$TMP/remote.jsonl" >>"$RESULTS"
		stop_bg "$pid"
		for scenario in local_c1 local_c64; do
			# The calls run in the client process: its CPU time (bash's `time`) per call.
			TIMEFORMAT='%U %S'
			{ time LABEL="$name" SCENARIOS="$scenario" timeout "$CLIENT_TIMEOUT" "$bin" client \
				>"$TMP/local.jsonl"; } 2>"$TMP/local.time" || echo "$name: local client failed" >&2
			cpu="$(tail -1 "$TMP/local.time" | awk '{print $1 + $2}')"
			calls="$(grep -o '"calls":[0-9]*' "$TMP/local.jsonl" | head -1 | cut -d: -f2)"
			awk -v t="$cpu" -v c="${calls:-0}" -v w="$WARMUP" -v d="$DURATION" \
				'{ sub(/}$/, sprintf(",\"cpu_us_per_call\":%.3f}", c > 0 ? t * 1e6 / (c * (w + d) / d) : 0)); print }' \
				"$TMP/local.jsonl" >>"$RESULTS"
		done
	done
done

python3 - "$RESULTS" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
variants = list(dict.fromkeys(r["label"] for r in rows))
def cell(xs):
    if not xs: return "–"
    m = statistics.median(xs)
    return f"{m:.4g} ({min(xs):.4g}–{max(xs):.4g})"
def med(v, s, f):
    xs = [r[f] for r in rows if r["label"] == v and r["scenario"] == s and f in r]
    return xs
plan = [("remote_c64", "rps", "req/s"), ("remote_c64", "p50_ms", "p50 ms"),
        ("remote_c64", "server_cpu_us_per_call", "server CPU µs/call"),
        ("local_c1", "rps", "req/s"), ("local_c1", "cpu_us_per_call", "CPU µs/call"),
        ("local_c64", "rps", "req/s"), ("local_c64", "cpu_us_per_call", "CPU µs/call")]
print("| scenario | metric | " + " | ".join(f"tracing {v}" if v != "before" else "before tracing" for v in variants) + " | on ÷ off |")
print("|---|---|" + "---|" * len(variants) + "---|")
for s, f, label in plan:
    cells = [cell(med(v, s, f)) for v in variants]
    on, off = med("on", s, f), med("off", s, f)
    ratio = f"{statistics.median(on) / statistics.median(off):.2f}×" if on and off and statistics.median(off) else "–"
    print(f"| {s} | {label} | " + " | ".join(cells) + f" | {ratio} |")
PY
