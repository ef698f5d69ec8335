"use strict";
// Moleculer.js bench server: the bench service on TRANSPORTER until SIGINT/SIGTERM.
const { ServiceBroker } = require("moleculer");
const { env, options, benchService } = require("./common");

const nodeID = env("NODE_ID", `js-bench-server-${process.pid}`);
const broker = new ServiceBroker(options(nodeID));
broker.createService(benchService());
process.on("unhandledRejection", err => console.error(`server: ignored rejection: ${err && err.message}`));

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
	() => console.log(JSON.stringify({ ready: true, nodeID, pid: process.pid, moleculer: ServiceBroker.MOLECULER_VERSION })),
	err => {
		console.error("server failed:", err);
		process.exit(1);
	}
);
