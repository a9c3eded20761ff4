// Which engine the extension starts, and which route a prompt asks for.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import {
  DEFAULT_IDLE_EXIT,
  agentDir,
  durationSeconds,
  engineCommand,
  engineIdleExit,
  engineSocket,
  parseRoute,
  readJson,
  retrySettings,
  selectRequest,
  serveArgv,
} from "../../../../policy_engine/integrations/pi/settings.js";

test("the agent directory follows PI_CODING_AGENT_DIR, as pi does", () => {
  assert.equal(agentDir({}, "/home/u"), "/home/u/.pi/agent");
  assert.equal(agentDir({ PI_CODING_AGENT_DIR: "/srv/agent" }, "/home/u"), "/srv/agent");
  assert.equal(agentDir({ PI_CODING_AGENT_DIR: "~/agent" }, "/home/u"), "/home/u/agent");
});

test("MP_POLICY_CMD wins, split on spaces", () => {
  const settings = { mpPolicy: { command: ["/venv/bin/mp-policy"] } };
  assert.deepEqual(engineCommand({ MP_POLICY_CMD: "  python3 -m  policy_engine " }, settings), {
    argv: ["python3", "-m", "policy_engine"],
    source: "MP_POLICY_CMD",
  });
});

test("else the command mp-policy pi install recorded", () => {
  assert.deepEqual(engineCommand({}, { mpPolicy: { command: ["/opt/my tools/mp-policy"] } }), {
    argv: ["/opt/my tools/mp-policy"],
    source: "settings.json",
  });
});

test("else mp-policy from PATH; a malformed record is ignored", () => {
  for (const settings of [undefined, {}, { mpPolicy: "x" }, { mpPolicy: { command: [] } }, { mpPolicy: { command: ["", 1] } }]) {
    assert.deepEqual(engineCommand({ MP_POLICY_CMD: "   " }, settings), { argv: ["mp-policy"], source: "PATH" });
  }
});

test("serve --stdio gets pi's agent directory only when pi was given one", () => {
  assert.deepEqual(serveArgv(["mp-policy"], {}), ["mp-policy", "serve", "--stdio"]);
  assert.deepEqual(serveArgv(["mp-policy"], { PI_CODING_AGENT_DIR: "/a" }), ["mp-policy", "serve", "--stdio", "--agent-dir", "/a"]);
});

test("a socket server: MP_POLICY_SOCKET, else the one install recorded; an empty variable turns it off", () => {
  const settings = { mpPolicy: { socket: "/a/mp-policy.sock" } };
  assert.equal(engineSocket({}, settings), "/a/mp-policy.sock");
  assert.equal(engineSocket({ MP_POLICY_SOCKET: "/b.sock" }, settings), "/b.sock");
  assert.equal(engineSocket({ MP_POLICY_SOCKET: "" }, settings), undefined);
  assert.equal(engineSocket({}, {}), undefined);
  assert.equal(engineSocket({}, { mpPolicy: { socket: 3 } }), undefined);
  assert.equal(engineSocket({ MP_POLICY_SOCKET: "/b.sock" }, {}), "/b.sock", "also over a --per-session install");
});

test("the kept server is started with --idle-exit: 30m unless settings.json says otherwise", () => {
  assert.equal(DEFAULT_IDLE_EXIT, "30m");
  assert.deepEqual(serveArgv(["mp-policy"], { PI_CODING_AGENT_DIR: "/a" }, "/a/mp-policy.sock"),
    ["mp-policy", "serve", "--socket", "/a/mp-policy.sock", "--idle-exit", "30m", "--agent-dir", "/a"]);
  assert.deepEqual(serveArgv(["/venv/bin/mp-policy"], {}, "/a/mp-policy.sock", "10m"),
    ["/venv/bin/mp-policy", "serve", "--socket", "/a/mp-policy.sock", "--idle-exit", "10m"]);
  assert.deepEqual(serveArgv(["mp-policy"], {}, undefined, "10m"), ["mp-policy", "serve", "--stdio"],
    "an engine per session stops with its session: no idle time");
});

test("mpPolicy.idleExit: a duration as mp-policy reads it, or a number of seconds", () => {
  assert.deepEqual(engineIdleExit(undefined), { value: "30m", problem: null });
  assert.deepEqual(engineIdleExit({ mpPolicy: { socket: "/s" } }), { value: "30m", problem: null });
  assert.deepEqual(engineIdleExit({ mpPolicy: { idleExit: "10m" } }), { value: "10m", problem: null });
  assert.deepEqual(engineIdleExit({ mpPolicy: { idleExit: " 1H 30m " } }), { value: "1h30m", problem: null });
  assert.deepEqual(engineIdleExit({ mpPolicy: { idleExit: 600 } }), { value: "600", problem: null });
  assert.deepEqual(engineIdleExit({ mpPolicy: { idleExit: "250ms" } }), { value: "250ms", problem: null });
});

test("an idleExit the server would refuse gives 30m and says why", () => {
  for (const bad of ["soon", "0s", 0, -5, "10 minutes", "99999d", true, {}, ""]) {
    const { value, problem } = engineIdleExit({ mpPolicy: { idleExit: bad } });
    assert.equal(value, "30m", JSON.stringify(bad));
    assert.match(problem, /^mpPolicy\.idleExit in settings\.json is .*, not a duration such as 30m or 90s; using 30m$/);
  }
});

test("durations in seconds, as mp-policy's parser reads them", () => {
  assert.equal(durationSeconds("90"), 90);
  assert.equal(durationSeconds("1h30m"), 5400);
  assert.equal(durationSeconds("1.5s"), 1.5);
  assert.equal(durationSeconds("2d"), 172800);
  assert.equal(durationSeconds("250ms"), 0.25);
  assert.ok(Number.isNaN(durationSeconds("5 m")));
  assert.ok(Number.isNaN(durationSeconds("m5")));
  assert.ok(Number.isNaN(durationSeconds("")));
});

test("routes are KIND:NAME, a bare provider name, or the current model", () => {
  assert.equal(parseRoute(""), null);
  assert.equal(parseRoute(undefined), null);
  assert.equal(parseRoute("model"), null);
  assert.deepEqual(parseRoute("chain:main"), { kind: "chain", name: "main" });
  assert.deepEqual(parseRoute(" Pool : claude "), { kind: "pool", name: "claude" });
  assert.deepEqual(parseRoute("anthropic-2"), { kind: "provider", name: "anthropic-2" });
  assert.throws(() => parseRoute("team:x"), /the kind must be one of provider, pool, chain, preset/);
  assert.throws(() => parseRoute("chain:"), /names no chain/);
  assert.throws(() => parseRoute("two words"), /is not KIND:NAME/);
});

test("a select asks for the route, with the current model where the route takes one", () => {
  const model = { provider: "anthropic", id: "claude-sonnet-4-5" };
  assert.deepEqual(selectRequest(null, model), { provider: "anthropic", model: "claude-sonnet-4-5" });
  assert.deepEqual(selectRequest({ kind: "pool", name: "claude" }, model), { pool: "claude", model: "claude-sonnet-4-5" });
  assert.deepEqual(selectRequest({ kind: "chain", name: "main" }, model), { chain: "main" });
  assert.deepEqual(selectRequest({ kind: "preset", name: "fast" }, undefined), { preset: "fast" });
  assert.equal(selectRequest(null, undefined), null);
});

test("pi's retry settings: defaults, global, then the project's", () => {
  assert.deepEqual(retrySettings(undefined, undefined), { enabled: true, maxRetries: 3 });
  assert.deepEqual(retrySettings({ retry: { maxRetries: 5 } }, { retry: { enabled: false } }), { enabled: false, maxRetries: 5 });
  assert.deepEqual(retrySettings({ retry: "x" }, null), { enabled: true, maxRetries: 3 });
});

test("readJson gives undefined for a missing or broken file", () => {
  const dir = mkdtempSync(join(tmpdir(), "settings-"));
  writeFileSync(join(dir, "bad.json"), "{ nope");
  writeFileSync(join(dir, "good.json"), '{"a": 1}');
  assert.equal(readJson(join(dir, "missing.json")), undefined);
  assert.equal(readJson(join(dir, "bad.json")), undefined);
  assert.deepEqual(readJson(join(dir, "good.json")), { a: 1 });
});
