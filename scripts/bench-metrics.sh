#!/usr/bin/env bash
# Metrics overhead over one Redis on 127.0.0.1: Rust → Rust remote_c64 and local_c1 with
# Moleculer's metrics off and on (METRICS=0/1 on both server and client), runs alternating so
# that machine noise hits both alike.
# Usage: scripts/bench-metrics.sh        (RUNS=5 DURATION=5 WARMUP=1 by default)
# Writes bench/results/metrics-<stamp>/results.jsonl and prints the medians per side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-5}"
export DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}"
REDIS_PORT="${REDIS_PORT:-6379}"
export TRANSPORTER="redis://127.0.0.1:$REDIS_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
OUT="$ROOT/bench/results/metrics-$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
ensure_redis
if [ -n "${BROKER_BENCH_BIN:-}" ]; then
	BIN="$BROKER_BENCH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	BIN="$ROOT/target/release/broker-bench"
fi
for i in $(seq "$RUNS"); do
	for m in 0 1; do
		ns="bench-metrics-$$-$i-$m"
		node="rust-metrics-server-$$-$i-$m"
		# In a condition: start_bg must not trip errexit on its optional port lookup.
		if ! METRICS=$m NAMESPACE="$ns" NODE_ID="$node" start_bg "server-$i-$m" "$BIN" server; then
			exit 1
		fi
		pid=$BG_PID
		echo "== run $i metrics=$m" >&2
		METRICS=$m NAMESPACE="$ns" LABEL="metrics=$m run $i" SERVER_NODE="$node" \
			SCENARIOS=remote_c64,local_c1 timeout 300 "$BIN" client | tee -a "$RESULTS" >/dev/null \
			|| echo "client failed" >&2
		stop_bg "$pid"
	done
done
echo "== $RESULTS" >&2
# Medians of throughput per scenario and side.
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
by = {}
for r in rows:
    if "scenario" in r and r.get("rps"):
        by.setdefault((r["scenario"], bool(r.get("metrics"))), []).append(r)
for scen in sorted({s for s, _ in by}):
    off = by.get((scen, False), [])
    on = by.get((scen, True), [])
    if not off or not on:
        continue
    m = lambda rs, k: statistics.median(r[k] for r in rs if r.get(k) is not None)
    a, b = m(off, "rps"), m(on, "rps")
    print(f"{scen}: off {a:,.0f} req/s, on {b:,.0f} req/s, on/off {b / a:.3f} (runs: {len(off)}/{len(on)})")
PY
