"""A fake LLM provider on loopback that speaks the OpenAI chat completions and Anthropic Messages APIs.

The tests of :mod:`policy_engine.engine.attempts`, the error adapters and the LiteLLM plugin point the real
``openai`` / ``anthropic`` SDKs and a real ``litellm.Router`` at this server, and the README's demo of
``examples/openai_failover.py`` runs against it::

    python -m tests.integrations.fake_llm_server --port 8765 \\
        --script sk-first=rate-limit:120 --script sk-second=ok

What it does:

- ``POST …/chat/completions`` answers in the OpenAI dialect (key from ``Authorization: Bearer``),
  ``POST …/messages`` in the Anthropic dialect (key from ``x-api-key``, or the bearer token the
  ``anthropic`` 2.x SDK sends); any path prefix works, so a base URL with or without ``/v1`` does too.
- Replies are scripted per API key (:meth:`FakeLLMServer.script`): each request of that key takes the
  next scripted reply, and the last one keeps answering once the script is used up. A key with no
  script gets the 401 of an unknown key, as the real APIs answer.
- A reply is a :class:`Scripted` kind rendered in the request's dialect, with the headers the real
  providers send: ``ok``, ``rate-limit`` (429 with ``retry-after`` and the provider's rate-limit
  headers), ``overloaded`` (529), ``unavailable`` (503), ``quota`` (400 whose text says the credit or
  quota is used up), ``bad-request`` (a plain 400), ``unauthorized`` (401) and ``drop`` (the
  connection is closed without an answer).
- Every request is recorded in arrival order (:attr:`FakeLLMServer.requests`), with the API key, the
  dialect and the model it asked for, so a test can assert exactly which requests were made; the
  command line also prints one line per request as it answers it.

Standard library only, on the suite's :class:`~loopback_http.LoopbackServer` (``tests/loopback_http.py``):
:meth:`FakeLLMServer.stop` closes open keep-alive connections and joins every thread, so nothing is
left running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast

_TESTS = str(Path(__file__).resolve().parents[1])  # the suite's shared helpers (loopback_http)
if _TESTS not in sys.path:  # run as ``python -m tests.integrations.fake_llm_server``
    sys.path.insert(0, _TESTS)

from loopback_http import LoopbackServer  # noqa: E402 - found through the sys.path line above

__all__ = ["KINDS", "FakeLLMServer", "Received", "Scripted", "parse_reply"]

#: The reply kinds, by the name the command line and :func:`parse_reply` use.
KINDS = ("ok", "rate-limit", "overloaded", "unavailable", "quota", "bad-request", "unauthorized", "drop")


@dataclass(frozen=True)
class Received:
    """One request the server received: its dialect (``openai`` / ``anthropic``), API key, path and JSON body."""

    dialect: str
    key: str | None
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        """The model the request asked for."""
        value = self.body.get("model")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Scripted:
    """One scripted reply: a kind of :data:`KINDS`, rendered in the dialect of the request it answers.

    ``retry_after`` (seconds) is sent as ``retry-after`` on a ``rate-limit``; ``reset_in`` (seconds,
    default ``retry_after``) goes into the provider's rate-limit reset headers; ``headers`` are added
    to any reply; ``text`` replaces the assistant's answer of an ``ok``.
    """

    kind: str
    retry_after: int | None = None
    reset_in: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = "Hello from the fake provider."

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reply kind {self.kind!r}; known: {', '.join(KINDS)}")


def parse_reply(text: str) -> Scripted:
    """A reply from its command-line form: ``KIND`` or ``rate-limit:SECONDS`` (e.g. ``rate-limit:120``)."""
    kind, _, argument = text.strip().partition(":")
    if kind == "rate-limit" and argument:
        return Scripted(kind, retry_after=int(argument))
    if argument:
        raise ValueError(f"only rate-limit takes an argument (seconds), got {text!r}")
    return Scripted(kind)


# -- rendering -------------------------------------------------------------------------------------


def _openai_error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_fake"}


def _reset_text(seconds: int) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` form: ``1m30s``, ``20s``."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _render(reply: Scripted, dialect: str, model: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body of ``reply`` in ``dialect``."""
    headers: dict[str, str] = {}
    kind = reply.kind
    if kind == "ok":
        if dialect == "openai":
            headers.update({"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
                            "x-ratelimit-reset-requests": "120ms"})
            body: dict[str, Any] = {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": reply.text, "refusal": None}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        else:
            reset = int(time.time()) + 3600
            headers.update({"anthropic-ratelimit-unified-status": "allowed",
                            "anthropic-ratelimit-unified-5h-utilization": "0.25",
                            "anthropic-ratelimit-unified-5h-reset": str(reset),
                            "anthropic-ratelimit-unified-7d-utilization": "0.5",
                            "anthropic-ratelimit-unified-7d-reset": str(reset + 86400)})
            body = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": reply.text}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 7}}
        return 200, headers | reply.headers, body
    if kind == "rate-limit":
        retry = reply.retry_after if reply.retry_after is not None else 30
        reset = reply.reset_in if reply.reset_in is not None else retry
        headers["retry-after"] = str(retry)
        if dialect == "openai":
            headers.update({"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
                            "x-ratelimit-reset-requests": _reset_text(reset)})
            body = _openai_error("Rate limit reached for requests. Please try again later.", "requests",
                                 "rate_limit_exceeded")
        else:
            at = (datetime.now(UTC) + timedelta(seconds=reset)).replace(microsecond=0)
            headers.update({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
                            "anthropic-ratelimit-requests-reset": at.isoformat().replace("+00:00", "Z")})
            body = _anthropic_error("rate_limit_error", "This request would exceed the rate limit for your "
                                    "organization. Please reduce the prompt length or try again later.")
        return 429, headers | reply.headers, body
    if kind == "overloaded":
        if dialect == "openai":
            return 529, dict(reply.headers), _openai_error("The server is overloaded.", "server_error", None)
        return 529, dict(reply.headers), _anthropic_error("overloaded_error", "Overloaded")
    if kind == "unavailable":
        if dialect == "openai":
            return 503, dict(reply.headers), _openai_error("The engine is currently overloaded, please try again "
                                                           "later.", "server_error", None)
        return 503, dict(reply.headers), _anthropic_error("api_error", "Service Unavailable")
    if kind == "quota":
        if dialect == "openai":
            return 400, dict(reply.headers), _openai_error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota", "insufficient_quota")
        return 400, dict(reply.headers), _anthropic_error(
            "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to "
            "Plans & Billing to upgrade or purchase credits.")
    if kind == "bad-request":
        if dialect == "openai":
            return 400, dict(reply.headers), _openai_error("Invalid value for 'temperature': must be at most 2.",
                                                           "invalid_request_error", "invalid_value")
        return 400, dict(reply.headers), _anthropic_error("invalid_request_error",
                                                          "temperature: must be less than or equal to 1")
    # unauthorized
    if dialect == "openai":
        return 401, dict(reply.headers), _openai_error("Incorrect API key provided.", "invalid_request_error",
                                                       "invalid_api_key")
    return 401, dict(reply.headers), _anthropic_error("authentication_error", "invalid x-api-key")


# -- the server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Records each request, then answers it with the next scripted reply of its API key."""

    protocol_version = "HTTP/1.1"
    server_version = "mp-policy-fake-llm/1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_POST(self) -> None:
        """Answer a chat completions or Messages request."""
        owner = cast("FakeLLMServer", self.server.owner)  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = self.path.split("?", 1)[0]
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if path.endswith("/chat/completions"):
            dialect, key = "openai", bearer
        elif path.endswith("/messages"):
            dialect, key = "anthropic", headers.get("x-api-key") or bearer  # anthropic 2.x sends a bearer token
        else:
            self._send(404, {}, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        received = Received(dialect, key, path, headers, body if isinstance(body, dict) else {})
        reply = owner._take(received)
        rendered = None if reply.kind == "drop" else _render(reply, dialect, received.model)
        if owner.log is not None:
            owner.log(f"POST {path} key={key} model={received.model} -> "
                      f"{'dropped' if rendered is None else rendered[0]}")
        if rendered is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(*rendered)

    def _send(self, status: int, headers: dict[str, str], document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeLLMServer(LoopbackServer):
    """A threaded HTTP/1.1 fake provider on 127.0.0.1 (a free port unless one is given).

    Example::

        with FakeLLMServer() as server:
            server.script("sk-a", Scripted("rate-limit", retry_after=120))
            server.script("sk-b", Scripted("ok"))
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-a", max_retries=0)
    """

    handler = _Handler
    name = "fake-llm-server"

    def __init__(self, port: int = 0, *, log: Callable[[str], None] | None = None) -> None:
        super().__init__(port)
        self.log = log
        """Called with one line per answered request (``POST /v1/chat/completions key=… model=… -> 429``)."""
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Scripted]] = {}

    def script(self, key: str, *replies: Scripted | str) -> None:
        """Answer the requests of API key ``key`` with ``replies`` in order (the last one repeats).

        A reply may be given in its command-line form (``"ok"``, ``"rate-limit:120"``).
        """
        if not replies:
            raise ValueError("script needs at least one reply")
        with self.lock:
            self._scripts[key] = [parse_reply(r) if isinstance(r, str) else r for r in replies]

    def reset(self) -> None:
        """Forget every script, recorded request and recorded error."""
        with self.lock:
            self._scripts.clear()
            self.requests.clear()
            self.errors.clear()

    def keys(self) -> list[str | None]:
        """The API keys of the recorded requests, in arrival order."""
        with self.lock:
            return [r.key for r in self.requests]

    def _take(self, received: Received) -> Scripted:
        with self.lock:
            self.requests.append(received)
            script = self._scripts.get(received.key or "")
            if not script:
                return Scripted("unauthorized")
            return script.pop(0) if len(script) > 1 else script[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted: ``--script KEY=REPLY[,REPLY...]`` (repeatable), ``--port N``."""
    parser = argparse.ArgumentParser(prog="fake_llm_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--script", action="append", default=[], metavar="KEY=REPLY[,REPLY...]",
                        help=f"replies for one API key, in order; kinds: {', '.join(KINDS)} "
                             "(rate-limit:SECONDS sets retry-after)")
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.port, log=lambda line: print(line, flush=True))
    try:
        for item in args.script:
            key, sep, replies = item.partition("=")
            if not sep or not key or not replies:
                parser.error(f"--script wants KEY=REPLY[,REPLY...], got {item!r}")
            server.script(key, *(parse_reply(r) for r in replies.split(",")))
    except ValueError as exc:
        parser.error(str(exc))
    server.start()
    print(f"fake LLM server on {server.url} (OpenAI base URL {server.url}/v1); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
