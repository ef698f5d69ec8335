"use strict";

// Answers, with Moleculer.js's own code, the questions the Rust property tests ask of it:
// event-name matching (utils.match) and the shard strategy's choice of node.
//
// Usage: node matchers.js <0.15|0.14>   with stdin: {"match": [[name, pattern], ...],
// "shard": [{"nodes": [...], "vnodes": n, "keys": [key, ...]}, ...]}.
// stdout: {"match": [bool, ...], "shard": [[nodeID, ...], ...]}.

const version = process.argv[2] || "0.15";
const pkg = version === "0.14" ? "moleculer-014" : "moleculer";
const { Utils, Strategies } = require(pkg);

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => (input += chunk));
process.stdin.on("end", () => {
	const question = JSON.parse(input);
	const match = (question.match || []).map(([name, pattern]) => {
		try {
			return Utils.match(name, pattern);
		} catch (err) {
			return null; // a pattern JS cannot turn into a regex
		}
	});
	// The strategy listens on the broker's local bus for node changes; a new instance per
	// node set stands in for that.
	const broker = { localBus: { on() {} } };
	const shard = (question.shard || []).map(c => {
		const strategy = new Strategies.Shard(null, broker, { shardKey: "key", vnodes: c.vnodes });
		const list = c.nodes.map(id => ({ id }));
		return c.keys.map(key => strategy.select(list, { params: { key }, meta: {} }).id);
	});
	process.stdout.write(JSON.stringify({ match, shard }));
});
