"use strict";

// Runs fastest-validator (the version Moleculer 0.15.2 uses, pinned in package.json) on a table
// of schemas and params, with the options Moleculer's validator gives it, for the Rust tests
// that compare the Rust checker's answers with the real ones.
//
// stdin:  [{"schema": {...}, "inputs": [params, ...]}, ...]
// stdout: [[true | [error, ...], ...], ...]   (one answer per input, JSON; `undefined` dropped)

const Validator = require("fastest-validator");

let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", chunk => (text += chunk));
process.stdin.on("end", () => {
	const table = JSON.parse(text);
	const v = new Validator({ useNewCustomCheckerFunction: true });
	const answers = table.map(({ schema, inputs }) => {
		// Moleculer compiles a deep copy: fastest-validator edits the schema it is given.
		const check = v.compile(JSON.parse(JSON.stringify(schema)));
		return inputs.map(params => check(params != null ? params : {}));
	});
	process.stdout.write(JSON.stringify(answers));
});
