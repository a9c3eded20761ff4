// Where the extension's configuration comes from: pi's agent directory and settings.json (the key
// `mpPolicy` that `mp-policy pi install` writes), MP_POLICY_CMD and MP_POLICY_ROUTE.
// Pure functions except readJson (unit-tested with `node --test`).

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The key of pi's settings.json under which `mp-policy pi install` records what it did. */
export const SETTINGS_KEY = "mpPolicy";

/** pi's agent directory: $PI_CODING_AGENT_DIR (with ~ expanded), else ~/.pi/agent. */
export function agentDir(env = process.env, home = homedir()) {
  const value = env.PI_CODING_AGENT_DIR;
  if (value) {
    if (value === "~") return home;
    if (value.startsWith("~/")) return join(home, value.slice(2));
    return value;
  }
  return join(home, ".pi", "agent");
}

/** A JSON file's content, or undefined when it is missing or not JSON. */
export function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** What `mp-policy pi install` recorded in settings.json (`mpPolicy`), or undefined. */
function recordedBy(settings) {
  const recorded = settings && typeof settings === "object" ? settings[SETTINGS_KEY] : undefined;
  return recorded && typeof recorded === "object" ? recorded : undefined;
}

/**
 * The command line that starts the engine, without its arguments: MP_POLICY_CMD (split on spaces),
 * else the `command` that `mp-policy pi install` recorded in settings.json, else `mp-policy` from PATH.
 * `source` says which.
 */
export function engineCommand(env = process.env, settings = undefined) {
  const override = (env.MP_POLICY_CMD ?? "").trim();
  if (override) return { argv: override.split(/\s+/), source: "MP_POLICY_CMD" };
  const command = recordedBy(settings)?.command;
  if (Array.isArray(command) && command.length > 0 && command.every((part) => typeof part === "string" && part)) {
    return { argv: [...command], source: "settings.json" };
  }
  return { argv: ["mp-policy"], source: "PATH" };
}

/**
 * The Unix socket of the kept engine: MP_POLICY_SOCKET, else the `socket` that `mp-policy pi install`
 * recorded in settings.json (its default); undefined for an engine per session (`serve --stdio`,
 * `mp-policy pi install --per-session`). MP_POLICY_SOCKET set to an empty string turns a recorded socket off.
 */
export function engineSocket(env = process.env, settings = undefined) {
  if (env.MP_POLICY_SOCKET !== undefined) return env.MP_POLICY_SOCKET.trim() || undefined;
  const socket = recordedBy(settings)?.socket;
  return (typeof socket === "string" ? socket.trim() : "") || undefined;
}

/** How long a kept engine waits without a pi session before it stops, unless settings.json says otherwise. */
export const DEFAULT_IDLE_EXIT = "30m";
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;

/**
 * The kept engine's idle time: `mpPolicy.idleExit` (a duration such as "10m", or a number of seconds), else
 * 30m. Returns {value, problem}: a value that is not a duration longer than 0 gives the default and a problem
 * to tell the user about (the server would refuse it and never start).
 */
export function engineIdleExit(settings = undefined) {
  const value = recordedBy(settings)?.idleExit;
  if (value === undefined || value === null) return { value: DEFAULT_IDLE_EXIT, problem: null };
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim().toLowerCase().replace(/ /g, "") : "";
  const seconds = durationSeconds(text);
  if (seconds > 0 && seconds <= MAX_SECONDS) return { value: text, problem: null };
  return {
    value: DEFAULT_IDLE_EXIT,
    problem: `mpPolicy.idleExit in settings.json is ${JSON.stringify(value)}, not a duration such as 30m or 90s; using ${DEFAULT_IDLE_EXIT}`,
  };
}

const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const MAX_SECONDS = 3650 * 86400; // as mp-policy's duration parser

/** Seconds in a duration as mp-policy reads it ("1h30m", "90s", "250ms", or a number), NaN for anything else. */
export function durationSeconds(text) {
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  if (!DURATION.test(text)) return Number.NaN;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) seconds += Number(n) * UNIT_SECONDS[unit];
  return seconds;
}

/**
 * The engine's full command line: `serve --stdio`, or `serve --socket PATH --idle-exit DURATION` for the kept
 * engine, then `--agent-dir` when pi's is set.
 */
export function serveArgv(command, env = process.env, socket = undefined, idleExit = DEFAULT_IDLE_EXIT) {
  const argv = socket
    ? [...command, "serve", "--socket", socket, "--idle-exit", idleExit]
    : [...command, "serve", "--stdio"];
  if (env.PI_CODING_AGENT_DIR) argv.push("--agent-dir", agentDir(env));
  return argv;
}

const ROUTE_KINDS = ["provider", "pool", "chain", "preset"];

/**
 * A route written as "chain:main", "pool:claude", "preset:coding", "provider:anthropic" (or a bare
 * provider name). Empty or "model" means: the current model's provider. Returns {kind, name} or null
 * for the default; throws an Error with a hint for anything else.
 */
export function parseRoute(text) {
  const value = String(text ?? "").trim();
  if (value === "" || value === "model" || value === "default") return null;
  const colon = value.indexOf(":");
  if (colon === -1) {
    if (/^[A-Za-z0-9._-]+$/.test(value)) return { kind: "provider", name: value };
    throw new Error(`route "${value}" is not KIND:NAME (kinds: ${ROUTE_KINDS.join(", ")})`);
  }
  const kind = value.slice(0, colon).trim().toLowerCase();
  const name = value.slice(colon + 1).trim();
  if (!ROUTE_KINDS.includes(kind)) {
    throw new Error(`route "${value}": the kind must be one of ${ROUTE_KINDS.join(", ")}`);
  }
  if (!name) throw new Error(`route "${value}" names no ${kind}`);
  return { kind, name };
}

/**
 * The arguments of a `select` for a new prompt: the configured route, or the current model's provider.
 * A pool or provider route keeps the current model; a chain or preset brings its entries' models.
 */
export function selectRequest(route, model) {
  if (route && (route.kind === "chain" || route.kind === "preset")) return { [route.kind]: route.name };
  if (route) {
    const request = { [route.kind]: route.name };
    if (model && model.id) request.model = model.id;
    return request;
  }
  if (!model || !model.provider) return null;
  return { provider: model.provider, model: model.id };
}

/** pi's auto-retry settings (global settings.json, then the project's .pi/settings.json), with pi's defaults. */
export function retrySettings(globalSettings, projectSettings) {
  const merged = { enabled: true, maxRetries: 3 };
  for (const settings of [globalSettings, projectSettings]) {
    const retry = settings && typeof settings === "object" ? settings.retry : undefined;
    if (!retry || typeof retry !== "object") continue;
    if (typeof retry.enabled === "boolean") merged.enabled = retry.enabled;
    if (typeof retry.maxRetries === "number") merged.maxRetries = retry.maxRetries;
  }
  return merged;
}
