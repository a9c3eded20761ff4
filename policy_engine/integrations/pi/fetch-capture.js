// A wrapper around globalThis.fetch that remembers, for provider requests, the failing response's
// status, headers and JSON body, and the successful response's headers (quota headers). pi gives an
// extension neither: `after_provider_response` fires for 2xx only and `agent_end` carries just an error
// message. The wrapper never changes a request or a response; reading a failing body works on a
// clone, bounded in size and time. Depends on nothing but the fetch API (unit-tested with `node --test`).

const MAX_BODY_BYTES = 64 * 1024;
const BODY_TIMEOUT_MS = 1000;
// Response headers that are never passed on (they can carry session secrets).
const DROPPED_HEADERS = new Set(["set-cookie", "set-cookie2", "cookie", "authorization", "proxy-authorization"]);

/** A Headers object (or a plain mapping) as a plain object with lower-case names, without DROPPED_HEADERS. */
export function plainHeaders(headers) {
  const out = {};
  if (!headers) return out;
  const entries = typeof headers.entries === "function" ? headers.entries() : Object.entries(headers);
  for (const [name, value] of entries) {
    const key = String(name).toLowerCase();
    if (DROPPED_HEADERS.has(key)) continue;
    out[key] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

function requestUrl(input) {
  if (typeof input === "string") return input;
  if (input && typeof input.href === "string") return input.href;
  if (input && typeof input.url === "string") return input.url;
  return String(input);
}

async function readBody(response) {
  const reader = response.body?.getReader?.();
  if (!reader) return null;
  const chunks = [];
  let size = 0;
  const deadline = new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), BODY_TIMEOUT_MS);
    timer.unref?.();
  });
  try {
    while (size < MAX_BODY_BYTES) {
      const step = await Promise.race([reader.read(), deadline]);
      if (step === "timeout" || step.done) break;
      chunks.push(step.value);
      size += step.value.byteLength;
    }
  } catch {
    // a broken body: keep what arrived
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, MAX_BODY_BYTES));
  let offset = 0;
  for (const chunk of chunks) {
    const room = bytes.length - offset;
    if (room <= 0) break;
    bytes.set(chunk.subarray(0, room), offset);
    offset += Math.min(room, chunk.byteLength);
  }
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text.length > 0 ? text : null;
  }
}

/**
 * Wrap `target.fetch` (globalThis by default). `isProviderRequest(url, init)` picks the requests to
 * watch. Returns {restore(), takeFailure(): Promise<{status, headers, body, url}|null>, takeSuccess():
 * {status, headers, url}|null, reset()}. The last response of each kind wins.
 */
export function captureFetch(isProviderRequest, target = globalThis) {
  const original = target.fetch;
  let failure = null;
  let success = null;
  const wrapped = async function fetchWithCapture(input, init) {
    const response = await original.call(this, input, init);
    let url;
    try {
      url = requestUrl(input);
      if (!isProviderRequest(url, init)) return response;
    } catch {
      return response;
    }
    try {
      const headers = plainHeaders(response.headers);
      if (response.ok) {
        success = { status: response.status, headers, url };
      } else {
        const copy = response.clone();
        failure = { status: response.status, headers, url, body: readBody(copy) };
      }
    } catch {
      // capturing must never break the request
    }
    return response;
  };
  target.fetch = wrapped;
  return {
    restore() {
      if (target.fetch === wrapped) target.fetch = original;
    },
    reset() {
      failure = null;
      success = null;
    },
    async takeFailure() {
      const taken = failure;
      failure = null;
      if (!taken) return null;
      return { ...taken, body: await taken.body };
    },
    takeSuccess() {
      const taken = success;
      success = null;
      return taken;
    },
  };
}
