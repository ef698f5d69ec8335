#!/usr/bin/env bash
# Instructions per call of the core's call paths, under callgrind, with no bus and no other
# process: broker-core's `callpath` example runs SMALL then LARGE calls of a scenario, and
# (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL) is the cost of one call, start-up and shutdown
# cancelled out. Instruction counts do not move with the machine's load, so a change to the
# call path can be judged on a busy machine.
# Usage: scripts/callgrind-core.sh [scenario...]
#        (default: local local_owned remote_typed remote_raw; see broker-core/examples/callpath.rs)
# Env: SMALL (default 1000), LARGE (default 6000), OUT (default /tmp/callgrind-core),
#      RUNTIME=multi (the multi-thread runtime instead of the current-thread one),
#      CALLPATH_BIN (use this build of the example, say an older one to compare with).
# Needs valgrind (apt-get install -y valgrind).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMALL="${SMALL:-1000}"
LARGE="${LARGE:-6000}"
OUT="${OUT:-/tmp/callgrind-core}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
if [ -n "${CALLPATH_BIN:-}" ]; then
	BIN="$CALLPATH_BIN"
else
	(cd "$ROOT" && cargo build --release -p broker-core --example callpath >&2)
	BIN="$ROOT/target/release/examples/callpath"
fi
mkdir -p "$OUT"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(local local_owned remote_typed remote_raw)
ir() { # scenario calls
	local file="$OUT/$1-$2.callgrind"
	valgrind --tool=callgrind --callgrind-out-file="$file" "$BIN" "$1" "$2" >/dev/null 2>"$OUT/$1-$2.valgrind"
	awk '/^(summary|totals):/ {print $2; exit}' "$file"
}
for s in "${scenarios[@]}"; do
	small="$(ir "$s" "$SMALL")"
	large="$(ir "$s" "$LARGE")"
	echo "$s: $(((large - small) / (LARGE - SMALL))) instructions per call ($OUT/$s-$LARGE.callgrind)"
done
