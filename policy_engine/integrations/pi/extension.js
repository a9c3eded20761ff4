// mp-policy for pi: every prompt asks the engine which account and model to use, every failed turn
// tells the engine what failed and moves to the account it names (DESIGN §5.2).
//
// At each pi event:
// - load: register the extra accounts auth.json holds (`anthropic-2`, ...) as providers, so pi can
//   resolve a saved `anthropic-2` default model at start-up; wrap fetch to see failing responses.
// - session_start: `hello` (not awaited: pi starts while the engine does); register the accounts the
//   engine knows, cloning the base provider's models as pi's registry has them; notice pi-multi-pass.
// - before_agent_start: `select` (the route: MP_POLICY_ROUTE or `/mp route`, else the current model's
//   provider) and `pi.setModel` when the answer differs; this very prompt goes to the answer.
// - agent_end with an error: `fail` with the failing response's status, headers and body (else the
//   status at the head of pi's error message), switch to the answer's target; pi's own auto-retry then
//   continues on it, or, for an error pi does not retry (a 400 "out of extra usage"), the prompt is
//   re-sent as a follow-up where pi allows it (interactive and RPC mode). No target left: say when the
//   next account frees up, and cancel pi's retries on the used-up account.
// - agent_end with success: `succeed` with the response headers (passive quota capture).
// - model_select by the user: the project allow-list holds (switch back, with a notice).
// - `/mp` status, `/mp why` the last turn, `/mp route KIND:NAME` the route of this session.
// - session_shutdown: stop the engine, restore fetch.
// The engine is one `mp-policy serve --socket PATH --idle-exit DURATION` kept running between sessions
// (`mpPolicy.socket`, what `mp-policy pi install` records by default; started by the first pi that finds
// nobody listening, it stops after `mpPolicy.idleExit`, 30m, without a session), or with `mp-policy pi
// install --per-session` a `mp-policy serve --stdio` started for each session.
// If the engine is missing, exits, hangs or answers garbage, pi goes on exactly as without this
// extension; one notice says so.
//
// Why one file of ~500 lines: what is left here is the event wiring, one closure over a session's state
// (pi hands the extension one `pi` object); the pure parts already live beside it and are unit-tested
// on their own (accounts.js, errors.js, text.js, settings.js, engine-client.js, fetch-capture.js).
// Splitting the handlers apart would pass that state around for no reader's gain.

import { join } from "node:path";

// pi's own modules, as pi aliases them for extensions (jiti): the built-in catalogue and OAuth providers.
import { getModels, getProviders } from "@mariozechner/pi-ai";
import { getOAuthProvider } from "@mariozechner/pi-ai/oauth";

import { accountsFromAuth, customModels, knownProviders, providerConfig, splitAccount } from "./accounts.js";
import { EngineClient } from "./engine-client.js";
import { PI_RETRY_PATTERN, failureDetails, lastAssistant, piWillRetry } from "./errors.js";
import { captureFetch } from "./fetch-capture.js";
import {
  agentDir,
  engineCommand,
  engineIdleExit,
  engineSocket,
  parseRoute,
  readJson,
  retrySettings,
  selectRequest,
  serveArgv,
} from "./settings.js";
import {
  describeRoute,
  describeTarget,
  exhaustedError,
  failoverNotice,
  formatStatus,
  formatWhy,
  noTargetNotice,
  scrub,
  stepOf,
} from "./text.js";

const PROTOCOL = 1;
const PROMPT_LIMIT = 4000;
// pi's retry waits at least this long; an account that frees up sooner is worth pi's own retry.
const RETRY_WORTH_MS = 5000;
// Commands pi-multi-pass registers; two of them from one other extension means it is loaded.
const MULTI_PASS_COMMANDS = ["subs", "pool", "mp-preset"];

export default async function mpPolicy(pi) {
  const dir = agentDir();
  const globalSettings = readJson(join(dir, "settings.json")) ?? {};
  const command = engineCommand(process.env, globalSettings);
  const socket = engineSocket(process.env, globalSettings);
  const idleExit = engineIdleExit(globalSettings);
  const state = {
    ctx: undefined,
    client: undefined,
    hello: Promise.resolve(null),
    capture: undefined,
    disabled: null,
    route: null,
    routeError: null,
    retry: retrySettings(globalSettings, undefined),
    turn: null, // the turn of the prompt in hand: {id, prompt, steps, piRetries, routed}
    lastTurn: null, // the turn before it (for /mp why)
    lastPrompt: undefined,
    replay: null,
    switching: false,
    closing: false,
    noticed: new Set(),
    registered: new Set(),
    accounts: null, // the accounts the engine routes (from hello); other providers are left to pi
  };
  try {
    state.route = parseRoute(process.env.MP_POLICY_ROUTE);
  } catch (error) {
    state.routeError = `MP_POLICY_ROUTE: ${error.message}`;
  }

  const say = (text, level = "info", ctx = state.ctx) => {
    const clean = scrub(text);
    if (ctx && ctx.hasUI) {
      try {
        ctx.ui.notify(clean, level);
        return;
      } catch {
        // a stale context: fall through to stderr
      }
    }
    process.stderr.write(`${clean}\n`);
  };
  const once = (key, text, level = "warning") => {
    if (state.noticed.has(key)) return;
    state.noticed.add(key);
    say(text, level);
  };

  const engine = () => {
    if (!state.client) {
      state.client = new EngineClient({
        argv: serveArgv(command.argv, process.env, socket, idleExit.value),
        socket,
        // A kept server outlives this pi: it runs in the agent directory, not in this session's project.
        cwd: socket ? dir : undefined,
        env: process.env,
        logPath: join(dir, "mp-policy-engine.log"),
        onUnavailable: (reason) =>
          once("engine", `mp-policy: the engine is unavailable (${reason}); pi goes on without routing.`),
      });
    }
    return state.client;
  };
  const warn = (warnings) => {
    for (const warning of Array.isArray(warnings) ? warnings : []) {
      const text = typeof warning === "string" ? warning : (warning.message ?? JSON.stringify(warning));
      once(`warning:${text}`, `mp-policy: ${text}`);
    }
  };
  const refused = (op, answer) => {
    const error = answer.error ?? {};
    const hint = error.hint ? ` (${error.hint})` : "";
    once(`refused:${op}:${error.code}:${error.message}`, `mp-policy: the engine refused "${op}": ${error.message ?? error.code}${hint}`);
  };
  const ask = async (op, args, options) => {
    const answer = await engine().request(op, args, options);
    if (!answer) return null;
    warn(answer.warnings);
    if (!answer.ok) {
      refused(op, answer);
      return null;
    }
    return answer.result;
  };

  // --- accounts -----------------------------------------------------------------------------------

  const baseOAuth = (ctx, base) => {
    try {
      const found = ctx?.modelRegistry?.authStorage?.getOAuthProviders?.().find((p) => p.id === base);
      if (found) return found;
    } catch {
      // pi 1.x has no authStorage on the registry
    }
    try {
      return getOAuthProvider(base);
    } catch {
      return undefined;
    }
  };
  const register = (name, config) => {
    try {
      pi.registerProvider(name, config);
      state.registered.add(name);
      return true;
    } catch (error) {
      once(`register:${name}`, `mp-policy: could not register the account ${name}: ${error.message ?? error}`);
      return false;
    }
  };
  // At load: the extra accounts auth.json holds, of any provider pi knows (built in, with the base provider's
  // models.json URL, or a models.json custom provider), so that a saved default model of an extra account
  // resolves at start-up.
  const registerFromAuth = () => {
    const auth = readJson(join(dir, "auth.json"));
    const overrides = readJson(join(dir, "models.json"))?.providers ?? {};
    for (const name of accountsFromAuth(auth, knownProviders(getProviders(), overrides))) {
      const { base } = splitAccount(name);
      const override = overrides[base] && typeof overrides[base] === "object" ? overrides[base] : {};
      const builtIn = getModels(base).map((m) => ({ ...m, baseUrl: override.baseUrl ?? m.baseUrl }));
      const models = builtIn.length > 0 ? builtIn : customModels(overrides, base);
      const config = providerConfig(name, { models, baseOAuth: baseOAuth(undefined, base) });
      if (config && config.baseUrl) register(name, config);
    }
  };
  // After hello: every extra account the engine knows, cloned from pi's registry (models.json included).
  const registerAccounts = async (ctx, accounts) => {
    const all = ctx.modelRegistry.getAll();
    const builtIn = new Set(all.filter((m) => !state.registered.has(m.provider)).map((m) => m.provider));
    for (const account of Array.isArray(accounts) ? accounts : []) {
      const name = account && account.provider;
      if (!name || name === account.base || builtIn.has(name)) continue;
      const split = splitAccount(name);
      if (!split) continue;
      const base = account.base ?? split.base;
      const config = providerConfig(name, {
        models: all,
        baseOAuth: baseOAuth(ctx, base),
        baseName: ctx.modelRegistry.getProviderDisplayName?.(base),
        label: account.label,
      });
      if (config) register(name, config);
    }
  };

  // --- model switches -----------------------------------------------------------------------------

  const switchTo = async (ctx, target) => {
    const current = ctx.model;
    const modelId = target.model ?? current?.id;
    if (current && current.provider === target.provider && current.id === modelId) return true;
    const model = ctx.modelRegistry.find(target.provider, modelId);
    if (!model) {
      say(`mp-policy: the engine chose ${target.provider}/${modelId}, which pi has no model for; staying on ${describeTarget(current)}.`, "warning");
      return false;
    }
    state.switching = true;
    try {
      const ok = await pi.setModel(model);
      if (!ok) say(`mp-policy: pi has no credentials for ${target.provider}; staying on ${describeTarget(current)}.`, "warning");
      return ok;
    } catch (error) {
      say(`mp-policy: switching to ${describeTarget(target)} failed: ${error.message ?? error}`, "warning");
      return false;
    } finally {
      state.switching = false;
    }
  };

  // --- the turn's steps ---------------------------------------------------------------------------

  const session = (ctx) => {
    try {
      return ctx.sessionManager.getSessionId();
    } catch {
      return undefined;
    }
  };
  const newTurn = (prompt, routed = true) => ({ id: null, prompt, steps: [], piRetries: 0, routed });
  // A provider the policy does not know (an `openai` with its own key, say) is pi's business alone.
  const routes = (provider) => state.accounts === null || state.accounts.has(provider);
  const record = (turn, op, request, decision) => {
    if (decision && decision.turn) turn.id = decision.turn;
    turn.steps.push(stepOf(op, request, decision));
  };

  const onFailure = async (ctx, message) => {
    const captured = state.capture ? await state.capture.takeFailure() : null;
    const { args } = failureDetails(message.errorMessage, captured);
    const provider = message.provider ?? ctx.model?.provider;
    const model = message.model ?? ctx.model?.id;
    if (!provider) return;
    if (state.turn && !state.turn.routed) return;
    if (!state.turn?.id && !routes(provider)) return;
    const turn = state.turn ?? (state.turn = newTurn(state.lastPrompt));
    const request = { ...args, provider, model };
    if (turn.id) request.turn = turn.id;
    const decision = await ask("fail", { ...request, cwd: ctx.cwd, session: session(ctx) });
    if (!decision) return;
    record(turn, "fail", { provider, model, status: args.status }, decision);
    const error = decision.error ?? {};
    if (error.rotate === false) return; // not a rotating error: pi goes on as it would
    const retrying = state.retry.enabled && piWillRetry(message.errorMessage) && turn.piRetries < state.retry.maxRetries;
    if (retrying) turn.piRetries += 1;
    const failing = { provider, status: args.status };
    if (!decision.target) {
      // Nothing left on the route. When the turn had somewhere to go (it moved, or accounts were
      // skipped), pi's own retry would only hit a used-up account again: its error message becomes one
      // that says when to come back and that pi does not retry (and that `pi -p` prints). An account
      // alone on its route keeps pi's own retries, as without the extension.
      const alone = (decision.skipped ?? []).length === 0 && !turn.steps.some((s) => s.op === "fail" && s.target);
      const freesAt = decision.retryAfter ? Date.parse(decision.retryAfter) : Number.NaN;
      if (retrying && !alone && !(freesAt - Date.now() <= RETRY_WORTH_MS)) {
        message.errorMessage = exhaustedError(failing, decision, PI_RETRY_PATTERN);
        if (!ctx.hasUI) return;
      }
      if (!turn.exhaustedNoticed) say(failoverNotice(failing, decision), "warning");
      turn.exhaustedNoticed = true;
      return;
    }
    const resend = !retrying && ctx.hasUI && Boolean(turn.prompt);
    say(failoverNotice(failing, decision, Date.now(), !retrying && !resend), "info");
    if (state.closing) return; // `pi -p` is exiting: the cooldown is recorded, the next run starts elsewhere
    if (!(await switchTo(ctx, decision.target))) return;
    if (!resend) return; // pi's own auto-retry continues on the new model (or this mode cannot re-send)
    state.replay = { prompt: turn.prompt, turn };
    try {
      pi.sendUserMessage(turn.prompt, { deliverAs: "followUp" });
    } catch (error) {
      state.replay = null;
      say(`mp-policy: could not re-send the prompt: ${error.message ?? error}`, "warning");
    }
  };

  const onSuccess = async (ctx, message) => {
    const turn = state.turn;
    const captured = state.capture ? state.capture.takeSuccess() : null;
    if (!turn || !turn.id) return;
    const request = { turn: turn.id, provider: message.provider ?? ctx.model?.provider, cwd: ctx.cwd };
    if (captured && captured.headers) request.headers = captured.headers;
    await ask("succeed", request);
    record(turn, "succeed", { provider: request.provider });
    state.lastTurn = turn;
    state.turn = null;
  };

  // --- pi-multi-pass ------------------------------------------------------------------------------

  const multiPass = () => {
    let commands = [];
    try {
      commands = pi.getCommands();
    } catch {
      return null;
    }
    // The names of pi-multi-pass's commands that each other extension registers, by where it comes from.
    const names = new Map();
    for (const c of commands) {
      if (c.source !== "extension" || !MULTI_PASS_COMMANDS.includes(c.name.split(":")[0])) continue;
      const path = c.sourceInfo?.path ?? c.sourceInfo?.source ?? "?";
      names.set(path, (names.get(path) ?? new Set()).add(c.name));
    }
    for (const [path, theirs] of names) {
      if (theirs.size >= 2 || /multi-?pass|multi-sub/i.test(path)) return path;
    }
    return null;
  };

  // --- events -------------------------------------------------------------------------------------

  try {
    registerFromAuth(); // an error here must never keep pi from starting
  } catch (error) {
    once("register", `mp-policy: could not register the extra accounts of auth.json: ${error.message ?? error}`);
  }

  pi.on("session_start", async (event, ctx) => {
    state.ctx = ctx;
    state.retry = retrySettings(globalSettings, readJson(join(ctx.cwd, ".pi", "settings.json")));
    if (state.routeError) once("route", `mp-policy: ${state.routeError}; routing from the current model's provider.`);
    if (socket && idleExit.problem) once("idle-exit", `mp-policy: ${idleExit.problem}.`);
    const other = multiPass();
    if (other) {
      state.disabled = "pi-multi-pass is loaded too";
      once("multi-pass", `mp-policy: pi-multi-pass is loaded too (${other}); mp-policy does not route, so that prompts are not routed twice. Remove one of them (\`pi remove\` or \`mp-policy pi uninstall\`).`);
      return;
    }
    if (!state.capture) {
      state.capture = captureFetch((url) => {
        const base = state.ctx?.model?.baseUrl;
        return typeof base === "string" && base !== "" ? url.startsWith(base.replace(/\/+$/, "")) : true;
      });
    }
    state.hello = (async () => {
      const result = await ask("hello", { protocol: PROTOCOL, cwd: ctx.cwd, agent: "pi", session: session(ctx) });
      if (!result) return null;
      if (result.protocol !== PROTOCOL) {
        state.disabled = `the engine speaks protocol ${result.protocol}, this extension ${PROTOCOL}`;
        once("protocol", `mp-policy: ${state.disabled}; pi goes on without routing (update mp-policy and run \`mp-policy pi install\`).`);
        return null;
      }
      state.accounts = new Set((Array.isArray(result.accounts) ? result.accounts : []).map((a) => a && a.provider));
      await registerAccounts(ctx, result.accounts);
      return result;
    })();
  });

  pi.on("session_shutdown", async () => {
    // In `pi -p` the runtime shuts down while an `agent_end` handler may still wait for its answer:
    // let the engine answer (and record the failure) before stopping it.
    state.closing = true;
    await state.client?.drain();
    state.capture?.restore();
    state.capture = undefined;
    state.client?.stop();
    state.client = undefined;
  });

  pi.on("before_agent_start", async (event, ctx) => {
    state.ctx = ctx;
    state.lastPrompt = event.prompt;
    if (state.disabled) return;
    if (state.replay && state.replay.prompt === event.prompt) {
      state.turn = state.replay.turn; // the re-sent prompt: the same turn goes on
      state.replay = null;
      return;
    }
    state.capture?.reset();
    await state.hello;
    if (state.disabled) return;
    const request = selectRequest(state.route, ctx.model);
    if (state.turn && state.turn.steps.length > 0) state.lastTurn = state.turn;
    state.turn = newTurn(event.prompt, Boolean(request) && (request.provider === undefined || routes(request.provider)));
    if (!state.turn.routed) return;
    const prompt = typeof event.prompt === "string" ? event.prompt.slice(0, PROMPT_LIMIT) : undefined;
    const decision = await ask("select", { ...request, prompt, cwd: ctx.cwd, session: session(ctx) });
    if (!decision) return;
    record(state.turn, "select", request, decision);
    if (!decision.target) {
      // Cooling down: say until when. Nothing predictable (no credentials the engine can see): pi tries.
      if (decision.retryAfter) say(noTargetNotice(decision), "warning");
      return;
    }
    await switchTo(ctx, decision.target);
  });

  pi.on("message_start", async (event) => {
    // A re-sent prompt delivered as a follow-up inside the running agent: the same turn goes on.
    const message = event.message;
    if (!state.replay || !message || message.role !== "user") return;
    const text = typeof message.content === "string"
      ? message.content
      : (message.content ?? []).filter((p) => p.type === "text").map((p) => p.text).join("");
    if (text === state.replay.prompt) {
      state.turn = state.replay.turn;
      state.replay = null;
    }
  });

  pi.on("message_end", async (event) => {
    // pi counts its retries from the last good assistant message on; so does the turn.
    const message = event.message;
    if (message && message.role === "assistant" && message.stopReason !== "error" && state.turn) state.turn.piRetries = 0;
  });

  pi.on("agent_end", async (event, ctx) => {
    state.ctx = ctx;
    if (state.disabled) return;
    const message = lastAssistant(event.messages);
    if (!message) return;
    if (message.stopReason === "error" && message.errorMessage) {
      await onFailure(ctx, message);
    } else if (message.stopReason !== "aborted") {
      await onSuccess(ctx, message);
    }
  });

  pi.on("model_select", async (event, ctx) => {
    state.ctx = ctx;
    if (state.disabled || state.switching || event.source === "restore") return;
    const model = event.model;
    if (!model) return;
    // The project allow-list: `status` says whether this project allows the new model's provider.
    await state.hello;
    const status = await ask("status", { cwd: ctx.cwd, session: session(ctx) });
    const account = (status?.accounts ?? []).find((a) => a.provider === model.provider);
    if (!account || account.allowed !== false) return;
    // The engine walks from the refused provider to an allowed one (its pool siblings, its chain).
    const decision = await ask("select", { provider: model.provider, model: model.id, cwd: ctx.cwd, session: session(ctx) });
    if (decision && decision.turn) await ask("succeed", { turn: decision.turn, provider: model.provider, cwd: ctx.cwd });
    const previous = event.previousModel;
    const back = decision?.target ?? (previous ? { provider: previous.provider, model: previous.id } : null);
    if (!back) {
      say(`mp-policy: this project does not allow ${model.provider}, and no allowed account can serve ${model.id}.`, "warning");
      return;
    }
    say(`mp-policy: this project does not allow ${model.provider}; switching to ${describeTarget(back)}.`, "warning");
    await switchTo(ctx, back);
  });

  pi.registerCommand("mp", {
    description: "mp-policy: status (/mp), the last turn's cascade (/mp why), this session's route (/mp route KIND:NAME)",
    getArgumentCompletions: (prefix) => {
      const items = ["why", "route", "status"].filter((v) => v.startsWith(prefix)).map((v) => ({ value: v, label: v }));
      return items.length > 0 ? items : null;
    },
    handler: async (args, ctx) => {
      state.ctx = ctx;
      const [sub, ...rest] = String(args ?? "").trim().split(/\s+/);
      // Without a UI (-p, --mode json) pi keeps stdout for the answer or its event stream: stderr.
      const show = (text) => say(text, "info", ctx);
      if (sub === "why") {
        const turn = state.turn && state.turn.steps.length > 0 ? state.turn : state.lastTurn;
        // The engine's record has every skip with its reason; a turn it no longer knows falls back to ours.
        const answer = turn && turn.id && !state.disabled ? await engine().request("explain", { turn: turn.id, cwd: ctx.cwd }) : null;
        const explained = answer && answer.ok ? answer.result : null;
        const shown = explained && Array.isArray(explained.steps) && explained.steps.length > 0
          ? { ...explained, prompt: turn.prompt }
          : turn && { turn: turn.id, prompt: turn.prompt, steps: turn.steps, source: "session" };
        show(formatWhy(shown));
        return;
      }
      if (sub === "route") {
        try {
          state.route = parseRoute(rest.join(" "));
          state.routeError = null;
          show(`mp-policy: this session routes from ${describeRoute(selectRequest(state.route, ctx.model))}.`);
        } catch (error) {
          show(`mp-policy: ${error.message}. Examples: /mp route chain:main, /mp route pool:claude, /mp route model`);
        }
        return;
      }
      if (sub && sub !== "status") {
        show("mp-policy: /mp (status), /mp why (the last turn), /mp route KIND:NAME (chain, pool, preset, provider; model = the current model's provider)");
        return;
      }
      await state.hello;
      const status = state.disabled ? null : await ask("status", { cwd: ctx.cwd });
      show(formatStatus({
        engine: engine().describe(),
        route: selectRequest(state.route, ctx.model),
        model: ctx.model,
        status,
        disabledReason: state.disabled,
      }));
    },
  });
}
