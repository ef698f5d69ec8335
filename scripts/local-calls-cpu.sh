#!/usr/bin/env bash
# CPU time per local call, one call in flight, Moleculer.js against this crate, in one run:
# each side calls `bench.echo` (params {"id":1,"msg":"hello"}, the handler returns them) CALLS
# times in a loop after a warm-up, and its own CPU time (user + system, from the process
# itself) over the loop is divided by CALLS. CPU time moves less with the machine's load than
# a rate does; on a busy machine, compare figures of one run only.
# Rust: broker-core's `callpath` example, `local` (`Broker::call`, params borrowed) and
# `local_owned` (`Broker::call_owned`, params moved); both with a typed `#[action]` handler; the
# whole process's CPU time (its start-up, a few ms, included; no warm-up needed).
# Usage: scripts/local-calls-cpu.sh
# Env: CALLS (default 1000000), RUNS (default 3), CALLPATH_BIN (a prebuilt `callpath`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLS="${CALLS:-1000000}"
RUNS="${RUNS:-3}"
[ -d "$ROOT/interop/node_modules/moleculer" ] || (cd "$ROOT/interop" && npm ci --no-audit --no-fund >&2)
if [ -n "${CALLPATH_BIN:-}" ]; then
	BIN="$CALLPATH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-core --example callpath >&2)
	BIN="$ROOT/target/release/examples/callpath"
fi
js() {
	NODE_PATH="$ROOT/interop/node_modules" CALLS="$CALLS" node -e '
const { ServiceBroker } = require("moleculer");
const { options, benchService } = require(process.argv[1]);
(async () => {
	const broker = new ServiceBroker(options("js-local-cpu", null));
	broker.createService(benchService());
	await broker.start();
	const p = { id: 1, msg: "hello" };
	const n = Number(process.env.CALLS);
	for (let i = 0; i < n / 10; i++) await broker.call("bench.echo", p);
	const c0 = process.cpuUsage();
	for (let i = 0; i < n; i++) await broker.call("bench.echo", p);
	const c = process.cpuUsage(c0);
	console.log(((c.user + c.system) * 1000 / n).toFixed(0));
	await broker.stop();
})();' "$ROOT/bench/js/common.js"
}
rust() { # scenario
	local t
	t="$( { /usr/bin/time -f '%U %S' "$BIN" "$1" "$CALLS" >/dev/null; } 2>&1 | tail -1)"
	awk -v t="$t" -v n="$CALLS" 'BEGIN { split(t, a, " "); printf "%.0f\n", (a[1] + a[2]) * 1e9 / n }'
}
for i in $(seq "$RUNS"); do
	echo "run $i: CPU ns per call: moleculer.js $(js), rust call $(rust local), rust call_owned $(rust local_owned)"
done
