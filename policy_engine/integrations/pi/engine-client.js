// The engine as a child process: `mp-policy serve --stdio`, one JSON object per line each way
// (DESIGN §5.1, protocol 1). Fail-safe by construction:
// - a request never rejects: it resolves to the answer, or to null when the engine is missing, exits,
//   hangs (no answer within the timeout, 1.5 s by default) or answers garbage;
// - a faulty engine is killed and started again later, with a doubling back-off (5 s up to 5 min), so
//   one `pi -p` run meets a faulty engine at most once;
// - the child and its pipes are unref()'d, so the engine never keeps pi alive, and its stderr goes to a
//   log file (never a pipe nobody reads);
// - `onUnavailable(reason)` is called at each fault; the extension turns the first into one notice.
// Depends on node's own modules only (unit-tested with `node --test` against fake engines).

import { spawn as spawnProcess } from "node:child_process";
import { closeSync, openSync, renameSync, statSync } from "node:fs";

const MAX_LOG_BYTES = 1024 * 1024;

export class EngineClient {
  /**
   * @param {object} options
   * @param {string[]} options.argv the command line (program first)
   * @param {object} [options.env] the child's environment (default: this process's)
   * @param {string} [options.cwd] the child's working directory
   * @param {number} [options.timeoutMs] how long a request may take (1500)
   * @param {string} [options.logPath] where the child's stderr goes (appended; rotated past 1 MiB)
   * @param {(reason: string) => void} [options.onUnavailable] called at each fault
   * @param {{initialMs: number, maxMs: number}} [options.backoff] the restart back-off (5 s doubling to 5 min)
   * @param {Function} [options.spawn] child_process.spawn (tests inject their own)
   * @param {() => number} [options.now] the clock in ms
   */
  constructor(options) {
    this.argv = options.argv;
    this.env = options.env ?? process.env;
    this.cwd = options.cwd;
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.logPath = options.logPath;
    this.onUnavailable = options.onUnavailable ?? (() => {});
    this.backoff = options.backoff ?? { initialMs: 5000, maxMs: 300000 };
    this.spawn = options.spawn ?? spawnProcess;
    this.now = options.now ?? Date.now;
    this.child = null;
    this.pending = new Map();
    this.nextId = 1;
    this.buffer = "";
    this.failures = 0;
    this.retryAt = 0;
    this.lastReason = null;
    this.starts = 0;
    this.stopped = false;
  }

  /** "running (pid 123)", "not started", or "unavailable: <reason>; next try in 4s". */
  describe() {
    if (this.child) return `running (pid ${this.child.pid ?? "?"}, ${this.argv.join(" ")})`;
    if (this.lastReason) {
      const wait = Math.max(0, Math.ceil((this.retryAt - this.now()) / 1000));
      return `unavailable: ${this.lastReason}${wait > 0 ? `; next try in ${wait}s` : ""}`;
    }
    return `not started (${this.argv.join(" ")})`;
  }

  /** Start the engine now unless it runs or its back-off has not run out; true when it is running. */
  start() {
    if (this.child) return true;
    if (this.stopped || this.now() < this.retryAt) return false;
    this.starts += 1;
    const stderr = this.openLog();
    let child;
    try {
      child = this.spawn(this.argv[0], this.argv.slice(1), {
        cwd: this.cwd,
        env: this.env,
        stdio: ["pipe", "pipe", stderr ?? "ignore"],
        windowsHide: true,
      });
    } catch (error) {
      if (typeof stderr === "number") closeSync(stderr);
      this.fault(`cannot start ${this.argv[0]}: ${error && error.message ? error.message : error}`);
      return false;
    }
    if (typeof stderr === "number") closeSync(stderr);
    this.child = child;
    this.buffer = "";
    child.unref();
    child.stdin?.unref?.();
    child.stdout?.unref?.();
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk) => this.receive(child, chunk));
    child.stdin?.on("error", (error) => this.fault(`its input closed (${error.code ?? error.message})`, child));
    child.on("error", (error) => {
      const what = error && error.code === "ENOENT" ? `${this.argv[0]} was not found` : `${error.message ?? error}`;
      this.fault(`cannot start: ${what}`, child);
    });
    child.on("exit", (code, signal) => {
      if (this.child === child && !this.stopped) {
        this.fault(signal ? `it was killed (${signal})` : `it exited with code ${code}`, child);
      }
    });
    return true;
  }

  /**
   * Send `{id, op, ...args}` and wait for its answer. Resolves {ok: true, result, warnings} or
   * {ok: false, error, warnings} (the engine's error answer), or null when the engine is unavailable.
   * Never rejects.
   * `wait: false` does not keep the process alive for the answer (fire and forget).
   */
  request(op, args = {}, { timeoutMs, wait = true } = {}) {
    if (!this.start()) return Promise.resolve(null);
    const child = this.child;
    const id = this.nextId++;
    const line = `${JSON.stringify({ ...args, id, op })}\n`;
    let settle;
    const done = new Promise((resolve) => {
      settle = resolve;
    });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending.has(id)) this.fault(`it did not answer "${op}" within ${timeoutMs ?? this.timeoutMs} ms`, child);
      }, timeoutMs ?? this.timeoutMs);
      if (!wait) timer.unref();
      const finish = (value) => {
        settle();
        resolve(value);
      };
      this.pending.set(id, { resolve: finish, timer, op, done });
      try {
        child.stdin.write(line);
      } catch (error) {
        this.fault(`its input closed (${error.message ?? error})`, child);
      }
    });
  }

  /** Wait until every request in flight has its answer (or null), at most `timeoutMs`. */
  async drain(timeoutMs = this.timeoutMs) {
    const waiting = [...this.pending.values()].map((p) => p.done);
    if (waiting.length === 0) return;
    let timer;
    const limit = new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(waiting), limit]);
    clearTimeout(timer);
  }

  /** Close the engine's input (it exits after the request in hand) and kill it; pending requests get null. */
  stop() {
    this.stopped = true;
    const child = this.child;
    this.child = null;
    this.settleAll();
    if (child) {
      try {
        child.stdin?.end();
      } catch {
        // already closed
      }
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
  }

  receive(child, chunk) {
    if (child !== this.child) return;
    this.buffer += chunk;
    let newline = this.buffer.indexOf("\n");
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.answer(child, line);
      if (child !== this.child) return;
      newline = this.buffer.indexOf("\n");
    }
    if (this.buffer.length > 1024 * 1024) this.fault("it sent a line longer than 1 MiB", child);
  }

  answer(child, line) {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      this.fault(`it answered something that is not JSON (${JSON.stringify(line.slice(0, 60))})`, child);
      return;
    }
    const waiting = message && typeof message === "object" ? this.pending.get(message.id) : undefined;
    if (!waiting || typeof message.ok !== "boolean") {
      this.fault("it answered something that is not an answer to a request", child);
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    this.failures = 0;
    this.lastReason = null;
    const warnings = Array.isArray(message.warnings) ? message.warnings : [];
    if (message.ok) waiting.resolve({ ok: true, result: message.result ?? {}, warnings });
    else waiting.resolve({ ok: false, error: message.error ?? { code: "unknown", message: "no error given" }, warnings });
  }

  fault(reason, child = this.child) {
    if (child !== this.child || this.stopped) return;
    this.child = null;
    this.failures += 1;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    this.retryAt = this.now() + delay;
    this.lastReason = reason;
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    this.settleAll();
    this.onUnavailable(reason);
  }

  settleAll() {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { resolve, timer } of pending) {
      clearTimeout(timer);
      resolve(null);
    }
  }

  openLog() {
    if (!this.logPath) return undefined;
    try {
      try {
        if (statSync(this.logPath).size > MAX_LOG_BYTES) renameSync(this.logPath, `${this.logPath}.1`);
      } catch {
        // no log yet
      }
      return openSync(this.logPath, "a", 0o600);
    } catch {
      return undefined;
    }
  }
}
