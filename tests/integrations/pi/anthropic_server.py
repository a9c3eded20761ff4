"""A fake Anthropic Messages API on loopback that answers per credential, for running the real pi against.

pi's built-in ``anthropic`` provider is pointed here through ``models.json`` (``baseUrl``); every
account sends its own OAuth token (``authorization: Bearer sk-ant-oat01-...``), so the server tells
accounts apart by token and answers each from its own script:

- :meth:`AnthropicServer.script` queues replies for one token (used first to last); when a token's
  queue is empty it gets :func:`ok` (a streamed answer naming the account). An unknown token gets
  Anthropic's 401.
- Replies: :func:`ok` (``200``, Server-Sent Events as the Messages API streams them, with optional
  headers such as ``anthropic-ratelimit-unified-*``), :func:`rate_limited` (``429 rate_limit_error``
  with ``retry-after`` and ``anthropic-ratelimit-*`` headers), :func:`out_of_extra_usage` (the ``400``
  an exhausted Claude subscription gets).
- :attr:`AnthropicServer.requests` records every request in arrival order (path, account label,
  model, headers); :meth:`AnthropicServer.accounts` is the order in which accounts were asked.
- The server writes one line per request to its log file (its "stderr"); the line names the account
  by label, never by token, and a test checks that no token ever reaches it.

Standard library only, on the suite's :class:`~loopback_http.LoopbackServer` (``tests/loopback_http.py``, as
``tests/quota/provider_server.py`` and ``tests/integrations/fake_llm_server.py``): 127.0.0.1, a free port, and a
stop that closes open keep-alive connections and joins every thread.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast

_TESTS = str(Path(__file__).resolve().parents[2])  # the suite's shared helpers (loopback_http)
if _TESTS not in sys.path:  # imported from outside pytest (benchmarks/bench_pi.py, .ci/run)
    sys.path.insert(0, _TESTS)

from loopback_http import LoopbackServer  # noqa: E402 - found through the sys.path line above

__all__ = ["AnthropicServer", "Reply", "Seen", "ok", "out_of_extra_usage", "rate_limited"]


@dataclass
class Reply:
    """One scripted answer: a streamed text answer (``text``) or an error (``status`` with ``error``)."""

    status: int = 200
    text: str | None = None
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """One request the server received (header names lower-cased)."""

    method: str
    path: str
    account: str | None
    model: str | None
    headers: dict[str, str]
    body: dict[str, Any] | None
    status: int = 0

    @property
    def prompt(self) -> str | None:
        """The text of the last user message of a Messages request."""
        messages = (self.body or {}).get("messages") or []
        for message in reversed(messages):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            texts = [part.get("text", "") for part in content or [] if isinstance(part, dict)]
            return "".join(texts)
        return None


def ok(text: str | None = None, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
    """A ``200`` streamed answer (``text`` defaults to "answer from <account>")."""
    return Reply(status=200, text=text, headers=dict(headers or {}), delay=delay)


def rate_limited(retry_after: int = 30, message: str = "Number of request tokens has exceeded your rate limit.",
                 headers: dict[str, str] | None = None) -> Reply:
    """Anthropic's ``429 rate_limit_error`` with ``retry-after`` and the ``anthropic-ratelimit-*`` headers."""
    base = {
        "retry-after": str(retry_after),
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z",
        "x-should-retry": "true",
    }
    base.update(headers or {})
    return Reply(status=429, error={"type": "rate_limit_error", "message": message}, headers=base)


def out_of_extra_usage() -> Reply:
    """The ``400`` an exhausted Claude subscription gets ("You're out of extra usage"); pi does not retry it."""
    message = "You're out of extra usage. Add more at claude.ai/settings/usage and keep going."
    return Reply(status=400, error={"type": "invalid_request_error", "message": message},
                 headers={"x-should-retry": "false"})


def _sse(model: str, text: str) -> bytes:
    """The Messages API event stream of one text answer."""
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 7}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request log line (the owner writes its own)."""

    def _serve(self) -> None:
        owner = cast("AnthropicServer", self.server.owner)  # type: ignore[attr-defined]
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        token = _token(headers)
        seen = Seen(self.command, self.path.split("?", 1)[0], owner.label_of(token),
                    (body or {}).get("model") if isinstance(body, dict) else None, headers,
                    body if isinstance(body, dict) else None)
        reply = owner._next(token, seen)
        seen.status = reply.status
        owner._record(seen)
        if reply.delay > 0 and owner.stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.status == 200:
            text = reply.text if reply.text is not None else f"answer from {seen.account}"
            payload = _sse(seen.model or "unknown", text)
            content_type = "text/event-stream"
        else:
            payload = json.dumps({"type": "error", "error": reply.error or {}}).encode("utf-8")
            content_type = "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("request-id", f"req_fake_{len(owner.requests)}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve


def _token(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


class AnthropicServer(LoopbackServer):
    """The fake Messages API. ``tokens`` maps each OAuth token to the account label the records use.

    Example::

        with AnthropicServer({TOKEN_1: "anthropic", TOKEN_2: "anthropic-2"}, log=tmp / "server.log") as s:
            s.script(TOKEN_1, rate_limited(retry_after=600))
            ...  # run pi with models.json pointing the anthropic provider at s.url
            assert s.accounts() == ["anthropic", "anthropic-2"]
    """

    handler = _Handler
    name = "fake-anthropic"

    def __init__(self, tokens: dict[str, str], log: Path) -> None:
        super().__init__()
        self.tokens = dict(tokens)
        self.log = log
        self.requests: list[Seen] = []
        self._scripts: dict[str, list[Reply]] = {}

    def script(self, token: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``token`` (after any still queued)."""
        with self.lock:
            self._scripts.setdefault(token, []).extend(replies)

    def label_of(self, token: str | None) -> str | None:
        """The account label of ``token`` (``"unknown"`` for a token the server was not given)."""
        if token is None:
            return None
        return self.tokens.get(token, "unknown")

    def messages(self) -> list[Seen]:
        """The Messages API requests (``POST /v1/messages``), in arrival order."""
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    def accounts(self) -> list[str | None]:
        """The account of each Messages request, in arrival order."""
        return [r.account for r in self.messages()]

    def _next(self, token: str | None, seen: Seen) -> Reply:
        if token is None or token not in self.tokens:
            return Reply(status=401, error={"type": "authentication_error", "message": "invalid x-api-key"})
        if seen.path != "/v1/messages":
            return Reply(status=404, error={"type": "not_found_error", "message": f"no route {seen.path}"})
        with self.lock:
            queue = self._scripts.get(token) or []
            return queue.pop(0) if queue else ok()

    def _record(self, seen: Seen) -> None:
        with self.lock:
            self.requests.append(seen)
            line = f"{seen.method} {seen.path} account={seen.account} model={seen.model} status={seen.status}\n"
        with contextlib.suppress(OSError), self.log.open("a", encoding="utf-8") as handle:
            handle.write(line)

