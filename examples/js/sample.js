"use strict";

// A Moleculer.js node for the Rust `redis_node` example: a `math` service with `add` and
// `random`, which answers with a receipt and emits `ev_random_number` a little later. It also
// calls the Rust `greeter.hello` once it shows up.
//
//   (cd interop && npm ci)              # once: installs the pinned Moleculer.js packages
//   node examples/js/sample.js          # Moleculer.js 0.15 (pair with MOLECULER_PROTOCOL=5)
//   MOLECULER_VERSION=0.14 node examples/js/sample.js   # 0.14 (MOLECULER_PROTOCOL=4)
//
// Env: TRANSPORTER or REDIS_URL (default redis://127.0.0.1:6379), NAMESPACE, NODE_ID.

const path = require("path");
const crypto = require("crypto");

// Reuse the interop test packages: no second npm install.
const modules = path.join(__dirname, "..", "..", "interop", "node_modules");
const pkg = process.env.MOLECULER_VERSION === "0.14" ? "moleculer-014" : "moleculer";
const { ServiceBroker } = require(path.join(modules, pkg));

const broker = new ServiceBroker({
	nodeID: process.env.NODE_ID || `js-sample-${process.pid}`,
	namespace: process.env.NAMESPACE || "",
	transporter: process.env.TRANSPORTER || process.env.REDIS_URL || "redis://127.0.0.1:6379",
	logLevel: "info"
});

broker.createService({
	name: "math",
	actions: {
		add: {
			params: { a: "number", b: "number" },
			handler(ctx) {
				return ctx.params.a + ctx.params.b;
			}
		},
		random(ctx) {
			const receipt = crypto.randomUUID();
			const delay_ms = 200 + Math.floor(Math.random() * 800);
			setTimeout(() => {
				const number = Math.floor(Math.random() * 100);
				ctx.emit("ev_random_number", { number, receipt });
			}, delay_ms);
			return { receipt, delay_ms };
		}
	}
});

broker
	.start()
	.then(() => broker.waitForServices(["greeter"]))
	// This node announces `math` about a second after starting; give the Rust node time to
	// learn it, since `greeter.hello` calls `math.add` back.
	.then(() => new Promise(resolve => setTimeout(resolve, 1500)))
	.then(() => broker.call("greeter.hello", { name: "Moleculer.js" }))
	.then(reply => broker.logger.info(`greeter.hello answered: ${reply}`))
	.catch(err => broker.logger.error(err));
