"use strict";
// Moleculer.js bench client: the same scenarios and JSON fields as `broker-bench client`.
// Env: TRANSPORTER, NAMESPACE, SCENARIOS, DURATION (10), WARMUP (2), SERVER_NODE, LABEL,
//      WAIT_TIMEOUT (30), DRAIN_TIMEOUT (15), EVENT_BATCH (100), SERVER_PID (the server's pid:
//      its CPU µs per call / per event received is recorded as server_cpu_us_per_op),
//      SERVER_VARIANT (recorded as server_variant, e.g. typed).
const { ServiceBroker } = require("moleculer");
const { env, numEnv, options, benchService, payload } = require("./common");

const ALL = ["remote_c1", "remote_c64", "remote_1kb_c16", "remote_64kb_c16", "events", "local_c1", "local_c64"];
const DURATION = numEnv("DURATION", 10);
const WARMUP = numEnv("WARMUP", 2);
const WAIT = numEnv("WAIT_TIMEOUT", 30);
const DRAIN = numEnv("DRAIN_TIMEOUT", 15);
const BATCH = numEnv("EVENT_BATCH", 100);
const PINNED = env("SERVER_NODE", "") || null;
const scenarios = env("SCENARIOS", ALL.join(",")).split(",").map(s => s.trim()).filter(Boolean);
const bad = scenarios.find(s => !ALL.includes(s));
if (bad) {
	console.error(`unknown scenario ${bad}`);
	process.exit(2);
}
const budget = WAIT + scenarios.length * (DURATION + WARMUP + DRAIN + 15) + 30;
setTimeout(() => {
	console.error(`client: over the ${budget} s budget`);
	process.exit(3);
}, budget * 1000).unref();
process.on("unhandledRejection", err => console.error(`client: ignored rejection: ${err && err.message}`));

// CPU time (user + system, µs) of a process from /proc/<pid>/stat (fields 14, 15, in 1/100 s
// ticks), or null; of the server when SERVER_PID is set (scripts/bench.sh sets it).
const fs = require("fs");
const SERVER_PID = env("SERVER_PID", "") || null;
function cpuUs(pid) {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		const f = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/);
		return (Number(f[11]) + Number(f[12])) * 10000;
	} catch {
		return null;
	}
}
// Reads both clocks now; the returned function gives {server_cpu_us_per_op, client_cpu_us_per_op}.
function cpuWindow(server) {
	const s0 = server ? cpuUs(server) : null;
	const c0 = cpuUs(process.pid);
	const per = (a, b, ops) => (a == null || b == null || !ops ? null : round3((b - a) / ops));
	return (serverOps, clientOps = serverOps) => ({
		server_cpu_us_per_op: per(s0, server ? cpuUs(server) : null, serverOps),
		client_cpu_us_per_op: per(c0, cpuUs(process.pid), clientOps)
	});
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
const round3 = x => (x == null ? null : Math.round(x * 1000) / 1000);
const rank = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] : null);

async function timed(fn, concurrency, seconds, lat) {
	const t0 = performance.now();
	const end = t0 + seconds * 1000;
	const r = { calls: 0, errors: 0, firstError: null };
	const worker = async () => {
		while (performance.now() < end) {
			const s = performance.now();
			try {
				await fn();
				if (lat) lat.push(performance.now() - s);
				r.calls++;
			} catch (err) {
				r.errors++;
				r.firstError = r.firstError || `${err.name}: ${err.message}`;
			}
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	r.ms = performance.now() - t0;
	return r;
}

async function measure(scenario, extra, fn, concurrency, bytes, server) {
	if (WARMUP > 0) await timed(fn, concurrency, WARMUP, null);
	const lat = [];
	const cpu = cpuWindow(server);
	const r = await timed(fn, concurrency, DURATION, lat);
	const cpuPerOp = cpu(r.calls);
	lat.sort((a, b) => a - b);
	return {
		scenario,
		...extra,
		concurrency,
		payload_bytes: bytes,
		duration_s: round3(r.ms / 1000),
		calls: r.calls,
		errors: r.errors,
		first_error: r.firstError,
		rps: Math.round((r.calls * 1000) / r.ms),
		p50_ms: round3(rank(lat, 0.5)),
		p90_ms: round3(rank(lat, 0.9)),
		p99_ms: round3(rank(lat, 0.99)),
		max_ms: round3(lat.length ? lat[lat.length - 1] : null),
		mean_ms: round3(lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null),
		...cpuPerOp
	};
}

async function findServer(broker) {
	const deadline = Date.now() + WAIT * 1000;
	while (Date.now() < deadline) {
		const svc = broker.registry
			.getServiceList({ onlyAvailable: true, withActions: true })
			.find(s => s.name === "bench" && !s.local && (!PINNED || s.nodeID === PINNED) && s.actions["bench.echo"] && s.actions["bench.count"]);
		if (svc) return svc.nodeID;
		await sleep(100);
	}
	throw new Error(`no bench service${PINNED ? ` on ${PINNED}` : ""} within ${WAIT} s`);
}

async function events(broker, server, extra) {
	const count = async () => (await broker.call("bench.count", {}, { nodeID: server })).count;
	const before = await count();
	const cpu = cpuWindow(SERVER_PID);
	let emitted = 0;
	let emitErrors = 0;
	let firstError = null;
	const onErr = err => {
		emitErrors++;
		firstError = firstError || `${err.name}: ${err.message}`;
	};
	const t0 = performance.now();
	while (performance.now() < t0 + DURATION * 1000) {
		for (let i = 0; i < BATCH; i++, emitted++) {
			const p = broker.emit("bench.tick", { i: emitted });
			if (p && p.catch) p.catch(onErr);
		}
		await new Promise(setImmediate);
	}
	const emitEnd = performance.now();
	let delivered = (await count()) - before;
	let lastChange = performance.now();
	while (delivered < emitted && performance.now() < emitEnd + DRAIN * 1000) {
		await sleep(50);
		const d = (await count()) - before;
		if (d !== delivered) {
			delivered = d;
			lastChange = performance.now();
		} else if (performance.now() - lastChange > 1000) break;
	}
	// Per event received (server) and per event emitted (client), the polling included.
	const cpuPerOp = cpu(delivered, emitted);
	const at = Math.max(lastChange, emitEnd);
	const lost = emitted - delivered;
	return {
		scenario: "events",
		...extra,
		duration_s: round3((emitEnd - t0) / 1000),
		emitted,
		emit_errors: emitErrors,
		first_error: firstError,
		delivered,
		lost,
		loss_pct: round3((lost * 100) / Math.max(1, emitted)),
		emit_per_s: Math.round((emitted * 1000) / (emitEnd - t0)),
		delivered_per_s: Math.round((delivered * 1000) / (at - t0)),
		drain_s: round3((at - emitEnd) / 1000),
		...cpuPerOp
	};
}

const SIZES = { remote_c1: [1, 0], remote_c64: [64, 0], remote_1kb_c16: [16, 1024], remote_64kb_c16: [16, 65536] };

async function main() {
	const print = line => console.log(JSON.stringify(line));
	const common = { label: env("LABEL", null), server_variant: env("SERVER_VARIANT", null), client_impl: "nodejs", moleculer: ServiceBroker.MOLECULER_VERSION, node: process.version };
	const remote = scenarios.filter(s => !s.startsWith("local_"));
	const local = scenarios.filter(s => s.startsWith("local_"));
	if (remote.length) {
		const opts = options(`js-bench-client-${process.pid}`);
		const broker = new ServiceBroker(opts);
		await broker.start();
		try {
			const server = await findServer(broker);
			const node = broker.registry.nodes.get(server);
			const extra = {
				...common,
				transporter: String(opts.transporter).split("://")[0],
				server_node: server,
				server_client: node && node.client ? `${node.client.type} ${node.client.version}` : null
			};
			for (const size of [0, 1024]) {
				const p = payload(size);
				const back = await broker.call("bench.echo", p, { nodeID: server });
				if (JSON.stringify(back) !== JSON.stringify(p)) throw new Error(`bench.echo did not echo ${size} B`);
			}
			for (const s of remote) {
				if (s === "events") {
					print(await events(broker, server, extra));
					continue;
				}
				const [conc, size] = SIZES[s];
				const p = payload(size);
				print(await measure(s, extra, () => broker.call("bench.echo", p, { nodeID: server }), conc, JSON.stringify(p).length, SERVER_PID));
			}
		} finally {
			await broker.stop();
		}
	}
	if (local.length) {
		const broker = new ServiceBroker(options(`js-bench-local-${process.pid}`, null));
		broker.createService(benchService());
		await broker.start();
		try {
			const p = payload(0);
			const extra = { ...common, transporter: "none", server_node: broker.nodeID, server_client: "in-process" };
			for (const s of local) print(await measure(s, extra, () => broker.call("bench.echo", p), s === "local_c1" ? 1 : 64, JSON.stringify(p).length, null));
		} finally {
			await broker.stop();
		}
	}
}

main().then(
	() => process.exit(0),
	err => {
		console.error("client failed:", err);
		process.exit(1);
	}
);
