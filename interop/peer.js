"use strict";

// A Moleculer.js node driven by the Rust interop tests over a JSON-lines protocol.
//
// Usage: node peer.js '<config json>'
//   config: {
//     version: "0.15" | "0.14",          which moleculer package to load
//     nodeID, namespace, transporter,     broker identity and bus (redis://... or nats://..., or a
//                                         transporter object such as {type: "Redis", options: {cluster: {nodes}}})
//     disableBalancer: true               balance through the transporter (NATS queue groups)
//     heartbeatInterval, heartbeatTimeout (seconds), requestTimeout (ms, default 0)
//     services: ["jsmath"],               built-in test services to load (see below: jsmath, shared, jsweb)
//     paramsServices: {svc: {act: params}} services whose actions have these fastest-validator
//                                         `params` and answer their (validated) params
//     events: [{event, group?, service?}] event handlers that record what they receive
//     logLevel: "warn"                    logs go to stderr
//     metrics: false | {...}              Moleculer's `metrics` broker option (default false)
//     tracing: {rate, events, interval}  tracing on, sampling rate (default 1), event spans, and
//                                         the Event exporter ($tracing.spans, interval in s, 0: at once)
//     cacher: "redis://..."               Moleculer's `cacher` broker option (for `cachedemo`)
//     collectSpans: true                  a `spancollector` service keeping every $tracing.spans
//                                         span it receives (command `spans`)
//     serializer: "MsgPack"              Moleculer's `serializer` option (default "JSON")
//     transmit: {compression: {method, threshold}, encryption: {password, iv}}
//                                         Moleculer's Transmit middlewares (password and iv
//                                         as hex), in the order Encryption, Compression
//     gateway: {port, routes, settings}   a moleculer-web ApiGateway service `api` on 127.0.0.1
//                                         (port 0: any free one), with these routes and extra
//                                         settings; 0.15 only (moleculer-web 0.11 needs it)
//   }
// stdin:  {"id":1,"cmd":"call","action":"x.y","params":{},"opts":{}}   (one JSON per line)
// stdout: {"id":1,"ok":true,"result":...} or {"id":1,"ok":false,"error":{...}}
//         plus one {"ready":true,...} line once the broker started (with `gatewayPort`).
// The process stops its broker and exits when stdin closes, on "exit", or on SIGTERM/SIGINT.

const config = JSON.parse(process.argv[2] || "{}");
const pkg = config.version === "0.14" ? "moleculer-014" : "moleculer";
const { ServiceBroker, Errors, Middlewares } = require(pkg);

// stdout carries the protocol only: anything printed with console.log goes to stderr.
const out = line => process.stdout.write(`${JSON.stringify(line)}\n`);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const level = config.logLevel || "warn";
const broker = new ServiceBroker({
	nodeID: config.nodeID,
	namespace: config.namespace || "",
	transporter: config.transporter || "redis://127.0.0.1:6379",
	serializer: config.serializer || "JSON",
	middlewares: transmitMiddlewares(config.transmit || {}),
	logger: level === "off" ? false : { type: "Console", options: { level, colors: false } },
	heartbeatInterval: config.heartbeatInterval ?? 10,
	heartbeatTimeout: config.heartbeatTimeout ?? 30,
	requestTimeout: config.requestTimeout ?? 0,
	disableBalancer: config.disableBalancer ?? false,
	cacher: config.cacher ?? null,
	metrics: config.metrics ?? false,
	tracing: config.tracing
		? {
				enabled: true,
				events: !!config.tracing.events,
				sampling: { rate: config.tracing.rate ?? 1 },
				exporter: [{ type: "Event", options: { interval: config.tracing.interval ?? 0 } }]
			}
		: false,
	skipProcessEventRegistration: true
});

// Encryption first (nearest the bus), then Compression: a packet is compressed, then
// encrypted, as Moleculer's docs combine them.
function transmitMiddlewares(transmit) {
	const list = [];
	if (transmit.encryption) {
		const { password, iv } = transmit.encryption;
		list.push(
			Middlewares.Transmit.Encryption(
				Buffer.from(password, "hex"),
				"aes-256-cbc",
				Buffer.from(iv, "hex")
			)
		);
	}
	if (transmit.compression) list.push(Middlewares.Transmit.Compression(transmit.compression));
	return list;
}

const sleep = ms => new Promise(r => setTimeout(r, ms));
const copy = v => (v === undefined ? null : JSON.parse(JSON.stringify(v)));

function ctxInfo(ctx) {
	return {
		id: ctx.id,
		requestID: ctx.requestID,
		parentID: ctx.parentID,
		level: ctx.level,
		caller: ctx.caller,
		nodeID: ctx.nodeID,
		headers: copy(ctx.headers),
		meta: copy(ctx.meta),
		params: copy(ctx.params)
	};
}

// A user-defined error class, to check that custom names survive the round trip.
class MyJsError extends Errors.MoleculerError {
	constructor(msg, data) {
		super(msg, 455, "MY_JS_TYPE", data);
		this.name = "MyJsError";
	}
}

function makeError(kind) {
	switch (kind) {
		case "client":
			return new Errors.MoleculerClientError("Bad thing", 418, "BAD_THING", { x: 1 });
		case "validation":
			return new Errors.ValidationError("Bad params", "MY_VALIDATION", [
				{ type: "required", field: "a", message: "The 'a' field is required." }
			]);
		case "custom":
			return new MyJsError("custom js failure", { deep: { list: [1, 2, 3] } });
		case "retryable":
			return new Errors.MoleculerRetryableError("try again", 503, "BUSY", { wait: 10 });
		case "odd":
			// A code that is no HTTP status: moleculer-web answers 500 and keeps 1001 in the body.
			return new Errors.MoleculerError("odd failure", 1001, "ODD", { n: 1 });
		default:
			return new Error("plain js failure");
	}
}

const services = {
	jsmath: {
		name: "jsmath",
		actions: {
			add: {
				params: { a: "number", b: "number" },
				handler(ctx) {
					return ctx.params.a + ctx.params.b;
				}
			},
			// Echoes the context and marks the meta, which must flow back to the caller.
			info(ctx) {
				const info = ctxInfo(ctx);
				ctx.meta.jsSeen = true;
				return info;
			},
			// Calls params.action as a child context: the cross-language nesting probe.
			async chain(ctx) {
				const before = ctxInfo(ctx);
				ctx.meta.jsChain = true;
				const nested = await ctx.call(ctx.params.action, ctx.params.params || {}, ctx.params.opts);
				return { ctx: before, nested, metaAfter: copy(ctx.meta) };
			},
			fail(ctx) {
				throw makeError(ctx.params.kind);
			},
			async slow(ctx) {
				await sleep(ctx.params.ms ?? 1000);
				return "done";
			},
			// Emits or broadcasts from inside a context (so the event is a child of it).
			async emit(ctx) {
				const fn = ctx.params.broadcast ? "broadcast" : "emit";
				await ctx[fn](ctx.params.event, ctx.params.data, ctx.params.opts);
				return true;
			}
		}
	}
};

// The same action as the Rust side's `shared` service: which node served a call shows how the
// cluster (or, with disableBalancer, the bus) balanced it.
services.shared = {
	name: "shared",
	actions: {
		where(ctx) {
			return { node: this.broker.nodeID, params: copy(ctx.params) };
		}
	}
};

// Cached actions, the same as the Rust side's `cachedemo`: a node that shares the cacher
// finds the other's entries (`by` says who computed it, `n` how many runs this node made).
let cacheRuns = 0;
services.cachedemo = {
	name: "cachedemo",
	actions: {
		get: {
			cache: { keys: ["id", "#tenant"] },
			handler(ctx) {
				return { by: "js", id: ctx.params.id, n: ++cacheRuns };
			}
		},
		all: {
			cache: true,
			handler(ctx) {
				return { by: "js", params: copy(ctx.params), n: ++cacheRuns };
			}
		},
		runs() {
			return cacheRuns;
		}
	}
};

// Actions for a gateway in front of this node (ours or moleculer-web): `rest` routes under
// the base path `/web` (autoAliases), fastest-validator params, client errors, and the
// `ctx.meta` keys moleculer-web reads to shape the answer.
services.jsweb = {
	name: "jsweb",
	settings: { rest: "/web" },
	actions: {
		item: {
			rest: "GET /items/:id",
			params: { id: "string", full: { type: "string", optional: true } },
			handler(ctx) {
				return { id: ctx.params.id, node: this.broker.nodeID, caller: ctx.nodeID, params: copy(ctx.params) };
			}
		},
		create: {
			rest: "POST /items",
			params: { name: "string", qty: { type: "number", integer: true, positive: true } },
			handler(ctx) {
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/web/items/${ctx.params.name}`;
				ctx.meta.$responseHeaders = { "X-Item-Name": ctx.params.name };
				return { created: ctx.params };
			}
		},
		refuse: {
			rest: "GET /refuse",
			handler() {
				throw new Errors.MoleculerClientError("No way", 409, "REFUSED", { reason: "closed" });
			}
		},
		text: {
			rest: "GET /text",
			handler(ctx) {
				ctx.meta.$responseType = "text/plain; charset=utf-8";
				return "plain js words";
			}
		},
		moved: {
			rest: "GET /moved",
			handler(ctx) {
				ctx.meta.$statusCode = 302;
				ctx.meta.$location = "/api/web/text";
				return null;
			}
		},
		bytes: {
			rest: "GET /bytes",
			handler(ctx) {
				ctx.meta.$responseType = "image/png";
				return Buffer.from([137, 80, 78, 71, 0, 255]);
			}
		},
		// No `rest`: reachable through explicit aliases only.
		echo(ctx) {
			return copy(ctx.params);
		}
	}
};

const received = [];
const nodeEvents = [];

function eventServices(list) {
	// One service per entry so that several groups of one event can live on this node.
	return (list || []).map((e, i) => ({
		name: e.service || `jsev${i}`,
		events: {
			[e.event]: {
				group: e.group,
				handler(ctx) {
					received.push({
						service: this.name,
						event: ctx.eventName,
						group: e.group || this.name,
						eventType: ctx.eventType,
						eventGroups: ctx.eventGroups,
						params: copy(ctx.params),
						meta: copy(ctx.meta),
						nodeID: ctx.nodeID,
						level: ctx.level,
						requestID: ctx.requestID,
						parentID: ctx.parentID
					});
				}
			}
		}
	}));
}

const spans = [];
if (config.collectSpans) {
	broker.createService({
		name: "spancollector",
		events: {
			"$tracing.spans"(ctx) {
				spans.push(...copy(ctx.params));
			}
		}
	});
}

for (const name of config.services || []) {
	if (!services[name]) throw new Error(`unknown service ${name}`);
	broker.createService(services[name]);
}
for (const schema of eventServices(config.events)) broker.createService(schema);
for (const [name, actions] of Object.entries(config.paramsServices || {})) {
	const defs = {};
	for (const [action, params] of Object.entries(actions)) {
		defs[action] = { params, handler: ctx => copy(ctx.params) };
	}
	broker.createService({ name, actions: defs });
}

let gateway = null;
if (config.gateway) {
	if (pkg !== "moleculer") throw new Error("moleculer-web 0.11 needs moleculer 0.15");
	const ApiGateway = require("moleculer-web");
	gateway = broker.createService({
		name: "api",
		mixins: [ApiGateway],
		settings: {
			port: config.gateway.port ?? 0,
			ip: "127.0.0.1",
			routes: config.gateway.routes || [],
			log4XXResponses: false,
			logRequest: null,
			logResponse: null,
			...config.gateway.settings
		}
	});
}

for (const type of ["connected", "updated", "disconnected"]) {
	broker.localBus.on(`$node.${type}`, payload => {
		nodeEvents.push({
			type,
			nodeID: payload.node && payload.node.id,
			unexpected: payload.unexpected,
			reconnected: payload.reconnected,
			at: Date.now()
		});
	});
}

function errorJson(err) {
	const instanceOf = Object.keys(Errors).filter(
		k => typeof Errors[k] === "function" && err instanceof Errors[k]
	);
	return {
		name: err.name,
		message: err.message,
		code: err.code,
		type: err.type,
		data: copy(err.data),
		retryable: err.retryable,
		nodeID: err.nodeID,
		class: err.constructor && err.constructor.name,
		instanceOf
	};
}

const commands = {
	async call(m) {
		const p = broker.call(m.action, m.params, m.opts || {});
		const result = await p;
		return { result: copy(result), meta: copy(p.ctx && p.ctx.meta) };
	},
	async emit(m) {
		await broker.emit(m.event, m.data, m.opts);
		return { result: true };
	},
	async broadcast(m) {
		await broker.broadcast(m.event, m.data, m.opts);
		return { result: true };
	},
	async events(m) {
		const result = received.slice();
		if (m.clear) received.length = 0;
		return { result };
	},
	async spans() {
		return { result: spans.slice() };
	},
	async nodeEvents() {
		return { result: nodeEvents.slice() };
	},
	async list(m) {
		return { result: await broker.call("$node.list", m.params || {}) };
	},
	async services(m) {
		return { result: await broker.call("$node.services", m.params || {}) };
	},
	async waitFor(m) {
		await broker.waitForServices(m.services, m.timeout ?? 10000, 100);
		return { result: true };
	},
	async stop() {
		await broker.stop();
		return { result: true };
	},
	async exit() {
		setImmediate(shutdown);
		return { result: true };
	}
};

async function handle(line) {
	let m;
	try {
		m = JSON.parse(line);
	} catch (err) {
		out({ ok: false, error: { name: "ParseError", message: err.message } });
		return;
	}
	const cmd = commands[m.cmd];
	const started = Date.now();
	try {
		if (!cmd) throw new Error(`unknown command ${m.cmd}`);
		const r = await cmd(m);
		out({ id: m.id, ok: true, elapsedMs: Date.now() - started, ...r });
	} catch (err) {
		out({ id: m.id, ok: false, elapsedMs: Date.now() - started, error: errorJson(err) });
	}
}

let stopping = false;
async function shutdown() {
	if (stopping) return;
	stopping = true;
	setTimeout(() => process.exit(1), 5000).unref();
	try {
		await broker.stop();
	} finally {
		process.exit(0);
	}
}

// A publish racing stop() or a bus outage can reject inside the transporter; keep serving.
process.on("unhandledRejection", err => {
	// Moleculer.js's AMQP transporter publishes (heartbeats) and acknowledges (requests still
	// running) on a channel it has begun to close while the broker stops; amqplib rejects
	// those with "Channel closing". That is the JS node's own shutdown, not a bad packet.
	if (stopping && err && err.message === "Channel closing") {
		console.error(`peer-debug: while stopping: ${err.message}`);
		return;
	}
	console.error(`peer: unhandled rejection: ${err && err.message}`);
});
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => {
	buf += chunk;
	let nl;
	while ((nl = buf.indexOf("\n")) >= 0) {
		const line = buf.slice(0, nl).trim();
		buf = buf.slice(nl + 1);
		if (line) handle(line);
	}
});
process.stdin.on("end", shutdown);

broker
	.start()
	.then(() =>
		out({
			ready: true,
			nodeID: broker.nodeID,
			moleculer: broker.MOLECULER_VERSION,
			protocol: broker.PROTOCOL_VERSION,
			gatewayPort: gateway ? gateway.server.address().port : null
		})
	)
	.catch(err => {
		console.error("peer failed to start:", err);
		process.exit(1);
	});
