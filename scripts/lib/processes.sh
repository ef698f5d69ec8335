# Shared by the benchmark scripts (source it): a temporary folder, background processes that are
# stopped on exit, and a Redis on $REDIS_PORT started if none answers.
# Sets TMP and STARTED; defines port_open, ensure_redis, start_bg (sets BG_PID and BG_PORT) and
# stop_bg.

TMP="$(mktemp -d)"
STARTED=()

cleanup() {
	for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${STARTED[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_redis() {
	port_open "$REDIS_PORT" && return 0
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log"
	for _ in $(seq 100); do port_open "$REDIS_PORT" && break; sleep 0.1; done
	port_open "$REDIS_PORT" || { echo "redis did not start" >&2; exit 1; }
	STARTED+=("$(cat "$TMP/redis.pid")")
	echo "started redis-server on 127.0.0.1:$REDIS_PORT" >&2
}

# start_bg NAME CMD...: start CMD, wait (30 s max) for its {"ready":true} line; sets BG_PID,
# and BG_PORT to the "port" that line printed (empty if none).
start_bg() {
	local name="$1"; shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	BG_PID=$!
	BG_PORT=""
	STARTED+=("$BG_PID")
	for _ in $(seq 300); do
		if grep -q '"ready":true' "$TMP/$name.out" 2>/dev/null; then
			# No port in the line (a broker without a listener) is fine: no failing pipeline.
			BG_PORT="$(grep -o '"port":[0-9]*' "$TMP/$name.out" | head -1 | cut -d: -f2 || true)"
			return 0
		fi
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "$name did not become ready:" >&2
	cat "$TMP/$name.out" "$TMP/$name.err" >&2
	return 1
}

stop_bg() {
	kill "$1" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}
