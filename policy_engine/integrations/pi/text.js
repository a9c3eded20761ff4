// What the extension says: notices, `/mp` and `/mp why`, always scrubbed of credentials.
// Pure functions: no pi, no I/O (unit-tested with `node --test`).

// Token shapes that must never reach a notice, a log line or pi's output.
const SECRET_PATTERNS = [
  /\bsk-ant-[A-Za-z0-9_-]{6,}/g, // Anthropic API keys and OAuth tokens (sk-ant-oat01-..., sk-ant-api03-...)
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI-style keys
  /\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]+/g, // JWTs (Codex access tokens)
  /\bgh[oupsr]_[A-Za-z0-9]{16,}/g, // GitHub tokens
  /\bya29\.[A-Za-z0-9._-]{10,}/g, // Google OAuth access tokens
  /\b1\/\/[A-Za-z0-9._-]{20,}/g, // Google refresh tokens
  /\bAIza[A-Za-z0-9_-]{20,}/g, // Google API keys
  /\b(Bearer|token)\s+[A-Za-z0-9._~+/=-]{12,}/gi, // authorization values
  /\b(api[_-]?key|access[_-]?token|refresh[_-]?token|password|secret)(["']?\s*[:=]\s*["']?)[^\s"',}&;]{6,}/gi,
];

/** `text` with every credential-shaped string (and each of `secrets`) replaced by a redaction mark. */
export function scrub(text, secrets = []) {
  let out = String(text ?? "");
  for (const secret of secrets) {
    if (typeof secret === "string" && secret.length >= 6) out = out.split(secret).join("[redacted]");
  }
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match, ...groups) => {
      if (/^(Bearer|token)\s/i.test(match)) return `${groups[0]} [redacted]`;
      if (typeof groups[1] === "string" && /[:=]/.test(groups[1])) return `${groups[0]}${groups[1]}[redacted]`;
      return "[redacted]";
    });
  }
  return out;
}

/** "in 9m", "in 1h05m", "in 2d3h", "now" for an ISO instant relative to `now` (ms). */
export function formatIn(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "";
  let seconds = Math.round((at - now) / 1000);
  if (seconds <= 0) return "now";
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days > 0) return `in ${days}d${hours ? `${hours}h` : ""}`;
  if (hours > 0) return `in ${hours}h${String(minutes).padStart(2, "0")}m`;
  if (minutes > 0) return `in ${minutes}m${seconds && minutes < 5 ? `${String(seconds).padStart(2, "0")}s` : ""}`;
  return `in ${seconds}s`;
}

/** "14:05 (in 9m)": the local clock time of an ISO instant, with the distance from now. */
export function formatWhen(iso, now = Date.now()) {
  if (!iso) return "an unknown time";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return String(iso);
  const sameDay = new Date(now).toDateString() === at.toDateString();
  const clock = at.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  const day = sameDay ? "" : `${at.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })} `;
  return `${day}${clock} (${formatIn(iso, now)})`;
}

/** "anthropic-2/claude-sonnet-4-5" for a target or a pi model. */
export function describeTarget(target) {
  if (!target) return "no target";
  const provider = target.provider ?? "?";
  const model = target.model ?? target.id;
  return model ? `${provider}/${model}` : provider;
}

function describeSkip(skip) {
  const where = skip.provider ?? skip.pool ?? skip.chain ?? skip.preset ?? "?";
  const until = skip.until ? ` until ${skip.until}` : "";
  const detail = skip.detail ? `: ${skip.detail}` : "";
  return `${where} skipped (${skip.reason}${until})${detail}`;
}

/**
 * The notice after a failure moved the turn: "429 rate_limit on anthropic; switching to anthropic-2/…",
 * or with `later` (pi will not re-send the prompt): "...; the next prompt starts on anthropic-2/…".
 */
export function failoverNotice(failing, decision, now = Date.now(), later = false) {
  const error = decision.error ?? {};
  const kind = error.kind ?? "error";
  const status = failing.status ? `${failing.status} ` : "";
  const head = `mp-policy: ${status}${kind} on ${failing.provider}`;
  if (!decision.target) {
    const when = decision.retryAfter
      ? `the next account frees up at ${formatWhen(decision.retryAfter, now)}`
      : "no account on this route can serve it (nothing predictable frees one up)";
    return `${head}; every account on the route is used up: ${when}.`;
  }
  const via = decision.target.via ? ` (${decision.target.via}${decision.target.pool ? ` ${decision.target.pool}` : ""})` : "";
  const where = `${describeTarget(decision.target)}${via}`;
  return later ? `${head}; the next prompt starts on ${where} (pi does not re-send a prompt in this mode).`
    : `${head}; switching to ${where}.`;
}

/**
 * The error message pi shows instead of retrying an account the engine says is used up. It must not
 * match pi's retry pattern (`retryPattern`), so it names no status code; the failing error stays in
 * the session file and `/mp why`.
 */
export function exhaustedError(failing, decision, retryPattern, now = Date.now()) {
  const when = decision.retryAfter
    ? `the next account frees up at ${formatWhen(decision.retryAfter, now)}`
    : "nothing predictable frees one up";
  const candidates = [
    `mp-policy: every account on this route is used up (the last was ${failing.provider}); ${when}. /mp why shows each step.`,
    `mp-policy: every account on this route is used up; ${when}. /mp why shows each step.`,
    "mp-policy: every account on this route is used up. /mp why shows each step.",
  ];
  return candidates.find((text) => !retryPattern.test(text)) ?? candidates[2];
}

/** The notice when `select` finds no target for a new prompt. */
export function noTargetNotice(decision, now = Date.now()) {
  const when = decision.retryAfter ? `until ${formatWhen(decision.retryAfter, now)}` : "with no known end";
  return `mp-policy: no account on this route is available ${when}; pi keeps its current model.`;
}

/**
 * One step of a turn in the shape of the engine's `explain` answer: {op, request, failing, target,
 * error, skipped, retryAfter}, from a request and the Decision JSON the engine answered.
 */
export function stepOf(op, request, decision, failing) {
  const d = decision ?? {};
  return {
    op,
    request: request ?? {},
    failing: op === "fail" ? (failing ?? request?.provider ?? null) : undefined,
    target: d.target ?? null,
    error: d.error ?? null,
    skipped: Array.isArray(d.skipped) ? d.skipped : [],
    retryAfter: d.retryAfter ?? null,
  };
}

/**
 * `/mp why`: a turn's cascade, step by step, with every skip and its reason. `turn` is
 * {turn, prompt?, steps, source?}: the engine's `explain` answer, or the steps this session recorded.
 */
export function formatWhy(turn, now = Date.now()) {
  if (!turn || !Array.isArray(turn.steps) || turn.steps.length === 0) return "mp-policy: no turn yet in this session.";
  const source = ["server", "store", "trace"].includes(turn.source) ? "the engine's record" : "this session's record";
  const lines = [`mp-policy: turn ${turn.turn ?? "?"}${turn.prompt ? ` (“${truncate(turn.prompt, 60)}”)` : ""}, from ${source}`];
  for (const step of turn.steps) {
    const request = step.request ?? {};
    if (step.op === "succeed") {
      lines.push(`  succeed${request.provider ? ` on ${request.provider}` : ""}`);
      continue;
    }
    if (step.op === "select") {
      lines.push(`  select ${describeRoute(request)} -> ${describeTarget(step.target)}`);
    } else {
      const error = step.error ?? {};
      const status = request.status ? `${request.status} ` : "";
      const rotate = error.rotate === false ? ", does not rotate" : "";
      const reason = error.reason ? ` (${error.reason}${rotate})` : rotate ? ` (${rotate.slice(2)})` : "";
      lines.push(`  ${step.op} ${status}${error.kind ?? "error"} on ${step.failing ?? request.provider ?? "?"}${reason} -> ${describeTarget(step.target)}`);
      if (error.retryAfter) lines.push(`    the error asked to wait until ${formatWhen(error.retryAfter, now)}`);
    }
    for (const skip of step.skipped ?? []) lines.push(`    ${describeSkip(skip)}`);
    if (!step.target) {
      lines.push(`    no target; ${step.retryAfter ? `the next account frees up at ${formatWhen(step.retryAfter, now)}` : "nothing predictable frees one up"}`);
    }
  }
  return lines.join("\n");
}

/** `/mp`: where the extension stands and what the engine says about the accounts. */
export function formatStatus({ engine, route, model, status, disabledReason }) {
  const lines = [];
  lines.push(`mp-policy: ${disabledReason ? `not routing (${disabledReason})` : `routing ${describeRoute(route)}`}`);
  lines.push(`  model: ${model ? describeTarget({ provider: model.provider, model: model.id }) : "none"}`);
  lines.push(`  engine: ${engine}`);
  const accounts = status && Array.isArray(status.accounts) ? status.accounts : [];
  for (const account of accounts) {
    const parts = [account.provider];
    if (account.label) parts.push(`“${account.label}”`);
    if (account.loggedIn === false) parts.push("not logged in");
    if (account.cooldown && account.cooldown.until) parts.push(`cooling down until ${account.cooldown.until}`);
    const quota = account.quota;
    if (quota && typeof quota === "object") {
      const summary = quota.summary ?? (quota.remaining != null ? `${quota.remaining}% left` : null);
      if (summary) parts.push(summary);
    }
    lines.push(`  ${parts.join(" · ")}`);
  }
  const turn = status?.turn; // {turn, target, attempted, ended, updatedAt}
  if (turn && turn.turn) lines.push(`  current turn: ${turn.turn}${turn.ended ? " (ended)" : ""}`);
  return lines.join("\n");
}

/** "provider anthropic (claude-sonnet-4-5)", "chain main", ... for a select request or a route. */
export function describeRoute(route) {
  if (!route) return "the current model's provider";
  for (const key of ["chain", "preset", "pool", "provider"]) {
    if (route[key]) return `${key} ${route[key]}${route.model ? ` (${route.model})` : ""}`;
  }
  return "the current model's provider";
}

function truncate(text, length) {
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}
