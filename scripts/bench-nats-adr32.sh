#!/usr/bin/env bash
# The same action (`bench.echo` of the Rust bench server, over NATS) called two ways:
#   moleculer: a Rust broker (`broker-bench client`) sends Moleculer REQ packets to the server
#              node (remote_c1, remote_c64, remote_1kb_c16);
#   adr32:     plain NATS requests (`broker-bench floor micro`, async-nats, no broker) to the
#              endpoint the server exposes through the NATS service API (micro_c1, micro_c64,
#              micro_1kb_c16), the same payloads.
# Each run starts a fresh server (its endpoints under a subject prefix of their own, so the
# requests reach it only), runs both clients one scenario at a time in rotating order, and
# records req/s, latency and the server's CPU time per request (utime + stime from
# /proc/<pid>/stat over the scenario, divided by its calls including warm-up). On a shared,
# busy machine CPU per request is the steadier figure; req/s also depends on each client.
# Usage: scripts/bench-nats-adr32.sh          (RUNS=3 DURATION=5 WARMUP=1)
# Env: RUNS, DURATION, WARMUP, NATS_PORT (4222), BROKER_BENCH_BIN.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
export DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}"
NATS_PORT="${NATS_PORT:-4222}"
export TRANSPORTER="nats://127.0.0.1:$NATS_PORT" NATS_URL="nats://127.0.0.1:$NATS_PORT"
OUT="$ROOT/bench/results/nats-adr32-$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
CLIENT_TIMEOUT=$((60 + 2 * (${DURATION%.*} + ${WARMUP%.*} + 20)))
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
ensure_nats
if [ -n "${BROKER_BENCH_BIN:-}" ]; then
	BIN="$BROKER_BENCH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	BIN="$ROOT/target/release/broker-bench"
fi
TICKS="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
PAIRS=("remote_c1:micro_c1" "remote_c64:micro_c64" "remote_1kb_c16:micro_1kb_c16")

for i in $(seq "$RUNS"); do
	node="adr32-bench-server-$$-$i"
	group="adr32bench$$x$i"
	export NAMESPACE="bench-adr32-$$-$i"
	NODE_ID="$node" MICRO_GROUP="$group" start_bg "server-$i" "$BIN" server
	pid=$BG_PID
	sleep 1
	for pair in "${PAIRS[@]}"; do
		IFS=: read -r mol adr <<<"$pair"
		order=(moleculer adr32)
		[ $((i % 2)) = 0 ] && order=(adr32 moleculer)
		for path in "${order[@]}"; do
			echo "== run $i $path ${mol/remote_/}" >&2
			before="$(cpu_ticks "$pid")"
			if [ "$path" = moleculer ]; then
				LABEL=moleculer SERVER_NODE="$node" SCENARIOS="$mol" timeout "$CLIENT_TIMEOUT" "$BIN" client \
					>"$TMP/run.jsonl" || echo "moleculer client failed" >&2
			else
				LABEL=adr32 SUBJECT="$group.bench.echo" SCENARIOS="$adr" timeout "$CLIENT_TIMEOUT" "$BIN" floor micro \
					>"$TMP/run.jsonl" || echo "adr32 client failed" >&2
			fi
			after="$(cpu_ticks "$pid")"
			calls="$(grep -o '"calls":[0-9]*' "$TMP/run.jsonl" | head -1 | cut -d: -f2)"
			awk -v t="$((after - before))" -v hz="$TICKS" -v c="${calls:-0}" -v w="$WARMUP" -v d="$DURATION" -v p="$path" -v s="${mol/remote_/}" \
				'{ sub(/}$/, sprintf(",\"path\":\"%s\",\"case\":\"%s\",\"server_cpu_us_per_call\":%.2f}", p, s, c > 0 ? t / hz * 1e6 / (c * (w + d) / d) : 0)); print }' \
				"$TMP/run.jsonl" >>"$RESULTS"
		done
	done
	stop_bg "$pid"
done

python3 - "$RESULTS" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cases = list(dict.fromkeys(r["case"] for r in rows))
def xs(path, case, f):
    return [r[f] for r in rows if r["path"] == path and r["case"] == case and f in r and r[f] is not None]
def cell(v):
    if not v: return "–"
    return f"{statistics.median(v):.4g} ({min(v):.4g}–{max(v):.4g})"
print("| case | metric | Moleculer REQ (Rust broker client) | ADR-32 request (async-nats client) | ADR-32 ÷ Moleculer |")
print("|---|---|---|---|---|")
for c in cases:
    for f, label in [("rps", "req/s"), ("p50_ms", "p50 ms"), ("server_cpu_us_per_call", "server CPU µs/call")]:
        m, a = xs("moleculer", c, f), xs("adr32", c, f)
        ratio = f"{statistics.median(a) / statistics.median(m):.2f}×" if m and a and statistics.median(m) else "–"
        print(f"| {c} | {label} | {cell(m)} | {cell(a)} | {ratio} |")
PY
echo "== $OUT" >&2
