// What a failed pi turn tells the engine: the failing response (status, headers, body) when the
// fetch wrapper captured it, else what pi's error message says ("429 {...json body...}").
// Pure functions: no pi, no I/O (unit-tested with `node --test`).

/** pi 0.73.1's own auto-retry pattern (AgentSession._isRetryableError): errors pi retries by itself. */
export const PI_RETRY_PATTERN =
  /overloaded|provider.?returned.?error|rate.?limit|too many requests|429|500|502|503|504|service.?unavailable|server.?error|internal.?error|network.?error|connection.?error|connection.?refused|connection.?lost|websocket.?closed|websocket.?error|other side closed|fetch failed|upstream.?connect|reset before headers|socket hang up|ended without|http2 request did not get a response|timed? out|timeout|terminated|retry delay/i;

/** Whether pi's own auto-retry will run after this error message (when retries are enabled and left). */
export function piWillRetry(errorMessage) {
  return typeof errorMessage === "string" && errorMessage !== "" && PI_RETRY_PATTERN.test(errorMessage);
}

/**
 * Split pi's error message into its leading HTTP status and the JSON body after it.
 * "429 {\"type\":\"error\",...}" -> {status: 429, body: {...}}; "Cloud Code Assist API error (429): ..." ->
 * {status: 429}; anything else -> {status: null, body: null}.
 */
export function parseErrorMessage(errorMessage) {
  const text = typeof errorMessage === "string" ? errorMessage.trim() : "";
  let status = null;
  let rest = text;
  const leading = /^(\d{3})(?:\s|:|$)/.exec(text);
  if (leading) {
    status = Number(leading[1]);
    rest = text.slice(leading[0].length).trim();
  } else {
    const inner = /\berror \((\d{3})\)/i.exec(text) || /\bstatus(?: code)?[ :=]+(\d{3})\b/i.exec(text);
    if (inner) status = Number(inner[1]);
  }
  if (status !== null && (status < 100 || status > 599)) status = null;
  let body = null;
  const start = rest.indexOf("{");
  if (start !== -1) {
    try {
      const parsed = JSON.parse(rest.slice(start));
      if (parsed && typeof parsed === "object") body = parsed;
    } catch {
      body = null;
    }
  }
  return { status, body };
}

/** The structured error type a provider body names (Anthropic/OpenAI `error.type`, Google `error.status`). */
export function errorType(body) {
  if (!body || typeof body !== "object") return undefined;
  const error = body.error && typeof body.error === "object" ? body.error : body;
  for (const key of ["type", "status", "code"]) {
    if (typeof error[key] === "string" && error[key]) return error[key];
  }
  return undefined;
}

/**
 * The arguments of the engine's `fail` op for a failed turn (`args`), and where the status came from
 * (`source`: "response", "message" or "none"). `captured` is what the fetch wrapper saw
 * ({status, headers, body}) or null; the error message fills in what it could not capture.
 */
export function failureDetails(errorMessage, captured) {
  const parsed = parseErrorMessage(errorMessage);
  const status = captured && Number.isInteger(captured.status) ? captured.status : parsed.status;
  const body = captured && captured.body != null ? captured.body : parsed.body;
  const args = { message: typeof errorMessage === "string" ? errorMessage : "" };
  const known = status !== null && status !== undefined;
  if (known) args.status = status;
  if (captured && captured.headers && Object.keys(captured.headers).length > 0) args.headers = captured.headers;
  if (body !== null && body !== undefined) args.body = body;
  const type = errorType(typeof body === "object" ? body : null);
  if (type) args.type = type;
  return { args, source: captured ? "response" : known ? "message" : "none" };
}

/** The last assistant message of an `agent_end` event, or undefined. */
export function lastAssistant(messages) {
  if (!Array.isArray(messages)) return undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i] && messages[i].role === "assistant") return messages[i];
  }
  return undefined;
}
