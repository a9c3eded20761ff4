// The fetch wrapper against a real local HTTP server: failing status, headers and body; success headers.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { captureFetch, plainHeaders } from "../../../../policy_engine/integrations/pi/fetch-capture.js";

let server;
let base;

before(async () => {
  server = createServer((request, response) => {
    if (request.url === "/v1/limited") {
      response.writeHead(429, { "content-type": "application/json", "retry-after": "600", "set-cookie": "session=secret" });
      response.end(JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }));
    } else if (request.url === "/v1/html") {
      response.writeHead(502, { "content-type": "text/html" });
      response.end("<html>bad gateway</html>");
    } else if (request.url === "/v1/big") {
      response.writeHead(500, { "content-type": "text/plain" });
      response.end("x".repeat(200 * 1024));
    } else {
      response.writeHead(200, { "content-type": "text/event-stream", "anthropic-ratelimit-unified-5h-utilization": "0.25" });
      response.end("event: message_stop\ndata: {}\n\n");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

test("a failing provider response: status, headers (no cookies) and JSON body; the caller still reads it", async () => {
  const capture = captureFetch((url) => url.startsWith(`${base}/v1/`));
  try {
    const response = await fetch(`${base}/v1/limited`, { method: "POST", body: "{}" });
    assert.equal(response.status, 429);
    assert.equal((await response.json()).error.message, "slow down", "the SDK's own read is untouched");
    const failure = await capture.takeFailure();
    assert.equal(failure.status, 429);
    assert.equal(failure.headers["retry-after"], "600");
    assert.equal(failure.headers["set-cookie"], undefined);
    assert.deepEqual(failure.body, { type: "error", error: { type: "rate_limit_error", message: "slow down" } });
    assert.equal(await capture.takeFailure(), null, "taken once");
  } finally {
    capture.restore();
  }
});

test("a body that is not JSON is kept as text; a big one is cut at 64 KiB", async () => {
  const capture = captureFetch(() => true);
  try {
    await (await fetch(`${base}/v1/html`)).text();
    assert.equal((await capture.takeFailure()).body, "<html>bad gateway</html>");
    await (await fetch(`${base}/v1/big`)).text();
    assert.equal((await capture.takeFailure()).body.length, 64 * 1024);
  } finally {
    capture.restore();
  }
});

test("a successful response leaves its headers (quota) and no failure", async () => {
  const capture = captureFetch(() => true);
  try {
    const response = await fetch(`${base}/v1/messages`, { method: "POST" });
    assert.match(await response.text(), /message_stop/);
    const success = capture.takeSuccess();
    assert.equal(success.status, 200);
    assert.equal(success.headers["anthropic-ratelimit-unified-5h-utilization"], "0.25");
    assert.equal(await capture.takeFailure(), null);
    assert.equal(capture.takeSuccess(), null);
  } finally {
    capture.restore();
  }
});

test("requests to other places are not watched, and restore puts fetch back", async () => {
  const original = globalThis.fetch;
  const capture = captureFetch((url) => url.startsWith("http://provider.invalid/"));
  assert.notEqual(globalThis.fetch, original);
  await (await fetch(`${base}/v1/limited`)).text();
  assert.equal(await capture.takeFailure(), null);
  capture.restore();
  assert.equal(globalThis.fetch, original);
});

test("a throwing filter never breaks the request", async () => {
  const capture = captureFetch(() => {
    throw new Error("bug");
  });
  try {
    const response = await fetch(`${base}/v1/messages`);
    assert.equal(response.status, 200);
  } finally {
    capture.restore();
  }
});

test("reset forgets what was captured", async () => {
  const capture = captureFetch(() => true);
  try {
    await (await fetch(`${base}/v1/limited`)).text();
    capture.reset();
    assert.equal(await capture.takeFailure(), null);
  } finally {
    capture.restore();
  }
});

test("plain headers from Headers and from objects", () => {
  assert.deepEqual(plainHeaders(new Headers({ "Retry-After": "5", Cookie: "x" })), { "retry-after": "5" });
  assert.deepEqual(plainHeaders({ "X-A": ["1", "2"], Authorization: "Bearer t" }), { "x-a": "1, 2" });
  assert.deepEqual(plainHeaders(undefined), {});
});
