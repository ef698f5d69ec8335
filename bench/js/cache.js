"use strict";
// Cached calls, the Moleculer.js side of scripts/bench-cache.sh (the Rust side is
// bench/examples/cache.rs, same scenarios, same JSON lines): a local action with `cache: true`
// called with the same params, so every call after the first is a hit.
// Scenarios (SCENARIOS): memory_c1, memory_c64 (Memory cacher), redis_c1, redis_c64 (Redis
// cacher at REDIS_URL), plain_c1, plain_c64 (no cacher, for reference). Env: DURATION (5), WARMUP (1). moleculer comes from interop/ (NODE_PATH).
const { ServiceBroker } = require("moleculer");

const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def);
const DURATION = num("DURATION", 5);
const WARMUP = num("WARMUP", 1);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const scenarios = (process.env.SCENARIOS || "memory_c1,memory_c64,redis_c1,redis_c64")
	.split(",")
	.map(s => s.trim())
	.filter(Boolean);

async function broker(cacher) {
	const b = new ServiceBroker({
		nodeID: `cache-bench-js-${process.pid}`,
		namespace: `cache-bench-js-${process.pid}`,
		transporter: null,
		cacher,
		logger: false,
		metrics: false,
		tracing: false
	});
	b.createService({
		name: "bench",
		actions: { echo: { cache: true, handler: ctx => ctx.params } }
	});
	await b.start();
	// The Redis cacher answers "not connected" (and calls the handler) until ioredis is ready;
	// a loop of cache hits never yields to I/O before that, so wait for it here.
	for (let i = 0; i < 100 && b.cacher && b.cacher.connected === false; i++) await new Promise(r => setTimeout(r, 50));
	if (b.cacher && b.cacher.connected === false) throw new Error("the Redis cacher did not connect");
	return b;
}

async function run(b, concurrency, seconds) {
	const end = performance.now() + seconds * 1000;
	let calls = 0;
	let errors = 0;
	const worker = async () => {
		while (performance.now() < end) {
			try {
				await b.call("bench.echo", { id: 1, msg: "hello" });
				calls++;
			} catch {
				errors++;
			}
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	return { calls, errors };
}

async function main() {
	for (const name of scenarios) {
		const [store, conc] = name.split("_c");
		const cacher =
			store === "redis" ? { type: "Redis", options: { redis: REDIS_URL } } : store === "plain" ? null : "Memory";
		const b = await broker(cacher);
		await run(b, Number(conc), WARMUP);
		const cpu0 = process.cpuUsage();
		const t0 = performance.now();
		const { calls, errors } = await run(b, Number(conc), DURATION);
		const seconds = (performance.now() - t0) / 1000;
		const cpu = process.cpuUsage(cpu0);
		if (b.cacher) await b.cacher.clean("bench.**");
		await b.stop();
		console.log(
			JSON.stringify({
				impl: "js",
				scenario: name,
				calls,
				errors,
				seconds,
				rate: Math.round(calls / seconds),
				cpu_us_per_call: calls ? (cpu.user + cpu.system) / calls : 0
			})
		);
	}
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
