// A stand-in for `mp-policy serve` in the unit tests of the engine client. The first argument says how it
// behaves: ok (answers every request), crash (exits on its first request), hang (reads, never answers),
// garbage (answers a line that is not JSON), stray (answers an id nobody asked for), slow (answers after
// 300 ms). It serves stdin/stdout, or with `--socket PATH` (as `serve --socket`) a Unix socket, after
// `--delay MS`. Each request line is appended to $FAKE_ENGINE_LOG when set.
import { appendFileSync, unlinkSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const mode = process.argv[2] ?? "ok";
const socketAt = process.argv.indexOf("--socket");
const delayAt = process.argv.indexOf("--delay");
const delay = delayAt === -1 ? 0 : Number(process.argv[delayAt + 1]);
const log = process.env.FAKE_ENGINE_LOG;
process.stderr.write(`fake engine (${mode}) started\n`);

function serve(input, output, onClose) {
  const lines = createInterface({ input });
  lines.on("line", (line) => {
    if (log) appendFileSync(log, `${line}\n`);
    const request = JSON.parse(line);
    if (mode === "crash") process.exit(3);
    if (mode === "hang") return;
    if (mode === "garbage") {
      output.write("Traceback (most recent call last):\n");
      return;
    }
    if (mode === "stray") {
      output.write(`${JSON.stringify({ id: "nobody", ok: true, result: {} })}\n`);
      return;
    }
    const answer = request.op === "boom"
      ? { id: request.id, ok: false, error: { code: "unknown-op", message: "unknown op 'boom'", hint: "protocol 1 has: hello" } }
      : { id: request.id, ok: true, result: { op: request.op, echo: request, pid: process.pid }, warnings: request.op === "warn" ? ["policy edit is broken"] : undefined };
    const send = () => output.write(`${JSON.stringify(answer)}\n`);
    if (mode === "slow") setTimeout(send, 300);
    else send();
  });
  lines.on("close", onClose);
}

if (socketAt === -1) {
  serve(process.stdin, process.stdout, () => process.exit(0));
} else {
  const path = process.argv[socketAt + 1];
  setTimeout(() => {
    const server = createServer((connection) => serve(connection, connection, () => connection.end()));
    server.listen(path);
    process.on("SIGTERM", () => {
      server.close();
      try {
        unlinkSync(path);
      } catch {
        // gone
      }
      process.exit(0);
    });
  }, delay);
}
