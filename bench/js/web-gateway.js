"use strict";
// moleculer-web (0.11, on Moleculer.js 0.15) serving `GET /api/hello/:name` from a local
// `greeter.hello` action, for scripts/bench-gateway.sh: the JS counterpart of
// `broker-bench web local`. No transporter. Listens on 127.0.0.1:GATEWAY_PORT (0: any free
// port) and prints {"ready":true,"port":N,"pid":P} once it serves; stops on SIGINT/SIGTERM.
// moleculer and moleculer-web come from ../../interop/node_modules (the script sets NODE_PATH).
const { ServiceBroker } = require("moleculer");
const ApiGateway = require("moleculer-web");
const { env, options } = require("./common");

const broker = new ServiceBroker(options(env("NODE_ID", `js-web-${process.pid}`), null));
broker.createService({
	name: "greeter",
	actions: {
		hello: ctx => `Hello, ${ctx.params.name}!`
	}
});
const api = broker.createService({
	name: "api",
	mixins: [ApiGateway],
	settings: {
		port: Number(env("GATEWAY_PORT", "0")),
		ip: "127.0.0.1",
		// No per-request logs: the Rust gateway logs none either at the bench's level.
		logRequest: null,
		logResponse: null,
		log4XXResponses: false,
		routes: [{ path: "/api", aliases: { "GET /hello/:name": "greeter.hello" }, mappingPolicy: "restrict" }]
	}
});

let stopping = false;
const stop = () => {
	if (stopping) return;
	stopping = true;
	setTimeout(() => process.exit(1), 5000).unref();
	broker.stop().finally(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

broker.start().then(
	() => console.log(JSON.stringify({ ready: true, port: api.server.address().port, pid: process.pid })),
	err => {
		console.error("web-gateway failed:", err);
		process.exit(1);
	}
);
