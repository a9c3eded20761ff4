// What a failed turn tells the engine: the captured response first, pi's error message as the fallback.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  errorType,
  failureDetails,
  lastAssistant,
  parseErrorMessage,
  piWillRetry,
} from "../../../../policy_engine/integrations/pi/errors.js";

const ANTHROPIC_429 = '429 {"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}';
const EXTRA_USAGE = '400 {"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra usage."}}';

test("the leading status and the JSON body of pi's error message", () => {
  assert.deepEqual(parseErrorMessage(ANTHROPIC_429), {
    status: 429,
    body: { type: "error", error: { type: "rate_limit_error", message: "Rate limit reached" } },
  });
  assert.equal(parseErrorMessage(EXTRA_USAGE).status, 400);
  assert.deepEqual(parseErrorMessage("Cloud Code Assist API error (429): RESOURCE_EXHAUSTED"), { status: 429, body: null });
  assert.deepEqual(parseErrorMessage("503 Service Unavailable"), { status: 503, body: null });
});

test("messages without a status give none", () => {
  for (const text of [
    "You have hit your ChatGPT usage limit (plus plan). Try again in ~42 min.",
    "request_id req_4290abc failed",
    "fetch failed",
    "",
    undefined,
    "1234 tokens",
    "999 weird",
  ]) {
    assert.equal(parseErrorMessage(text).status, null, String(text));
  }
});

test("a broken JSON body is left out, not guessed", () => {
  assert.deepEqual(parseErrorMessage('429 {"type": "error", '), { status: 429, body: null });
});

test("pi retries 429s, overloads and 5xx, not a 400 quota error", () => {
  assert.equal(piWillRetry(ANTHROPIC_429), true);
  assert.equal(piWillRetry('529 {"type":"error","error":{"type":"overloaded_error"}}'), true);
  assert.equal(piWillRetry("503 Service Unavailable"), true);
  assert.equal(piWillRetry(EXTRA_USAGE), false);
  assert.equal(piWillRetry("401 authentication_error"), false);
  assert.equal(piWillRetry(""), false);
  assert.equal(piWillRetry(undefined), false);
});

test("the captured response wins over the error message", () => {
  const captured = {
    status: 429,
    headers: { "retry-after": "600", "anthropic-ratelimit-requests-remaining": "0" },
    body: { type: "error", error: { type: "rate_limit_error", message: "from the wire" } },
  };
  const { args, source } = failureDetails('429 {"type":"error","error":{"type":"other"}}', captured);
  assert.equal(source, "response");
  assert.equal(args.status, 429);
  assert.deepEqual(args.headers, captured.headers);
  assert.equal(args.body.error.message, "from the wire");
  assert.equal(args.type, "rate_limit_error");
  assert.match(args.message, /^429/);
});

test("without a capture, the status and body come from the message", () => {
  const { args, source } = failureDetails(EXTRA_USAGE, null);
  assert.equal(source, "message");
  assert.equal(args.status, 400);
  assert.equal(args.type, "invalid_request_error");
  assert.equal(args.headers, undefined);
  assert.equal(args.message, EXTRA_USAGE);
});

test("a message with nothing to parse sends the message alone", () => {
  const { args, source } = failureDetails("fetch failed", null);
  assert.equal(source, "none");
  assert.deepEqual(args, { message: "fetch failed" });
});

test("a captured body that is text (not JSON) is passed as text", () => {
  const { args } = failureDetails("502 Bad Gateway", { status: 502, headers: {}, body: "<html>bad gateway</html>" });
  assert.equal(args.body, "<html>bad gateway</html>");
  assert.equal(args.headers, undefined, "no headers: none sent");
  assert.equal(args.type, undefined);
});

test("structured error types of the provider families", () => {
  assert.equal(errorType({ error: { type: "rate_limit_error" } }), "rate_limit_error");
  assert.equal(errorType({ error: { code: 429, status: "RESOURCE_EXHAUSTED" } }), "RESOURCE_EXHAUSTED");
  assert.equal(errorType({ error: { code: "usage_limit_reached" } }), "usage_limit_reached");
  assert.equal(errorType(null), undefined);
  assert.equal(errorType("text"), undefined);
});

test("the last assistant message of an agent_end", () => {
  const messages = [{ role: "user" }, { role: "assistant", stopReason: "error" }, { role: "toolResult" }];
  assert.equal(lastAssistant(messages), messages[1]);
  assert.equal(lastAssistant([{ role: "user" }]), undefined);
  assert.equal(lastAssistant(undefined), undefined);
});
