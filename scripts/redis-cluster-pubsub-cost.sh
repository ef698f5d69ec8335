#!/usr/bin/env bash
# What classic pub/sub costs in a Redis Cluster, against a single Redis: PUBLISH throughput
# (redis-benchmark) and the CPU each server spends, with one subscriber on every server. All
# servers are private (ports BASE..BASE+3 and BASE+100.. for the cluster bus; default BASE
# 23100), started here and killed at the end; the shared Redis on 6379 is never touched.
#
#   scripts/redis-cluster-pubsub-cost.sh [messages, default 200000] [payload bytes, default 1000]
set -euo pipefail
N=${1:-200000}
SIZE=${2:-1000}
BASE=${BASE:-23100}
S=$BASE
P=($((BASE + 1)) $((BASE + 2)) $((BASE + 3)))
DIR=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

redis-server --port "$S" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
for i in 0 1 2; do
	redis-server --port "${P[$i]}" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-port $((BASE + 100 + i)) --cluster-config-file "$DIR/nodes-${P[$i]}.conf" \
		--save "" --appendonly no >/dev/null &
	pids+=($!)
done
for p in "$S" "${P[@]}"; do
	for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create "127.0.0.1:${P[0]}" "127.0.0.1:${P[1]}" "127.0.0.1:${P[2]}" \
	--cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 1 100); do
	ok=0
	for p in "${P[@]}"; do redis-cli -p "$p" cluster info | grep -q cluster_state:ok && ok=$((ok + 1)); done
	[ "$ok" = 3 ] && break
	sleep 0.2
done

cpu() { redis-cli -p "$1" info cpu | awk -F: '/used_cpu_(sys|user):/ { s += $2 } END { printf "%.2f", s }'; }
for p in "$S" "${P[@]}"; do
	redis-cli -p "$p" subscribe bench-channel >/dev/null 2>&1 &
	pids+=($!)
done
sleep 0.5
payload=$(head -c "$SIZE" /dev/zero | tr '\0' x)

echo "$N PUBLISH of $SIZE bytes, 20 clients, pipeline 16, one subscriber on every server"
for target in single cluster; do
	if [ "$target" = single ]; then servers=("$S"); else servers=("${P[@]}"); fi
	before=()
	for p in "${servers[@]}"; do before+=("$(cpu "$p")"); done
	rps=$(redis-benchmark -p "${servers[0]}" -n "$N" -c 20 -P 16 -q PUBLISH bench-channel "$payload" 2>&1 |
		tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)
	line="$target: $rps; CPU seconds:"
	for i in "${!servers[@]}"; do
		after=$(cpu "${servers[$i]}")
		role=$([ "$i" = 0 ] && echo "published to" || echo "other master")
		line+=" ${role} $(awk -v a="$after" -v b="${before[$i]}" 'BEGIN { printf "%.2f", a - b }'),"
	done
	echo "${line%,}"
done
