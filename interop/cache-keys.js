"use strict";

// Prints the cache keys Moleculer.js builds (its cacher's getCacheKey) for a table of cases,
// for the Rust key generator's golden test.
//
// Usage: node cache-keys.js <0.15|0.14>   with stdin: [{action, params, meta, headers, keys,
// maxParamsLength}, ...] (params absent: undefined). stdout: the keys, as a JSON array.

const version = process.argv[2] || "0.15";
const { Cachers } = require(version === "0.14" ? "moleculer-014" : "moleculer");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => (input += chunk));
process.stdin.on("end", () => {
	const keys = JSON.parse(input).map(c => {
		const cacher = new Cachers.Memory({ maxParamsLength: c.maxParamsLength ?? null });
		cacher.close();
		if (version === "0.14") {
			return cacher.getCacheKey(c.action, c.params, c.meta || {}, c.keys || null);
		}
		const ctx = { params: c.params, meta: c.meta || {}, headers: c.headers || {} };
		return cacher.getCacheKey({ name: c.action }, { keys: c.keys }, ctx);
	});
	process.stdout.write(JSON.stringify(keys));
});
