// The engine, spoken to with one JSON object per line each way (DESIGN §5.1, protocol 1), over one of
// two transports:
// - socket (what `mp-policy pi install` sets up by default): a Unix socket served by `mp-policy serve
//   --socket PATH --idle-exit DURATION`, which outlives pi so that the next pi starts without waiting for
//   Python; when nobody listens there, the client starts that server itself (detached) and connects once
//   it is up (a server that exits before that is a fault at once, not a wait for the start timeout);
// - stdio (`--per-session`, or no socket given): a child process `mp-policy serve --stdio`, started at the
//   first request.
// Fail-safe by construction:
// - a request never rejects: it resolves to the answer, or to null when the engine is missing, exits,
//   hangs (no answer within the timeout: 1.5 s, or 5 s for the first answer of an engine just started,
//   which loads Python and the policy) or answers garbage;
// - a faulty engine is dropped (a child is killed) and tried again later, with a doubling back-off
//   (5 s up to 5 min), so one `pi -p` run meets a faulty engine at most once;
// - children, sockets and pipes are unref()'d, so the engine never keeps pi alive, and the engine's
//   stderr goes to a log file (never a pipe nobody reads);
// - `onUnavailable(reason)` is called at each fault; the extension turns the first into one notice.
// Depends on node's own modules only (unit-tested with `node --test` against fake engines).

import { spawn as spawnProcess } from "node:child_process";
import { closeSync, openSync, renameSync, statSync } from "node:fs";
import { createConnection } from "node:net";

const MAX_LOG_BYTES = 1024 * 1024;
const MAX_LINE = 1024 * 1024;
const RECONNECT_MS = 50;

export class EngineClient {
  /**
   * @param {object} options
   * @param {string[]} options.argv the command line of the stdio engine, or of the socket server (program first)
   * @param {string} [options.socket] a Unix socket path: talk to `mp-policy serve --socket` there
   * @param {object} [options.env] the engine's environment (default: this process's)
   * @param {string} [options.cwd] the engine's working directory
   * @param {number} [options.timeoutMs] how long an answer may take (1500)
   * @param {number} [options.startTimeoutMs] how long the first answer of a just-started engine may take (5000)
   * @param {string} [options.logPath] where the engine's stderr goes (appended; rotated past 1 MiB)
   * @param {(reason: string) => void} [options.onUnavailable] called at each fault
   * @param {{initialMs: number, maxMs: number}} [options.backoff] the restart back-off (5 s doubling to 5 min)
   * @param {Function} [options.spawn] child_process.spawn (tests inject their own)
   * @param {() => number} [options.now] the clock in ms
   */
  constructor(options) {
    this.argv = options.argv;
    this.socket = options.socket;
    this.env = options.env ?? process.env;
    this.cwd = options.cwd;
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.startTimeoutMs = Math.max(options.startTimeoutMs ?? 5000, this.timeoutMs);
    this.logPath = options.logPath;
    this.onUnavailable = options.onUnavailable ?? (() => {});
    this.backoff = options.backoff ?? { initialMs: 5000, maxMs: 300000 };
    this.spawn = options.spawn ?? spawnProcess;
    this.now = options.now ?? Date.now;
    this.channel = null;
    this.pending = new Map();
    this.nextId = 1;
    this.failures = 0;
    this.retryAt = 0;
    this.lastReason = null;
    this.starts = 0;
    this.stopped = false;
  }

  /** "running (pid 123, ...)", "connected to PATH", "not started", or "unavailable: <reason>; next try in 4s". */
  describe() {
    if (this.channel) return this.channel.describe();
    if (this.lastReason) {
      const wait = Math.max(0, Math.ceil((this.retryAt - this.now()) / 1000));
      return `unavailable: ${this.lastReason}${wait > 0 ? `; next try in ${wait}s` : ""}`;
    }
    return this.socket ? `not connected (${this.socket})` : `not started (${this.argv.join(" ")})`;
  }

  /** Open the channel now unless it is open or its back-off has not run out; true when it is open. */
  start() {
    if (this.channel) return true;
    if (this.stopped || this.now() < this.retryAt) return false;
    this.starts += 1;
    this.channel = this.socket ? this.openSocket() : this.openChild();
    return this.channel !== null;
  }

  /**
   * Send `{id, op, ...args}` and wait for its answer. Resolves {ok: true, result, warnings} or
   * {ok: false, error, warnings} (the engine's error answer), or null when the engine is unavailable.
   * Never rejects. `wait: false` does not keep the process alive for the answer (fire and forget).
   */
  request(op, args = {}, { timeoutMs, wait = true } = {}) {
    if (!this.start()) return Promise.resolve(null);
    const channel = this.channel;
    const id = this.nextId++;
    const line = `${JSON.stringify({ ...args, id, op })}\n`;
    const limit = timeoutMs ?? (channel.answered ? this.timeoutMs : this.startTimeoutMs);
    const answer = new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending.has(id)) this.fault(`it did not answer "${op}" within ${limit} ms`, channel);
      }, limit);
      if (!wait) timer.unref();
      this.pending.set(id, { resolve, timer });
    });
    this.pending.get(id).answer = answer; // what drain() waits for
    try {
      channel.write(line);
    } catch (error) {
      this.fault(`its input closed (${error.message ?? error})`, channel);
    }
    return answer;
  }

  /** Wait until every request in flight has its answer (or null), at most `timeoutMs`. */
  async drain(timeoutMs = this.timeoutMs) {
    const waiting = [...this.pending.values()].map((p) => p.answer);
    if (waiting.length === 0) return;
    let timer;
    const limit = new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(waiting), limit]);
    clearTimeout(timer);
  }

  /** Close the channel (a stdio engine exits after the request in hand); pending requests get null. */
  stop() {
    this.stopped = true;
    const channel = this.channel;
    this.channel = null;
    this.settleAll();
    channel?.close(false);
  }

  // -- transports ------------------------------------------------------------------------------------

  /** Spawn the engine's command line with stdin and stdout as given, its stderr appended to the log. */
  spawnEngine(stdin, stdout, detached = false) {
    const stderr = this.openLog();
    try {
      return this.spawn(this.argv[0], this.argv.slice(1), {
        cwd: this.cwd,
        env: this.env,
        detached,
        stdio: [stdin, stdout, stderr ?? "ignore"],
        windowsHide: true,
      });
    } finally {
      if (typeof stderr === "number") closeSync(stderr);
    }
  }

  /** Why the engine's program could not run: "PROGRAM was not found", or the error's message. */
  startError(error) {
    return error && error.code === "ENOENT" ? `${this.argv[0]} was not found` : `${error?.message ?? error}`;
  }

  openChild() {
    let child;
    try {
      child = this.spawnEngine("pipe", "pipe");
    } catch (error) {
      this.fault(`cannot start ${this.argv[0]}: ${error && error.message ? error.message : error}`, null);
      return null;
    }
    const channel = this.lines({
      describe: () => `running (pid ${child.pid ?? "?"}, ${this.argv.join(" ")})`,
      write: (line) => child.stdin.write(line),
      close: (faulty) => {
        try {
          child.stdin?.end();
        } catch {
          // already closed
        }
        try {
          child.kill(faulty ? "SIGKILL" : "SIGTERM");
        } catch {
          // already gone
        }
      },
    });
    child.unref();
    child.stdin?.unref?.();
    child.stdout?.unref?.();
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk) => channel.receive(chunk));
    child.stdin?.on("error", (error) => this.fault(`its input closed (${error.code ?? error.message})`, channel));
    child.on("error", (error) => this.fault(`cannot start: ${this.startError(error)}`, channel));
    child.on("exit", (code, signal) => {
      this.fault(signal ? `it was killed (${signal})` : `it exited with code ${code}`, channel);
    });
    return channel;
  }

  openSocket() {
    let socket = null;
    let connected = false;
    let started = false; // whether this client started the server
    let closed = false;
    let serverGone = null; // how the server this client started ended before the connection was made
    let triedSinceGone = false;
    const queue = [];
    const deadline = this.now() + this.startTimeoutMs;
    const channel = this.lines({
      describe: () => `connected to ${this.socket}${started ? " (a server this pi started)" : ""}`,
      write: (line) => {
        if (connected) socket.write(line);
        else queue.push(line);
      },
      close: () => {
        closed = true;
        socket?.destroy();
      },
    });
    const connect = () => {
      if (closed) return;
      socket = createConnection({ path: this.socket });
      socket.unref();
      socket.setEncoding("utf8");
      socket.on("connect", () => {
        connected = true;
        for (const line of queue.splice(0)) socket.write(line);
      });
      socket.on("data", (chunk) => channel.receive(chunk));
      socket.on("error", (error) => {
        if (connected || closed) {
          this.fault(`the connection to ${this.socket} broke (${error.code ?? error.message})`, channel);
          return;
        }
        const absent = error.code === "ENOENT" || error.code === "ECONNREFUSED";
        if (absent && !started) {
          started = true;
          const onExit = (how) => {
            serverGone = how;
          };
          if (!this.startServer(channel, onExit)) return;
        }
        if (absent && serverGone) {
          // Another pi's server may have won the socket (ours then exits at once): one more try, then give up.
          if (triedSinceGone) {
            const log = this.logPath ? `; see ${this.logPath}` : "";
            this.fault(`the socket server ${serverGone} before listening on ${this.socket}${log}`, channel);
            return;
          }
          triedSinceGone = true;
        }
        if (absent && this.now() < deadline) {
          setTimeout(connect, RECONNECT_MS).unref();
          return;
        }
        this.fault(`cannot connect to ${this.socket} (${error.code ?? error.message})`, channel);
      });
      socket.on("close", () => {
        if (connected) this.fault(`${this.socket} closed the connection`, channel);
      });
    };
    connect();
    return channel;
  }

  /**
   * Start `mp-policy serve --socket PATH` detached: it outlives this pi and serves the next ones.
   * `onExit(how)` hears when it ends ("exited with code 2", "was killed (SIGKILL)").
   */
  startServer(channel, onExit = () => {}) {
    try {
      const server = this.spawnEngine("ignore", "ignore", true);
      server.on("error", (error) => this.fault(`cannot start the socket server: ${this.startError(error)}`, channel));
      server.on("exit", (code, signal) => onExit(signal ? `was killed (${signal})` : `exited with code ${code}`));
      server.unref();
      return true;
    } catch (error) {
      this.fault(`cannot start the socket server: ${error.message ?? error}`, channel);
      return false;
    }
  }

  /** A channel with line framing: `receive(chunk)` splits lines and settles the requests they answer. */
  lines(channel) {
    let buffer = "";
    channel.answered = false;
    channel.receive = (chunk) => {
      if (channel !== this.channel) return;
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) this.answer(channel, line);
        if (channel !== this.channel) return;
        newline = buffer.indexOf("\n");
      }
      if (buffer.length > MAX_LINE) this.fault("it sent a line longer than 1 MiB", channel);
    };
    return channel;
  }

  answer(channel, line) {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      this.fault(`it answered something that is not JSON (${JSON.stringify(line.slice(0, 60))})`, channel);
      return;
    }
    const waiting = message && typeof message === "object" ? this.pending.get(message.id) : undefined;
    if (!waiting || typeof message.ok !== "boolean") {
      this.fault("it answered something that is not an answer to a request", channel);
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    channel.answered = true;
    this.failures = 0;
    this.lastReason = null;
    const warnings = Array.isArray(message.warnings) ? message.warnings : [];
    if (message.ok) waiting.resolve({ ok: true, result: message.result ?? {}, warnings });
    else waiting.resolve({ ok: false, error: message.error ?? { code: "unknown", message: "no error given" }, warnings });
  }

  fault(reason, channel) {
    if (this.stopped || (channel !== null && channel !== this.channel)) return;
    this.channel = null;
    this.failures += 1;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    this.retryAt = this.now() + delay;
    this.lastReason = reason;
    channel?.close(true);
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
