// Checks an AsyncAPI document with @asyncapi/parser: the document must parse
// with no error; every message example, and every example of a payload
// schema, must be valid by its schema (ajv, JSON Schema 2020-12). Given a
// second argument, a JSON file of [{"message": <message id>, "payload": ...,
// "headers": {...}}] (messages the engine made), each must be valid too.
// Prints what it checked; exits 1 on any problem.
import { readFileSync } from "node:fs";
import { Parser, fromFile } from "@asyncapi/parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [docPath, samplesPath] = process.argv.slice(2);
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, docPath).parse();
let problems = 0;
for (const d of diagnostics) {
  const where = (d.path || []).join("/");
  if (d.severity === 0) {
    problems++;
    console.log(`error: ${d.message} at ${where}`);
  } else if (d.severity === 1) {
    console.log(`warning: ${d.message} at ${where}`);
  }
}
if (!document) {
  console.log("the document did not parse");
  process.exit(1);
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
// The parser adds keys of its own (x-parser-*); the schemas' $id and $schema
// are dropped so that one schema used by several messages compiles each time.
function clean(v) {
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "$id" || k === "$schema" || k.startsWith("x-parser-")) continue;
      out[k] = clean(x);
    }
    return out;
  }
  return v;
}
function check(what, schema, value) {
  if (!schema) return;
  const validate = ajv.compile(clean(schema));
  if (!validate(value)) {
    problems++;
    console.log(`invalid: ${what}: ${ajv.errorsText(validate.errors)}`);
  }
}

const messages = new Map();
let examples = 0;
for (const m of document.allMessages()) {
  const id = m.id();
  messages.set(id, m);
  const payload = m.payload()?.json();
  const headers = m.headers()?.json();
  for (const ex of m.examples().all()) {
    const name = `message ${id} example ${ex.name() || ""}`;
    if (ex.hasPayload()) { check(name + " payload", payload, ex.payload()); examples++; }
    if (ex.hasHeaders()) { check(name + " headers", headers, ex.headers()); examples++; }
  }
  for (const [i, ex] of (payload?.examples || []).entries()) {
    check(`message ${id} payload schema example ${i}`, payload, ex);
    examples++;
  }
}

let samples = 0;
if (samplesPath) {
  for (const s of JSON.parse(readFileSync(samplesPath, "utf8"))) {
    const m = messages.get(s.message);
    if (!m) {
      problems++;
      console.log(`no message ${s.message} in the document`);
      continue;
    }
    if (s.payload !== undefined) check(`sample of ${s.message} payload`, m.payload()?.json(), s.payload);
    if (s.headers !== undefined) check(`sample of ${s.message} headers`, m.headers()?.json(), s.headers);
    samples++;
  }
}
console.log(`${messages.size} messages, ${document.channels().length} channels, ${document.operations().length} operations; ` +
  `${examples} examples and ${samples} samples checked; ${problems} problems`);
process.exit(problems ? 1 : 0);
