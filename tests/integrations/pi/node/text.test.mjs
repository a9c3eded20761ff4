// Notices, /mp and /mp why: readable, and never holding a credential.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PI_RETRY_PATTERN } from "../../../../policy_engine/integrations/pi/errors.js";
import {
  describeRoute,
  exhaustedError,
  failoverNotice,
  formatIn,
  formatStatus,
  formatWhy,
  noTargetNotice,
  scrub,
  stepOf,
} from "../../../../policy_engine/integrations/pi/text.js";

const NOW = Date.parse("2026-11-24T10:30:00Z");

test("credential shapes are scrubbed", () => {
  const secrets = [
    "sk-ant-oat01-AbCdEf0123456789-xyz",
    "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA",
    "sk-proj-0123456789abcdefghij",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "ghu_0123456789abcdefghijABCD",
    "ya29.a0AfH6SMBxxxxxxxxxxxx",
    "AIzaSyA0123456789abcdefghijklmnop",
  ];
  for (const secret of secrets) {
    const text = scrub(`401 invalid x-api-key: ${secret} (retry)`);
    assert.ok(!text.includes(secret), `${secret} survived: ${text}`);
    assert.match(text, /\[redacted\]/);
    assert.match(text, /^401 invalid x-api-key: .* \(retry\)$/);
  }
});

test("authorization values and key=value secrets are scrubbed, the names kept", () => {
  assert.equal(scrub("Authorization: Bearer abcdefghijklmnopqrstu"), "Authorization: Bearer [redacted]");
  assert.equal(scrub('{"refresh_token": "r-0123456789abcdef"}'), '{"refresh_token": "[redacted]"}');
  assert.equal(scrub("api_key=zzzzzzzzzzzz&x=1"), "api_key=[redacted]&x=1");
});

test("explicit secrets are scrubbed whatever their shape", () => {
  assert.equal(scrub("token is hunter2-secret!", ["hunter2-secret"]), "token is [redacted]!");
});

test("ordinary text is left alone", () => {
  const text = "mp-policy: 429 rate_limit on anthropic-2; switching to anthropic/claude-sonnet-4-5 (pool claude).";
  assert.equal(scrub(text), text);
});

test("distances read like a person would say them", () => {
  assert.equal(formatIn("2026-11-24T10:29:00Z", NOW), "now");
  assert.equal(formatIn("2026-11-24T10:30:45Z", NOW), "in 45s");
  assert.equal(formatIn("2026-11-24T10:32:05Z", NOW), "in 2m05s");
  assert.equal(formatIn("2026-11-24T10:39:00Z", NOW), "in 9m");
  assert.equal(formatIn("2026-11-24T11:35:00Z", NOW), "in 1h05m");
  assert.equal(formatIn("2026-11-26T13:30:00Z", NOW), "in 2d3h");
  assert.equal(formatIn("not a date", NOW), "");
});

test("a failover notice names the failing account, the kind and the new target", () => {
  const decision = { target: { provider: "anthropic-2", model: "claude-sonnet-4-5", via: "pool", pool: "claude" }, error: { kind: "rate_limit" } };
  assert.equal(
    failoverNotice({ provider: "anthropic", status: 429 }, decision, NOW),
    "mp-policy: 429 rate_limit on anthropic; switching to anthropic-2/claude-sonnet-4-5 (pool claude).",
  );
  assert.match(failoverNotice({ provider: "anthropic", status: 400 }, decision, NOW, true), /the next prompt starts on anthropic-2\/claude-sonnet-4-5/);
});

test("with no target left, the notice says when the next account frees up", () => {
  const decision = { target: null, retryAfter: "2026-11-24T10:39:00Z", error: { kind: "rate_limit" } };
  assert.match(failoverNotice({ provider: "anthropic-2", status: 429 }, decision, NOW), /every account on the route is used up: the next account frees up at .* \(in 9m\)\./);
  assert.match(failoverNotice({ provider: "x" }, { target: null, retryAfter: null }, NOW), /nothing predictable frees one up/);
  assert.match(noTargetNotice({ target: null, retryAfter: "2026-11-24T10:39:00Z" }, NOW), /until .* \(in 9m\); pi keeps its current model/);
});

test("the error that replaces pi's retry never matches pi's retry pattern", () => {
  const cases = [
    [{ provider: "anthropic-2" }, { retryAfter: "2026-11-24T10:39:00Z" }],
    [{ provider: "anthropic-429" }, { retryAfter: "2026-11-24T15:00:00Z" }],
    [{ provider: "a-500" }, { retryAfter: null }],
  ];
  for (const [failing, decision] of cases) {
    const text = exhaustedError(failing, decision, PI_RETRY_PATTERN, NOW);
    assert.ok(!PI_RETRY_PATTERN.test(text), text);
    assert.match(text, /^mp-policy: every account on this route is used up/);
  }
  assert.match(exhaustedError({ provider: "anthropic-2" }, { retryAfter: "2026-11-24T10:39:00Z" }, PI_RETRY_PATTERN, NOW), /the last was anthropic-2\); the next account frees up at .*\(in 9m\)/);
});

test("/mp why shows each step with its skips and reasons", () => {
  const turn = {
    turn: "t-1",
    prompt: "say hi",
    source: "session",
    steps: [
      stepOf("select", { provider: "anthropic", model: "claude-sonnet-4-5" }, { target: { provider: "anthropic", model: "claude-sonnet-4-5" } }),
      stepOf("fail", { provider: "anthropic", status: 429 }, {
        target: { provider: "anthropic-2", model: "claude-sonnet-4-5" },
        error: { kind: "rate_limit", rotate: true, reason: "HTTP 429 with error.type rate_limit_error", retryAfter: "2026-11-24T10:40:00Z" },
        skipped: [{ provider: "anthropic-3", reason: "no-auth", detail: "no credentials in auth.json" }],
      }),
      stepOf("succeed", { provider: "anthropic-2" }, null),
    ],
  };
  const text = formatWhy(turn, NOW);
  assert.match(text, /^mp-policy: turn t-1 \(“say hi”\), from this session's record/);
  assert.match(text, /select provider anthropic \(claude-sonnet-4-5\) -> anthropic\/claude-sonnet-4-5/);
  assert.match(text, /fail 429 rate_limit on anthropic \(HTTP 429 with error.type rate_limit_error\) -> anthropic-2\/claude-sonnet-4-5/);
  assert.match(text, /the error asked to wait until .*\(in 10m\)/);
  assert.match(text, /anthropic-3 skipped \(no-auth\): no credentials in auth.json/);
  assert.match(text, /succeed on anthropic-2$/);
  assert.equal(formatWhy(null), "mp-policy: no turn yet in this session.");
});

test("/mp why reads the engine's explain answer the same way", () => {
  const explained = {
    turn: "t-2",
    source: "server",
    steps: [
      { op: "select", request: { chain: "main" }, target: null, error: null, skipped: [{ provider: "anthropic", reason: "cooldown", until: "2026-11-24T10:40:00Z" }], retryAfter: "2026-11-24T10:40:00Z" },
      { op: "fail", failing: "anthropic", request: { provider: "anthropic", status: 400 }, target: null, error: { kind: "quota_exhausted", rotate: false }, skipped: [], retryAfter: null },
    ],
  };
  const text = formatWhy(explained, NOW);
  assert.match(text, /from the engine's record/);
  assert.match(text, /select chain main -> no target/);
  assert.match(text, /anthropic skipped \(cooldown until 2026-11-24T10:40:00Z\)/);
  assert.match(text, /no target; the next account frees up at .*\(in 10m\)/);
  assert.match(text, /fail 400 quota_exhausted on anthropic \(does not rotate\)/);
  // the engine answers from its decision trace (docs/trace.md): still the engine's record
  assert.match(formatWhy({ ...explained, source: "trace" }, NOW), /from the engine's record/);
});

test("/mp status lists the accounts with cooldowns and quota", () => {
  const text = formatStatus({
    engine: "running (pid 1)",
    route: { chain: "main" },
    model: { provider: "anthropic", id: "claude-sonnet-4-5" },
    status: {
      accounts: [
        { provider: "anthropic", label: null, loggedIn: true, cooldown: { until: "2026-11-24T10:40:00+00:00" }, quota: null },
        { provider: "anthropic-2", label: "work", loggedIn: true, cooldown: null, quota: { summary: "5h 42% | 7d 80%" } },
        { provider: "anthropic-3", loggedIn: false },
      ],
    },
  });
  assert.match(text, /^mp-policy: routing chain main/);
  assert.match(text, /model: anthropic\/claude-sonnet-4-5/);
  assert.match(text, /anthropic · cooling down until 2026-11-24T10:40:00\+00:00/);
  assert.match(text, /anthropic-2 · “work” · 5h 42% \| 7d 80%/);
  assert.match(text, /anthropic-3 · not logged in/);
  assert.doesNotMatch(text, /current turn/);
  // The engine's status names the session's current turn as {turn, target, attempted, ended, updatedAt}.
  const turn = { turn: "t-9", target: { provider: "anthropic-2", model: "claude-sonnet-4-5" }, attempted: ["anthropic"],
    ended: false, updatedAt: "2026-11-24T10:31:00+00:00" };
  const withTurn = formatStatus({ engine: "x", status: { accounts: [], turn } });
  assert.match(withTurn, /current turn: t-9$/);
  const ended = formatStatus({ engine: "x", status: { accounts: [], turn: { ...turn, target: null, ended: true } } });
  assert.match(ended, /current turn: t-9 \(ended\)$/);
  assert.match(formatStatus({ engine: "x", disabledReason: "pi-multi-pass is loaded too" }), /not routing \(pi-multi-pass is loaded too\)/);
});

test("routes are described by what they name", () => {
  assert.equal(describeRoute(null), "the current model's provider");
  assert.equal(describeRoute({ pool: "claude", model: "m" }), "pool claude (m)");
  assert.equal(describeRoute({ preset: "fast" }), "preset fast");
});
