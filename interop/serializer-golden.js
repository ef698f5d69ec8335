"use strict";

// Golden packets of Moleculer's serializers for the Rust serializer tests.
//
// Usage: node serializer-golden.js <0.15|0.14> <JSON|MsgPack|Notepack|CBOR>
// Two brokers on Moleculer's in-process Fake transporter exchange one packet of every type
// (DISCOVER, INFO, HEARTBEAT, REQ with JSON and with Buffer params, RES with data, a Buffer
// and an error, EVENT emitted and broadcast, PING, PONG, DISCONNECT). Every packet the
// serializer writes is printed, one JSON line each: {type, hex, json}, where `hex` is what
// the serializer wrote and `json` what Moleculer's JSON serializer writes for the same
// packet object (Buffers as {type: "Buffer", data}).

const [version, serializer] = process.argv.slice(2);
const pkg = version === "0.14" ? "moleculer-014" : "moleculer";
const { ServiceBroker, Errors } = require(pkg);

const captured = [];
function node(nodeID) {
	const broker = new ServiceBroker({
		nodeID,
		namespace: "golden",
		transporter: "Fake",
		serializer,
		logger: false,
		heartbeatInterval: 3600,
		skipProcessEventRegistration: true
	});
	const inner = broker.serializer;
	const serialize = inner.serialize.bind(inner);
	inner.serialize = (obj, type) => {
		const json = JSON.stringify(obj);
		const bytes = serialize(obj, type);
		captured.push({ type, hex: Buffer.from(bytes).toString("hex"), json });
		return bytes;
	};
	return broker;
}

async function main() {
	const a = node("golden-a");
	const b = node("golden-b");
	b.createService({
		name: "math",
		version: 2,
		settings: { precision: 2 },
		metadata: { team: "core" },
		actions: {
			add: {
				params: { a: "number", b: "number" },
				handler: ctx => ctx.params.a + ctx.params.b
			},
			half: ctx => ctx.params.x / 2,
			bytes: ctx => Buffer.from([0, 1, 2, 254, 255]),
			fail: () => {
				throw new Errors.MoleculerError("it failed", 418, "TEAPOT", { why: "test" });
			}
		},
		events: {
			"user.created": { group: "mail", handler() {} }
		}
	});
	await Promise.all([a.start(), b.start()]);
	await a.waitForServices(["v2.math"], 5000);
	await a.call("v2.math.add", { a: 1, b: -2.5 }, { meta: { user: "x" } });
	await a.call("v2.math.half", { x: 3, big: 5000000000, neg: -300000000, s: "é".repeat(40) });
	await a.call("v2.math.bytes", Buffer.from([9, 8, 7]));
	await a.call("v2.math.fail", {}).catch(() => {});
	await a.emit("user.created", { id: 7, tags: ["a", "b"], nested: { deep: [1, [2, null]] } });
	await a.broadcast("user.created", { id: 8 });
	await a.ping("golden-b", 2000);
	a.transit.sendHeartbeat(a.registry.nodes.localNode);
	await new Promise(r => setTimeout(r, 50));
	await b.stop();
	await a.stop();
	for (const p of captured) process.stdout.write(`${JSON.stringify(p)}\n`);
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
