// Real ADR-32 ("NATS micro") clients and services for the broker's NATS service API tests:
// the npm @nats-io/services package (its Svcm client and service) and a plain
// @nats-io/transport-node request, with every discovery answer checked by ajv against the
// ADR-32 response schemas.
//
//   node micro-client.js discover SCHEMAS NAME   -> JSON report of ping/info/stats answers
//   node micro-client.js requests SUBJECT BODY [SUBJECT BODY...]
//                                                -> JSON [{data, headers, serviceError}]
//   node micro-client.js selfcheck SCHEMAS       -> the validator rejects broken answers
//   node micro-client.js serve NAME GROUP        -> runs a JS service until stdin closes
//
// The NATS URL comes from NATS_URL (default nats://127.0.0.1:4222).
"use strict";

const fs = require("fs");
const { connect } = require("@nats-io/transport-node");
const { Svcm, ServiceError } = require("@nats-io/services");

const url = process.env.NATS_URL || "nats://127.0.0.1:4222";

// The answers of one discovery; "no responders" is none.
async function collect(iterPromise) {
  const out = [];
  try {
    for await (const answer of await iterPromise) out.push(answer);
  } catch (err) {
    if (!/no responders/i.test(String(err && err.message))) throw err;
  }
  return out;
}

function validator(schemasPath) {
  const Ajv = require("ajv");
  const addFormats = require("ajv-formats");
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const doc = JSON.parse(fs.readFileSync(schemasPath, "utf8"));
  ajv.addSchema(doc, "adr32");
  const check = {};
  for (const kind of ["ping_response", "info_response", "stats_response"]) {
    check[kind] = ajv.getSchema(`adr32#/definitions/${kind}`);
  }
  const invalid = [];
  let validated = 0;
  const validate = (kind, answers) => {
    for (const answer of answers) {
      validated += 1;
      if (!check[kind](answer)) {
        invalid.push({ kind, answer, errors: check[kind].errors });
      }
    }
    return answers;
  };
  return { validate, invalid, count: () => validated };
}

async function discover(schemasPath, name) {
  const nc = await connect({ servers: url });
  const { validate, invalid, count } = validator(schemasPath);
  const client = new Svcm(nc).client({ strategy: "stall", maxWait: 3000, stall: 300 });
  const mine = (answers) => answers.filter((a) => a.name === name);
  const report = {};
  // Without a name every service on the bus answers: keep ours, validate ours.
  report.pingAll = validate("ping_response", mine(await collect(client.ping())));
  report.infoAll = validate("info_response", mine(await collect(client.info())));
  report.statsAll = validate("stats_response", mine(await collect(client.stats())));
  report.ping = validate("ping_response", await collect(client.ping(name)));
  report.info = validate("info_response", await collect(client.info(name)));
  report.stats = validate("stats_response", await collect(client.stats(name)));
  const id = report.ping.length ? report.ping[0].id : "none";
  report.id = id;
  report.pingId = validate("ping_response", await collect(client.ping(name, id)));
  report.infoId = validate("info_response", await collect(client.info(name, id)));
  report.statsId = validate("stats_response", await collect(client.stats(name, id)));
  report.invalid = invalid;
  report.validated = count();
  await nc.close();
  return report;
}

// Plain requests, one after the other: [{data, headers, serviceError}].
// The validator itself: answers that break the ADR-32 schemas, each must be rejected.
function selfcheck(schemasPath) {
  const { validate, invalid } = validator(schemasPath);
  const ping = { type: "io.nats.micro.v1.ping_response", name: "svc", id: "x1", version: "1.0.0", metadata: {} };
  const stats = { ...ping, type: "io.nats.micro.v1.stats_response", started: "2026-01-01T00:00:00.5Z", endpoints: [] };
  const endpoint = { name: "e", subject: "s.e", num_requests: 1, num_errors: 0, last_error: "", processing_time: 5, average_processing_time: 5 };
  const good = [["ping_response", ping], ["stats_response", { ...stats, endpoints: [endpoint] }]];
  const bad = [
    ["ping_response", { ...ping, version: "2" }],
    ["ping_response", { ...ping, name: "a.b" }],
    ["ping_response", { ...ping, metadata: { n: 3 } }],
    ["ping_response", { ...ping, type: "io.nats.micro.v1.info_response" }],
    ["info_response", { ...ping, type: "io.nats.micro.v1.info_response" }],
    ["stats_response", { ...stats, started: "yesterday" }],
    ["stats_response", { ...stats, endpoints: [{ ...endpoint, processing_time: 1.5 }] }],
    ["stats_response", { ...stats, endpoints: [{ ...endpoint, last_error: undefined }] }],
  ];
  for (const [kind, answer] of good) validate(kind, [answer]);
  const goodRejected = invalid.length;
  for (const [kind, answer] of bad) validate(kind, [answer]);
  return { goodRejected, badRejected: invalid.length - goodRejected, bad: bad.length };
}

async function requests(pairs) {
  const nc = await connect({ servers: url });
  const out = [];
  try {
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const msg = await nc.request(pairs[i], pairs[i + 1], { timeout: 5000 });
      const headers = {};
      if (msg.headers) {
        for (const [k] of msg.headers) headers[k] = msg.headers.get(k);
      }
      const err = ServiceError.toServiceError(msg);
      out.push({
        data: msg.string(),
        headers,
        serviceError: err ? { code: err.code, message: err.message } : null,
      });
    }
  } finally {
    await nc.close();
  }
  return out;
}

async function serve(name, group) {
  const nc = await connect({ servers: url });
  const srv = await new Svcm(nc).add({
    name,
    version: "1.2.3",
    description: "a JS service",
    metadata: { lang: "js" },
  });
  const g = srv.addGroup(group);
  g.addEndpoint("echo", { handler: (_err, msg) => msg.respond(msg.data) });
  g.addEndpoint("fail", {
    handler: (_err, msg) => msg.respondError(418, "I'm a teapot", JSON.stringify({ why: "tea" })),
  });
  g.addEndpoint("bare", { handler: (_err, msg) => msg.respondError(503, "down") });
  // A handler that throws: the library answers 500 and counts the error (respondError is not
  // counted by nats.js).
  g.addEndpoint("throws", {
    handler: () => {
      throw new Error("kaput");
    },
  });
  // Never answers: the caller's timeout must fire.
  g.addEndpoint("silent", { handler: () => {} });
  await nc.flush();
  const info = srv.info();
  process.stdout.write(JSON.stringify({ ready: true, id: info.id }) + "\n");
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on("end", resolve));
  await srv.stop();
  await nc.close();
}

async function main() {
  const [cmd, a, b, ...rest] = process.argv.slice(2);
  if (cmd === "discover") {
    process.stdout.write(JSON.stringify(await discover(a, b)) + "\n");
  } else if (cmd === "selfcheck") {
    process.stdout.write(JSON.stringify(selfcheck(a)) + "\n");
  } else if (cmd === "requests") {
    process.stdout.write(JSON.stringify(await requests([a, b, ...rest])) + "\n");
  } else if (cmd === "serve") {
    await serve(a, b);
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`micro-client: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
