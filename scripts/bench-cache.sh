#!/usr/bin/env bash
# Cached calls, Rust vs Moleculer.js 0.15, in one run: a local action with `cache: true` hit
# again and again, on the Memory cacher and on the Redis cacher (each hit a GET to Redis),
# with 1 and 64 calls in flight; `plain_c1` is the same call without a cacher, for reference. Rust (bench/examples/cache.rs) and JS (bench/js/cache.js)
# alternate round by round, so drift on a shared machine hits both alike; both run one thread.
# Usage: scripts/bench-cache.sh            (RUNS=3 DURATION=5 WARMUP=1)
# Env: RUNS, DURATION, WARMUP, REDIS_PORT, SCENARIOS.
# Prints, per scenario, the median rate and CPU µs per call (min–max) of each side and the
# ratio Rust/JS of the rates (and JS/Rust of the CPU per call).
set -eu
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
export DURATION="${DURATION:-5}" WARMUP="${WARMUP:-1}"
REDIS_PORT="${REDIS_PORT:-6379}"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export SCENARIOS="${SCENARIOS:-plain_c1,memory_c1,memory_c64,redis_c1,redis_c64}"
export NODE_PATH="$ROOT/interop/node_modules"
OUT="$ROOT/bench/results/cache-$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
ensure_redis
[ -d "$ROOT/interop/node_modules/moleculer" ] || (cd "$ROOT/interop" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$ROOT" && cargo build --release -p broker-bench --example cache >&2)
BIN="$ROOT/target/release/examples/cache"
BUDGET=$((60 + 4 * (${DURATION%.*} + ${WARMUP%.*} + 5)))

for i in $(seq "$RUNS"); do
	echo "== run $i" >&2
	if [ $((i % 2)) -eq 1 ]; then order="rust js"; else order="js rust"; fi
	for side in $order; do
		case "$side" in
		rust) timeout "$BUDGET" "$BIN" >>"$RESULTS" || echo "rust run $i failed" >&2 ;;
		js) timeout "$BUDGET" node "$ROOT/bench/js/cache.js" >>"$RESULTS" || echo "js run $i failed" >&2 ;;
		esac
	done
done

node - "$RESULTS" <<'EOF'
const lines = require("fs").readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const med = a => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const fmt = (a, d) => `${med(a).toFixed(d)} (${Math.min(...a).toFixed(d)}–${Math.max(...a).toFixed(d)})`;
const by = {};
for (const l of lines) ((by[l.scenario] ||= {})[l.impl] ||= []).push(l);
console.log("| scenario | Rust calls/s | JS calls/s | rate Rust/JS | Rust CPU µs/call | JS CPU µs/call | CPU JS/Rust |");
console.log("|---|---|---|---|---|---|---|");
for (const [scenario, sides] of Object.entries(by)) {
	const rs = sides.rust || [], js = sides.js || [];
	if (!rs.length || !js.length) continue;
	const rate = s => s.map(l => l.rate), cpu = s => s.map(l => l.cpu_us_per_call);
	console.log(`| ${scenario} | ${fmt(rate(rs), 0)} | ${fmt(rate(js), 0)} | ${(med(rate(rs)) / med(rate(js))).toFixed(2)}x | ${fmt(cpu(rs), 2)} | ${fmt(cpu(js), 2)} | ${(med(cpu(js)) / med(cpu(rs))).toFixed(2)}x |`);
}
EOF
echo "raw results: $RESULTS" >&2
