"use strict";
// Shared by server.js and client.js: the Moleculer.js side of the broker-bench harness.
// moleculer is resolved from ../../interop/node_modules (bench.sh sets NODE_PATH).

const env = (name, def) => process.env[name] ?? def;
const numEnv = (name, def) => (process.env[name] ? Number(process.env[name]) : def);

// Options every JS node of the harness uses: JSON serializer, no metrics/tracing, warn logs.
function options(nodeID, transporter) {
	return {
		nodeID,
		namespace: env("NAMESPACE", "bench"),
		transporter: transporter === undefined ? env("TRANSPORTER", "redis://127.0.0.1:6379") : transporter,
		serializer: "JSON",
		logger: { type: "Console", options: { level: env("LOG_LEVEL", "warn") } },
		requestTimeout: 10000,
		metrics: false,
		tracing: false
	};
}

// The bench service: echo returns params, count returns the bench.tick events seen.
function benchService() {
	let ticks = 0;
	return {
		name: "bench",
		actions: {
			echo: ctx => ctx.params,
			count: () => ({ count: ticks })
		},
		events: {
			"bench.tick"() {
				ticks += 1;
			}
		}
	};
}

// {"id":1,"msg":"hello"} for 0, else {"items":[...]} grown to at least `size` bytes of JSON.
function payload(size) {
	if (!size) return { id: 1, msg: "hello" };
	const items = [];
	let len = '{"items":[]}'.length;
	for (let i = 0; len < size; i++) {
		const item = { id: i, name: `item-${i}`, tags: ["alpha", "beta"], value: i * 1.5, ok: i % 2 === 0 };
		len += JSON.stringify(item).length + (items.length ? 1 : 0);
		items.push(item);
	}
	return { items };
}

module.exports = { env, numEnv, options, benchService, payload };
