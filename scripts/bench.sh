#!/usr/bin/env bash
# Side-by-side benchmark over one Redis (or NATS, TRANSPORT=nats) on 127.0.0.1, in one run on
# one machine: Moleculer.js → Moleculer.js, Rust → Rust, JS client → Rust server (raw-payload
# echo, and typed echo: ECHO=typed), Rust client → JS server, and the raw request/reply floor of the bus (Rust: Redis pub/sub, or NATS
# request/reply), each RUNS times; then RSS of an idle node and of a node under the c64 load for
# both implementations, sampled over RSS_DURATION seconds; then the HTTP gateway benchmark of
# scripts/bench-gateway.sh (scripts/lib/gateway.sh) when wrk is installed (GATEWAY=1 requires
# it, GATEWAY=0 skips it).
# Usage: scripts/bench.sh            (RUNS=3 DURATION=10 WARMUP=2 RSS_DURATION=60 by default)
#        RUNS=1 DURATION=3 WARMUP=1 RSS_DURATION=10 scripts/bench.sh     (a quick one)
#        TRANSPORT=nats scripts/bench.sh                                  (over NATS)
#        TRANSPORT=mqtt scripts/bench.sh          (over MQTT, QoS 0 as Moleculer's default; no floor)
# Env: TRANSPORT (redis|nats|mqtt), RUNS, DURATION, WARMUP, DRAIN_TIMEOUT, EVENT_BATCH, RSS_DURATION,
#      REDIS_PORT, NATS_PORT, MQTT_PORT, GATEWAY,
#      BROKER_BENCH_BIN (use this binary instead of building target/release/broker-bench).
# Writes bench/results/<stamp>/results.jsonl (one JSON line per scenario and RSS sample),
# rss-*.tsv (RSS series), gateway/ (the gateway benchmark's results) and summary.md (medians
# (min–max) and ratios; the server's and the client's CPU µs per request or event, from
# /proc/<pid>/stat utime+stime over each measured window), and prints summary.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
export DURATION="${DURATION:-10}" WARMUP="${WARMUP:-2}" NAMESPACE="${NAMESPACE:-bench}"
RSS_DURATION="${RSS_DURATION:-60}"
REDIS_PORT="${REDIS_PORT:-6379}"
NATS_PORT="${NATS_PORT:-4222}"
MQTT_PORT="${MQTT_PORT:-1883}"
TRANSPORT="${TRANSPORT:-redis}"
case "$TRANSPORT" in
redis) export TRANSPORTER="redis://127.0.0.1:$REDIS_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" ;;
nats) export TRANSPORTER="nats://127.0.0.1:$NATS_PORT" NATS_URL="nats://127.0.0.1:$NATS_PORT" ;;
mqtt) export TRANSPORTER="mqtt://127.0.0.1:$MQTT_PORT" ;;
*) echo "TRANSPORT=$TRANSPORT: use redis, nats or mqtt" >&2; exit 2 ;;
esac
export NODE_PATH="$ROOT/interop/node_modules"
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT/results.jsonl"
# Per client process: the scenarios plus drains and start-up, with room to spare.
CLIENT_TIMEOUT=$((30 + 7 * (${DURATION%.*} + ${WARMUP%.*} + 20)))
mkdir -p "$OUT"
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/gateway.sh"
GATEWAY="${GATEWAY:-auto}"
if [ "$GATEWAY" = auto ]; then
	if gateway_prereqs 2>/dev/null; then GATEWAY=1; else GATEWAY=0; fi
elif [ "$GATEWAY" = 1 ]; then
	gateway_prereqs || exit 1
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_line() { # impl state kb
	printf '{"metric":"rss","impl":"%s","state":"%s","rss_kb":%s,"label":"%s"}\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
}

case "$TRANSPORT" in
nats) ensure_nats ;;
mqtt) port_open "$MQTT_PORT" || { echo "no MQTT server on 127.0.0.1:$MQTT_PORT (start mosquitto)" >&2; exit 1; } ;;
*) ensure_redis ;;
esac
[ -d "$ROOT/interop/node_modules/moleculer" ] || (cd "$ROOT/interop" && npm ci --no-audit --no-fund >&2)
if [ -n "${BROKER_BENCH_BIN:-}" ]; then
	BIN="$BROKER_BENCH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-bench >&2)
	BIN="$ROOT/target/release/broker-bench"
fi
JS="$ROOT/bench/js"
REMOTE="remote_c1,remote_c64,remote_1kb_c16,remote_64kb_c16,events"

# The clients record the CPU time of the server process (SERVER_PID, read from /proc) and
# their own over each measured window, per call / per event: server_cpu_us_per_op and
# client_cpu_us_per_op. SERVER_VARIANT=typed marks lines of the typed-echo Rust server.
client() { # LABEL SERVER_NODE SERVER_PID SCENARIOS CMD...
	local label="$1" server="$2" pid="$3" scenarios="$4"; shift 4
	echo "== $label" >&2
	LABEL="$label" SERVER_NODE="$server" SERVER_PID="$pid" SCENARIOS="$scenarios" \
		timeout "$CLIENT_TIMEOUT" "$@" | tee -a "$RESULTS" || echo "$label: client failed (rc $?)" >&2
}

for i in $(seq "$RUNS"); do
	rs_node="rust-bench-server-$$-$i"
	js_node="js-bench-server-$$-$i"
	# One namespace per server: emitted events are balanced over every `bench` node of a
	# namespace, so two servers in one would each count only part of them.
	rs_ns="bench-rs-$$-$i"
	js_ns="bench-js-$$-$i"
	NAMESPACE="$rs_ns" NODE_ID="$rs_node" start_bg "rs-server-$i" "$BIN" server
	rs_pid=$BG_PID
	# The same server with the echo a user writes (typed params in, typed result out).
	rst_node="rust-typed-bench-server-$$-$i"
	rst_ns="bench-rst-$$-$i"
	ECHO=typed NAMESPACE="$rst_ns" NODE_ID="$rst_node" start_bg "rst-server-$i" "$BIN" server
	rst_pid=$BG_PID
	NAMESPACE="$js_ns" NODE_ID="$js_node" start_bg "js-server-$i" node "$JS/server.js"
	js_pid=$BG_PID
	sleep 2
	rss_line rust idle "$(rss_kb "$rs_pid")" "run $i"
	rss_line nodejs idle "$(rss_kb "$js_pid")" "run $i"
	NAMESPACE="$js_ns" client "js->js run $i" "$js_node" "$js_pid" "$REMOTE,local_c1,local_c64" node "$JS/client.js"
	NAMESPACE="$rs_ns" client "rust->rust run $i" "$rs_node" "$rs_pid" "$REMOTE,local_c1,local_c64" "$BIN" client
	NAMESPACE="$rs_ns" client "js->rust run $i" "$rs_node" "$rs_pid" "$REMOTE" node "$JS/client.js"
	SERVER_VARIANT=typed NAMESPACE="$rst_ns" client "js->rust typed run $i" "$rst_node" "$rst_pid" "$REMOTE" node "$JS/client.js"
	NAMESPACE="$js_ns" client "rust->js run $i" "$js_node" "$js_pid" "$REMOTE" "$BIN" client
	stop_bg "$rs_pid"
	stop_bg "$rst_pid"
	stop_bg "$js_pid"
	# The raw floor exists for Redis and NATS (broker-bench floor); none is written for MQTT.
	[ "$TRANSPORT" = mqtt ] && continue
	PREFIX="benchfloor-$$" start_bg "floor-$i" "$BIN" floor responder
	floor_pid=$BG_PID
	echo "== raw $TRANSPORT floor run $i" >&2
	LABEL="floor run $i" PREFIX="benchfloor-$$" SERVER_PID="$floor_pid" timeout "$CLIENT_TIMEOUT" "$BIN" floor requester \
		| tee -a "$RESULTS" || echo "floor requester failed" >&2
	stop_bg "$floor_pid"
done

# Memory under load: a fresh server of each implementation, its own client at c64 for
# RSS_DURATION s, VmRSS sampled every second.
for impl in rust nodejs; do
	node_id="$impl-rss-server-$$"
	export NAMESPACE="bench-rss-$impl-$$"
	if [ "$impl" = rust ]; then
		NODE_ID="$node_id" start_bg "rss-$impl" "$BIN" server
	else
		NODE_ID="$node_id" start_bg "rss-$impl" node "$JS/server.js"
	fi
	pid=$BG_PID
	sleep 2
	rss_line "$impl" idle "$(rss_kb "$pid")" rss
	series="$OUT/rss-$impl.tsv"
	echo -e "t_s\trss_kb" >"$series"
	echo "== $impl server RSS under c64 for ${RSS_DURATION} s" >&2
	if [ "$impl" = rust ]; then cmd=("$BIN" client); else cmd=(node "$JS/client.js"); fi
	LABEL="rss $impl" SERVER_NODE="$node_id" SCENARIOS=remote_c64 DURATION="$RSS_DURATION" WARMUP=1 \
		timeout $((RSS_DURATION + 90)) "${cmd[@]}" >"$TMP/rss-$impl.jsonl" 2>"$TMP/rss-$impl.err" &
	cpid=$!
	STARTED+=("$cpid")
	t=0
	while kill -0 "$cpid" 2>/dev/null && [ "$t" -le $((RSS_DURATION + 90)) ]; do
		echo -e "$t\t$(rss_kb "$pid")" >>"$series"
		sleep 1
		t=$((t + 1))
	done
	wait "$cpid" || echo "rss client $impl failed" >&2
	# Skip the start-up and warm-up seconds and the tail after the load stopped.
	awk -v impl="$impl" -v d="$RSS_DURATION" 'NR > 1 && $1 >= 3 && $1 <= d + 1 {
			if (!n++) first = $2; last = $2; if ($2 > max) max = $2 }
		END { if (n) printf "{\"metric\":\"rss\",\"impl\":\"%s\",\"state\":\"c64 max\",\"rss_kb\":%d}\n{\"metric\":\"rss\",\"impl\":\"%s\",\"state\":\"c64 first sample\",\"rss_kb\":%d}\n{\"metric\":\"rss\",\"impl\":\"%s\",\"state\":\"c64 last sample\",\"rss_kb\":%d}\n", impl, max, impl, first, impl, last }' \
		"$series" >>"$RESULTS"
	stop_bg "$pid"
done

# The HTTP gateway, with this run's RUNS, DURATION and WARMUP (wrk -t2 -c64).
if [ "$GATEWAY" = 1 ]; then
	echo "== HTTP gateway" >&2
	main_out="$OUT"
	OUT="$main_out/gateway" THREADS="${THREADS:-2}" CONNECTIONS="${CONNECTIONS:-64}" \
		VARIANTS="${VARIANTS:-local remote mweb axum}" gateway_bench >/dev/null ||
		echo "gateway benchmark failed" >&2
	OUT="$main_out"
fi

{
	echo "TRANSPORT=$TRANSPORT RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP RSS_DURATION=$RSS_DURATION, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	"$BIN" summarize "$RESULTS"
	if [ -f "$OUT/gateway/summary.md" ]; then
		echo
		echo "### HTTP gateway: GET /api/hello/:name"
		echo
		cat "$OUT/gateway/summary.md"
	fi
} >"$OUT/summary.md"
echo "== $OUT/summary.md" >&2
cat "$OUT/summary.md"
