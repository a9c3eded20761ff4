// A stand-in for `mp-policy serve --stdio` in the unit tests of the engine client. The first argument
// says how it behaves: ok (answers every request), crash (exits on its first request), hang (reads,
// never answers), garbage (answers a line that is not JSON), stray (answers an id nobody asked for),
// slow (answers after 300 ms). It appends each request line to $FAKE_ENGINE_LOG when set.
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";

const mode = process.argv[2] ?? "ok";
const log = process.env.FAKE_ENGINE_LOG;
process.stderr.write(`fake engine (${mode}) started\n`);
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (log) appendFileSync(log, `${line}\n`);
  const request = JSON.parse(line);
  if (mode === "crash") process.exit(3);
  if (mode === "hang") return;
  if (mode === "garbage") {
    process.stdout.write("Traceback (most recent call last):\n");
    return;
  }
  if (mode === "stray") {
    process.stdout.write(`${JSON.stringify({ id: "nobody", ok: true, result: {} })}\n`);
    return;
  }
  const answer = request.op === "boom"
    ? { id: request.id, ok: false, error: { code: "unknown-op", message: "unknown op 'boom'", hint: "protocol 1 has: hello" } }
    : { id: request.id, ok: true, result: { op: request.op, echo: request }, warnings: request.op === "warn" ? ["policy edit is broken"] : undefined };
  const send = () => process.stdout.write(`${JSON.stringify(answer)}\n`);
  if (mode === "slow") setTimeout(send, 300);
  else send();
});
lines.on("close", () => process.exit(0));
