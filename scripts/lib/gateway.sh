# The HTTP gateway benchmark, shared by scripts/bench-gateway.sh and scripts/bench.sh (source it
# after scripts/lib/processes.sh): `wrk` against `GET /api/hello/:name` served by
#   local:  our gateway (broker-web) + the Rust `greeter.hello` action on the same node,
#   remote: our gateway on one node, the Rust action on another, over Redis ($TRANSPORTER),
#   mweb:   moleculer-web 0.11 + a local action on Moleculer.js 0.15 (bench/js/web-gateway.js),
#   axum:   a bare axum handler (the floor under any Rust gateway),
# each RUNS times (servers restarted every run), with the server processes' CPU time per
# request (utime + stime from /proc, both nodes summed for remote; Redis and wrk not counted).
# Defines gateway_prereqs and gateway_bench; reads RUNS, DURATION, WARMUP, THREADS, CONNECTIONS, VARIANTS, BIN,
# OUT (results.jsonl and the wrk reports go there) and ROOT.

# CPU ticks (utime + stime) of the given processes, summed.
cpu_ticks() {
	local total=0 pid t
	for pid in "$@"; do
		# Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
		t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')"
		total=$((total + t))
	done
	echo "$total"
}

# wrk's latency figure ("812.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else { sub(/s$/, "", v); printf "%.3f", v * 1000 }
	}'
}

# measure VARIANT RUN PORT PIDS...: a warm-up, then the measured wrk run; one JSON line.
measure() {
	local variant="$1" run="$2" port="$3"; shift 3
	local url="http://127.0.0.1:$port/api/hello/bench"
	local check
	check="$(curl -s --max-time 5 "$url" || true)"
	if [ "$check" != '"Hello, bench!"' ]; then
		echo "$variant: unexpected answer from $url: $check" >&2
		return 1
	fi
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
	local before after report
	before="$(cpu_ticks "$@")"
	report="$TMP/wrk-$variant-$run.txt"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$report"
	after="$(cpu_ticks "$@")"
	cp "$report" "$OUT/"
	local rps requests p50 p99 errors
	rps="$(awk '/^Requests\/sec:/ {print $2}' "$report")"
	requests="$(awk '/requests in/ {print $1}' "$report")"
	p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$report")")"
	p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$report")")"
	errors="$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {print "socket"}' "$report" | paste -sd, -)"
	local cpu_us
	cpu_us="$(awk -v t="$((after - before))" -v hz="$HZ" -v n="$requests" \
		'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }')"
	printf '{"variant":"%s","run":%s,"rps":%s,"requests":%s,"p50_ms":%s,"p99_ms":%s,"cpu_us_per_req":%s,"errors":"%s"}\n' \
		"$variant" "$run" "$rps" "$requests" "$p50" "$p99" "$cpu_us" "$errors" | tee -a "$GW_RESULTS"
}

# Runs every variant RUNS times into $OUT/results.jsonl.
gateway_runs() {
	local i variant ns svc pids
	for i in $(seq "$RUNS"); do
		for variant in $VARIANTS; do
			echo "== $variant run $i" >&2
			case "$variant" in
			local)
				start_bg "local-$i" "$BIN" web local
				pids=("$BG_PID")
				;;
			remote)
				ns="bench-gw-$$-$i"
				NAMESPACE="$ns" NODE_ID="rust-web-service-$$-$i" start_bg "service-$i" "$BIN" web service
				svc=$BG_PID
				NAMESPACE="$ns" NODE_ID="rust-web-gateway-$$-$i" start_bg "gateway-$i" "$BIN" web gateway
				pids=("$BG_PID" "$svc")
				;;
			mweb)
				start_bg "mweb-$i" node "$ROOT/bench/js/web-gateway.js"
				pids=("$BG_PID")
				;;
			axum)
				start_bg "axum-$i" "$BIN" web axum
				pids=("$BG_PID")
				;;
			*) echo "unknown variant $variant" >&2; exit 2 ;;
			esac
			measure "$variant" "$i" "$BG_PORT" "${pids[@]}" || echo "$variant run $i failed" >&2
			for pid in "${pids[@]}"; do stop_bg "$pid"; done
		done
	done
}

# Medians (min–max) per variant, and the ratios the issue asks about.
summarize() {
	local field="$1" variant="$2"
	grep "\"variant\":\"$variant\"" "$GW_RESULTS" | grep -o "\"$field\":[0-9.]*" | cut -d: -f2 | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "n/a"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s (%s–%s)", m, v[1], v[NR] }'
}
median() { summarize "$1" "$2" | awk '{print $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

# The summary (markdown) of $OUT/results.jsonl on stdout.
gateway_summary() {
	local variant label
	{
		echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, RUNS=$RUNS (warm-up $WARMUP each), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
		echo
		echo "| GET /api/hello/:name | req/s median (min–max) | p50 ms | p99 ms | server CPU µs/req |"
		echo "|---|---|---|---|---|"
		for variant in $VARIANTS; do
			case "$variant" in
			local) label="our gateway + local Rust action" ;;
			remote) label="our gateway + Rust action on another node (Redis)" ;;
			mweb) label="moleculer-web 0.11 + local action (Moleculer.js 0.15)" ;;
			axum) label="bare axum handler" ;;
			esac
			echo "| $label | $(summarize rps "$variant") | $(summarize p50_ms "$variant") | $(summarize p99_ms "$variant") | $(summarize cpu_us_per_req "$variant") |"
		done
		echo
		echo "- local / moleculer-web req/s: $(ratio "$(median rps local)" "$(median rps mweb)")×" \
			"(p99 $(median p99_ms local) ms vs $(median p99_ms mweb) ms)"
		echo "- local / axum req/s: $(ratio "$(median rps local)" "$(median rps axum)");" \
			"CPU per request local / axum: $(ratio "$(median cpu_us_per_req local)" "$(median cpu_us_per_req axum)")"
		echo "- remote / local req/s: $(ratio "$(median rps remote)" "$(median rps local)")"
	}
}

# Whether wrk and node are there (says what is missing).
gateway_prereqs() {
	if ! command -v wrk >/dev/null; then
		echo "wrk is not installed: apt-get install -y wrk (Debian), or see https://github.com/wg/wrk" >&2
		return 1
	fi
	command -v node >/dev/null || { echo "node is not installed" >&2; return 1; }
}

# gateway_bench: the runs, then $OUT/summary.md (also printed).
gateway_bench() {
	gateway_prereqs || return 1
	mkdir -p "$OUT"
	GW_RESULTS="$OUT/results.jsonl"
	HZ="$(getconf CLK_TCK)"
	[ -d "$ROOT/interop/node_modules/moleculer-web" ] || (cd "$ROOT/interop" && npm ci --no-audit --no-fund >&2)
	gateway_runs
	gateway_summary >"$OUT/summary.md"
	echo "== $OUT/summary.md" >&2
	cat "$OUT/summary.md"
}
