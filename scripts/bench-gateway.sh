#!/usr/bin/env bash
# HTTP gateway benchmark (the variants are described in scripts/lib/gateway.sh, which
# scripts/bench.sh runs too): `wrk` against `GET /api/hello/:name` through our gateway with a
# local action and with an action on another node over Redis, through moleculer-web on
# Moleculer.js, and on a bare axum handler, in one run with the same wrk settings, RUNS times
# each; then the medians of req/s and latencies, and the server processes' CPU per request.
# Usage: scripts/bench-gateway.sh                (RUNS=3 DURATION=10s THREADS=2 CONNECTIONS=64)
#        RUNS=1 DURATION=3s scripts/bench-gateway.sh      (a quick one)
# Env: RUNS, DURATION, WARMUP (default 2s), THREADS, CONNECTIONS, REDIS_PORT, VARIANTS (default
#      "local remote mweb axum"), BROKER_BENCH_BIN (use this binary instead of building
#      target/release/broker-bench).
# Writes bench/results/gateway-<stamp>/results.jsonl (one line per wrk run) and summary.md,
# and prints summary.md. Needs wrk (Debian: apt-get install -y wrk), node, redis-server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
VARIANTS="${VARIANTS:-local remote mweb axum}"
REDIS_PORT="${REDIS_PORT:-6379}"
export TRANSPORTER="redis://127.0.0.1:$REDIS_PORT"
export NODE_PATH="$ROOT/interop/node_modules"
OUT="$ROOT/bench/results/gateway-$(date -u +%Y%m%dT%H%M%SZ)"

source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/gateway.sh"
gateway_prereqs || exit 1

ensure_redis
if [ -n "${BROKER_BENCH_BIN:-}" ]; then
	BIN="$BROKER_BENCH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	BIN="$ROOT/target/release/broker-bench"
fi
gateway_bench
