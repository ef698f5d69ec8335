"use strict";
// The Moleculer.js worker node of the soak (bench/src/soak): the same `soak` service as the
// Rust node (bench/src/soak/node.rs), recording every execution to SOAK_LOG before answering.
// Configured by environment: NODE_ID, NAMESPACE, TRANSPORTER, SOAK_LOG, HB_INTERVAL_MS,
// HB_TIMEOUT_MS. moleculer is resolved from interop/node_modules (the soak sets NODE_PATH).
const fs = require("fs");
const { ServiceBroker } = require("moleculer");

const need = name => {
	const v = process.env[name];
	if (!v) {
		console.error(`soak-node: ${name} is not set`);
		process.exit(2);
	}
	return v;
};

// Appending synchronously: a SIGKILL loses no record of an answered execution.
const log = fs.openSync(need("SOAK_LOG"), "a");
const record = (kind, id) => fs.writeSync(log, `${kind} ${id}\n`);

const broker = new ServiceBroker({
	nodeID: need("NODE_ID"),
	namespace: need("NAMESPACE"),
	transporter: need("TRANSPORTER"),
	serializer: "JSON",
	heartbeatInterval: Number(need("HB_INTERVAL_MS")) / 1000,
	heartbeatTimeout: Number(need("HB_TIMEOUT_MS")) / 1000,
	logger: { type: "Console", options: { level: process.env.LOG_LEVEL || "warn" } },
	metrics: false,
	tracing: false
});

broker.createService({
	name: "soak",
	actions: {
		work(ctx) {
			record("c", ctx.params.id);
			return { node: broker.nodeID };
		},
		async slow(ctx) {
			record("c", ctx.params.id);
			await new Promise(resolve => setTimeout(resolve, ctx.params.ms || 0));
			return { node: broker.nodeID };
		},
		// The JS counterpart of a Rust panic: an unexpected (non-Moleculer) error thrown.
		panic(ctx) {
			record("c", ctx.params.id);
			throw new Error(`soak: the panicking handler, call ${ctx.params.id}`);
		}
	},
	events: {
		"soak.ev"(ctx) {
			record("e", ctx.params.id);
		}
	}
});

process.on("unhandledRejection", err => console.error(`soak-node: ignored rejection: ${err && err.message}`));
let stopping = false;
const stop = () => {
	if (stopping) return;
	stopping = true;
	setTimeout(() => process.exit(1), 5000).unref();
	broker.stop().finally(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

broker.start().catch(err => {
	console.error("soak-node: start failed:", err);
	process.exit(1);
});
