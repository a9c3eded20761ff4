// The engine client against fake engines (real child processes): answers, and every way an engine can
// fail (missing, crashing, hanging, garbage), each resolving to null within the timeout, with a back-off
// before the next start, and never keeping the node process alive.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { EngineClient } from "../../../../policy_engine/integrations/pi/engine-client.js";

const FAKE = fileURLToPath(new URL("./fake-engine.mjs", import.meta.url));
const CLIENT = fileURLToPath(new URL("../../../../policy_engine/integrations/pi/engine-client.js", import.meta.url));

function client(mode, options = {}) {
  const faults = [];
  const engine = new EngineClient({
    argv: [process.execPath, FAKE, mode],
    timeoutMs: 10000, // generous: a node start on a busy machine; the timeout test sets its own
    onUnavailable: (reason) => faults.push(reason),
    ...options,
  });
  return { engine, faults };
}

test("a request gets its answer, with the engine's warnings", async () => {
  const { engine, faults } = client("ok");
  try {
    const answer = await engine.request("select", { provider: "anthropic", model: "m" });
    assert.equal(answer.ok, true);
    assert.equal(answer.result.op, "select");
    assert.equal(answer.result.echo.provider, "anthropic");
    assert.equal(typeof answer.result.echo.id, "number");
    const warned = await engine.request("warn");
    assert.deepEqual(warned.warnings, ["policy edit is broken"]);
    assert.deepEqual(faults, []);
    assert.match(engine.describe(), /^running \(pid \d+/);
  } finally {
    engine.stop();
  }
});

test("an error answer is passed on, and the engine stays up", async () => {
  const { engine, faults } = client("ok");
  try {
    const answer = await engine.request("boom");
    assert.equal(answer.ok, false);
    assert.equal(answer.error.code, "unknown-op");
    assert.equal((await engine.request("hello")).ok, true);
    assert.equal(engine.starts, 1);
    assert.deepEqual(faults, []);
  } finally {
    engine.stop();
  }
});

test("requests sent together are matched to their answers by id", async () => {
  const { engine } = client("slow");
  try {
    const answers = await Promise.all(["a", "b", "c"].map((name) => engine.request("select", { provider: name })));
    assert.deepEqual(answers.map((a) => a.result.echo.provider), ["a", "b", "c"]);
  } finally {
    engine.stop();
  }
});

test("a missing engine resolves null at once and says why", async () => {
  const { engine, faults } = client("ok", { argv: ["/nonexistent/mp-policy", "serve", "--stdio"] });
  const started = Date.now();
  assert.equal(await engine.request("hello"), null);
  // The fault is the spawn error itself, not the 10 s timeout running out (generous: a busy machine).
  assert.ok(Date.now() - started < 5000, "no timeout is needed to notice a missing program");
  assert.equal(faults.length, 1);
  assert.match(faults[0], /not found/);
  assert.match(engine.describe(), /^unavailable: .*not found; next try in \d+s$/);
});

test("an engine that crashes on its first request resolves null", async () => {
  const { engine, faults } = client("crash");
  assert.equal(await engine.request("hello"), null);
  assert.equal(faults.length, 1);
  assert.match(faults[0], /exited with code 3/);
});

test("an engine that never answers is killed after the timeout", async () => {
  const { engine, faults } = client("hang", { timeoutMs: 1000, startTimeoutMs: 1000 });
  const started = Date.now();
  assert.equal(await engine.request("select", { provider: "anthropic" }), null);
  const waited = Date.now() - started;
  assert.ok(waited >= 990 && waited < 8000, `waited ${waited} ms`);
  assert.match(faults[0], /did not answer "select" within 1000 ms/);
});

test("a just-started engine gets the start allowance for its first answer, then the timeout", async () => {
  const { engine, faults } = client("slow", { timeoutMs: 100, startTimeoutMs: 10000 });
  try {
    assert.equal((await engine.request("hello")).ok, true, "300 ms (+ a node start): within the start allowance");
    assert.equal(await engine.request("select"), null, "300 ms: over the 100 ms timeout");
    assert.match(faults[0], /did not answer "select" within 100 ms/);
  } finally {
    engine.stop();
  }
});

test("an engine that answers garbage is dropped", async () => {
  const { engine, faults } = client("garbage");
  assert.equal(await engine.request("hello"), null);
  assert.match(faults[0], /not JSON \("Traceback/);
});

test("an answer to no request is garbage too", async () => {
  const { engine, faults } = client("stray");
  assert.equal(await engine.request("hello"), null);
  assert.match(faults[0], /not an answer to a request/);
});

test("after a fault the engine is not started again before its back-off, then it is", async () => {
  let now = 1_000_000;
  const { engine, faults } = client("crash", { now: () => now, backoff: { initialMs: 5000, maxMs: 20000 } });
  assert.equal(await engine.request("hello"), null);
  assert.equal(engine.starts, 1);
  assert.equal(await engine.request("hello"), null, "within the back-off: no new process");
  assert.equal(engine.starts, 1);
  assert.equal(faults.length, 1);
  now += 5000;
  assert.equal(await engine.request("hello"), null);
  assert.equal(engine.starts, 2, "the back-off ran out: started again");
  assert.equal(engine.retryAt - now, 10000, "the back-off doubles");
  now += 10000;
  await engine.request("hello");
  now += 20000;
  await engine.request("hello");
  assert.equal(engine.retryAt - now, 20000, "and stops doubling at its maximum");
});

test("a good answer resets the back-off", async () => {
  let now = 0;
  const { engine } = client("crash", { now: () => now });
  await engine.request("hello");
  assert.equal(engine.failures, 1);
  engine.argv = [process.execPath, FAKE, "ok"];
  now += 60_000;
  try {
    assert.equal((await engine.request("hello")).ok, true);
    assert.equal(engine.failures, 0);
    assert.equal(engine.lastReason, null);
  } finally {
    engine.stop();
  }
});

test("the engine's stderr goes to the log file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "engine-client-"));
  const logPath = join(dir, "engine.log");
  const { engine } = client("ok", { logPath });
  try {
    await engine.request("hello");
  } finally {
    engine.stop();
  }
  assert.match(readFileSync(logPath, "utf8"), /fake engine \(ok\) started/);
});

test("drain waits for the answers in flight", async () => {
  const { engine } = client("slow");
  try {
    let answered = false;
    engine.request("succeed", { turn: "t" }).then(() => {
      answered = true;
    });
    await engine.drain(2000);
    assert.equal(answered, true);
  } finally {
    engine.stop();
  }
});

test("stop resolves pending requests with null and closes the engine", async () => {
  const { engine, faults } = client("hang", { timeoutMs: 5000 });
  const pending = engine.request("hello");
  engine.stop();
  assert.equal(await pending, null);
  assert.deepEqual(faults, [], "stopping is not a fault");
  assert.equal(await engine.request("hello"), null, "a stopped client starts nothing");
});

for (const mode of ["ok", "hang"]) {
  test(`a running engine (${mode}) never keeps node alive`, () => {
    // A process that starts the engine, sends a request without waiting for it, and ends its work.
    const script = `
      import { EngineClient } from ${JSON.stringify(CLIENT)};
      const engine = new EngineClient({ argv: [process.execPath, ${JSON.stringify(FAKE)}, ${JSON.stringify(mode)}], timeoutMs: 60000 });
      engine.request("hello", {}, { wait: false });
      setTimeout(() => process.stdout.write("done\\n"), 100);
    `;
    const started = Date.now();
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "done\n");
    assert.ok(Date.now() - started < 10000, "the process exited without waiting for the engine");
  });
}

// -- the socket transport (`mp-policy serve --socket PATH`, kept running between pi sessions) ----------

function socketPath() {
  return join(mkdtempSync(join(tmpdir(), "engine-socket-")), "mp-policy.sock");
}

function startServer(path, mode = "ok", delay = 0) {
  const server = spawn(process.execPath, [FAKE, mode, "--socket", path, "--delay", String(delay)], { stdio: "ignore" });
  return server;
}

async function until(check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("a socket server that is running is used, and it outlives the client", async () => {
  const path = socketPath();
  const server = startServer(path);
  try {
    await until(() => existsSync(path));
    const { engine, faults } = client("ok", { socket: path, argv: ["/nonexistent/never-started"] });
    const first = await engine.request("hello");
    assert.equal(first.ok, true);
    assert.equal(first.result.pid, server.pid);
    assert.match(engine.describe(), /^connected to .*mp-policy\.sock$/);
    engine.stop();
    const again = client("ok", { socket: path, argv: ["/nonexistent/never-started"] });
    assert.equal((await again.engine.request("select")).result.pid, server.pid, "the same server serves the next one");
    again.engine.stop();
    assert.deepEqual(faults, []);
  } finally {
    server.kill();
  }
});

test("with nobody listening, the client starts the socket server and waits for it", async () => {
  const path = socketPath();
  const argv = [process.execPath, FAKE, "ok", "--socket", path, "--delay", "300"];
  const { engine, faults } = client("ok", { socket: path, argv });
  let pid;
  try {
    const answer = await engine.request("hello");
    assert.equal(answer.ok, true, JSON.stringify(faults));
    pid = answer.result.pid;
    assert.match(engine.describe(), /a server this pi started/);
  } finally {
    engine.stop();
  }
  assert.ok(existsSync(path), "the server keeps running after the client stops");
  process.kill(pid, "SIGTERM");
  await until(() => !existsSync(path));
});

test("a socket server that cannot be started, or never comes up, leaves the client unavailable", async () => {
  const missing = client("ok", { socket: socketPath(), argv: ["/nonexistent/mp-policy", "serve"], timeoutMs: 2000, startTimeoutMs: 2000 });
  assert.equal(await missing.engine.request("hello"), null);
  assert.match(missing.faults[0], /cannot start the socket server: \/nonexistent\/mp-policy was not found|cannot connect/);
  const path = socketPath();
  const silent = client("ok", { socket: path, argv: [process.execPath, "-e", "setTimeout(() => {}, 100)"], timeoutMs: 1000, startTimeoutMs: 1000 });
  const started = Date.now();
  assert.equal(await silent.engine.request("hello"), null);
  assert.ok(Date.now() - started < 8000);
  assert.match(silent.faults[0], /the socket server exited with code 0 before listening on /);
});

test("a socket server that exits before listening is a fault at once, not a wait for the start allowance", async () => {
  const path = socketPath();
  const dir = mkdtempSync(join(tmpdir(), "engine-log-"));
  const logPath = join(dir, "engine.log");
  const argv = [process.execPath, "-e", "process.stderr.write('Error: no such option: --idle-exit\\n'); process.exit(2)"];
  const { engine, faults } = client("ok", { socket: path, argv, logPath, timeoutMs: 10000, startTimeoutMs: 10000 });
  const started = Date.now();
  assert.equal(await engine.request("hello"), null);
  const waited = Date.now() - started;
  assert.ok(waited < 5000, `waited ${waited} ms of a 10000 ms allowance`);
  assert.equal(faults.length, 1);
  assert.equal(faults[0], `the socket server exited with code 2 before listening on ${path}; see ${logPath}`);
  assert.match(readFileSync(logPath, "utf8"), /no such option: --idle-exit/);
});

test("a started server that exits because another one took the socket: the client uses the other", async () => {
  const path = socketPath();
  // What a second pi's server does when the first pi's server won the race: another server listens,
  // so it exits (code 2). Here it starts that other server itself, waits until it listens, and exits.
  const loser = `
    const { spawn } = await import("node:child_process");
    const { existsSync } = await import("node:fs");
    const winner = spawn(process.execPath, [${JSON.stringify(FAKE)}, "ok", "--socket", ${JSON.stringify(path)}],
      { detached: true, stdio: "ignore" });
    winner.unref();
    const wait = () => (existsSync(${JSON.stringify(path)}) ? process.exit(2) : setTimeout(wait, 5));
    wait();
  `;
  const argv = [process.execPath, "--input-type=module", "-e", loser];
  const { engine, faults } = client("ok", { socket: path, argv, timeoutMs: 10000, startTimeoutMs: 10000 });
  let pid;
  try {
    const answer = await engine.request("hello");
    assert.equal(answer?.ok, true, JSON.stringify(faults));
    pid = answer.result.pid;
    assert.deepEqual(faults, []);
  } finally {
    engine.stop();
    if (pid) process.kill(pid, "SIGTERM");
  }
  await until(() => !existsSync(path));
});

test("a hanging socket server is dropped after the timeout", async () => {
  const path = socketPath();
  const server = startServer(path, "hang");
  try {
    await until(() => existsSync(path));
    const { engine, faults } = client("ok", { socket: path, argv: ["/nonexistent"], timeoutMs: 500, startTimeoutMs: 500 });
    assert.equal(await engine.request("hello"), null);
    assert.match(faults[0], /did not answer "hello" within 500 ms/);
  } finally {
    server.kill();
  }
});

test("a socket connection never keeps node alive", async () => {
  const path = socketPath();
  const server = startServer(path, "hang");
  try {
    await until(() => existsSync(path));
    const script = `
      import { EngineClient } from ${JSON.stringify(CLIENT)};
      const engine = new EngineClient({ argv: ["/nonexistent"], socket: ${JSON.stringify(path)}, timeoutMs: 60000 });
      engine.request("hello", {}, { wait: false });
      setTimeout(() => process.stdout.write("done\\n"), 200);
    `;
    const started = Date.now();
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "done\n");
    assert.ok(Date.now() - started < 10000);
  } finally {
    server.kill();
  }
});
