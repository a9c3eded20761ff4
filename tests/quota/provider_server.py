"""A real local HTTP/1.1 server that speaks the quota endpoints of the five provider families.

Tests of the quota checkers and of ``mp-policy limits`` point the checkers at this server through
environment variables (:meth:`ProviderServer.env`) and register canned answers per route
(:meth:`ProviderServer.reply`). The happy-path answers come from :mod:`payloads`
(:meth:`ProviderServer.use_defaults`).

Design choices:

- Standard library only, on the suite's :class:`~loopback_http.LoopbackServer` (``tests/loopback_http.py``):
  one thread per connection, so a delayed reply never holds up another request, and keep-alive
  connections work like the real APIs.
- Routes match the method and the exact path (the query string is recorded, never matched). Among the
  replies registered for a route, one registered for the request's token wins over a generic one, and
  the most recently registered wins among equals; ``times`` makes a reply single-use (or n-use).
- A reply is a :class:`Reply` or a *responder*: a callable that gets the :class:`Recorded` request and
  returns a :class:`Reply` (the OAuth token endpoint and the default routes use this to look at the
  form body and the headers).
- The default routes behave like the real ones where the references are sure of it: no
  ``Authorization`` header gives the provider's 401, and Anthropic's usage endpoint without
  ``anthropic-beta: oauth-2025-04-20`` gives its 401 "OAuth authentication is currently not supported.".
- Exceptions inside the server are kept in :attr:`ProviderServer.errors` (a test can assert that it is
  empty); a client that hangs up early (a timeout) is not an error. :meth:`ProviderServer.stop` wakes
  delayed replies, shuts down open keep-alive connections and joins every server thread, so nothing
  is left running and no socket is leaked.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

_TESTS = str(Path(__file__).resolve().parents[1])  # the suite's shared helpers (loopback_http)
if _TESTS not in sys.path:  # imported from outside pytest (benchmarks/bench_quota.py)
    sys.path.insert(0, _TESTS)

from loopback_http import LoopbackServer  # noqa: E402 - found through the sys.path line above

__all__ = ["ProviderServer", "Recorded", "Reply", "Responder", "bearer_token"]


@dataclass
class Recorded:
    """One request the server received (header names lower-cased; the path without the query string)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str

    @property
    def token(self) -> str | None:
        """The token of the ``Authorization`` header (after ``Bearer`` or ``token``), if any."""
        return bearer_token(self.headers.get("authorization"))

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (the first value of each key)."""
        return {key: values[0] for key, values in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Reply:
    """One canned response.

    ``json`` is serialised with :func:`json.dumps` when ``body`` is ``None``; ``body`` is sent as is
    (``str`` as UTF-8). A JSON or raw body gets ``content-type: application/json`` unless ``headers``
    names another. ``delay`` sleeps before answering without blocking other requests; ``close`` drops
    the connection without sending anything (a network error for the client).
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False

    def payload(self) -> bytes:
        """The bytes of the response body."""
        if self.body is not None:
            return self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        if self.json is not None:
            return json.dumps(self.json).encode("utf-8")
        return b""


#: A computed reply: gets the request, returns the reply to send.
Responder = Callable[[Recorded], Reply]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` value ``Bearer <t>`` or ``token <t>`` (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        return None
    return token.strip()


@dataclass
class _Route:
    method: str
    path: str
    answer: Reply | Responder
    token: str | None
    remaining: int | None


class _Handler(BaseHTTPRequestHandler):
    """Records each request, then answers it with the reply its route resolves to."""

    protocol_version = "HTTP/1.1"
    server_version = "mp-policy-provider-server/1"
    disable_nagle_algorithm = True  # headers and body are two writes; Nagle + delayed ACK would add 40 ms

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers, then the blank line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        owner = cast("ProviderServer", self.server.owner)  # type: ignore[attr-defined]
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        split = urlsplit(self.path)
        recorded = Recorded(method=self.command, path=split.path, headers=headers, body=self._read_body(),
                            query=split.query)
        owner._record(recorded)
        reply = owner._resolve(recorded)
        if reply.delay > 0 and owner.stopping.wait(reply.delay):
            self.close_connection = True  # stopping: drop the request instead of answering late
            return
        if reply.close:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = reply.payload()
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if body and "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        no_body = reply.status in (204, 304) or 100 <= reply.status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class ProviderServer(LoopbackServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 (random free port) in a daemon thread.

    Example::

        with ProviderServer() as server:
            server.use_defaults()
            server.reply("GET", "/api/oauth/usage", payloads.ANTHROPIC_429, token="sk-ant-oat01-b", times=1)
            env = server.env()  # point the checkers here
    """

    handler = _Handler
    name = "provider-server"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Recorded] = []
        self._routes: list[_Route] = []

    # -- routes ------------------------------------------------------------------------------------

    def reply(self, method: str, path: str, reply: Reply | Responder, *, token: str | None = None,
              times: int | None = None) -> None:
        """Answer `method path` with `reply`. With `token`, only requests whose Authorization header carries
        that token (after "Bearer " or "token ") match; token-specific replies win over generic ones; the
        most recently registered matching reply wins; `times` limits how often it is used (then it is removed).

        ``reply`` may also be a responder: a callable that gets the :class:`Recorded` request and returns
        the :class:`Reply` to send.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self.lock:
            self._routes.append(_Route(method.upper(), path, reply, token, times))

    def reset(self) -> None:
        """Forget every registered reply, recorded request and recorded server error."""
        with self.lock:
            self._routes.clear()
            self.requests.clear()
            self.errors.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        """The recorded requests for ``path`` (and ``method``, if given), in arrival order."""
        with self.lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def env(self) -> dict[str, str]:
        """Environment variables pointing every checker at this server:
        CHATGPT_BASE_URL = url + "/backend-api"              (codex:       GET  /backend-api/wham/usage)
        MP_POLICY_ANTHROPIC_BASE_URL = url                    (anthropic:   GET  /api/oauth/usage)
        MP_POLICY_COPILOT_BASE_URL = url                      (copilot:     GET  /copilot_internal/user)
        MP_POLICY_GEMINI_BASE_URL = url                       (gemini-cli:  POST /v1internal:retrieveUserQuota)
        MP_POLICY_ANTIGRAVITY_BASE_URLS = url + "/sandbox," + url + "/prod"
                                                              (antigravity: POST /sandbox/v1internal:fetchAvailableModels, then /prod/…)
        MP_POLICY_GOOGLE_TOKEN_URL = url + "/token"           (Google OAuth refresh: POST /token, form-encoded)
        """  # noqa: E501 - the route table reads best unwrapped
        if not self.url:
            raise RuntimeError("start the provider server before asking for its environment")
        return {
            "CHATGPT_BASE_URL": f"{self.url}/backend-api",
            "MP_POLICY_ANTHROPIC_BASE_URL": self.url,
            "MP_POLICY_COPILOT_BASE_URL": self.url,
            "MP_POLICY_GEMINI_BASE_URL": self.url,
            "MP_POLICY_ANTIGRAVITY_BASE_URLS": f"{self.url}/sandbox,{self.url}/prod",
            "MP_POLICY_GOOGLE_TOKEN_URL": f"{self.url}/token",
        }

    def use_defaults(self) -> None:
        """Register the happy-path replies from payloads.py for all five providers and a token endpoint that
        answers a form POST grant_type=refresh_token&refresh_token=R... with {"access_token": "refreshed-<R>",
        "expires_in": 3599, "token_type": "Bearer", "scope": "..."} (an unknown refresh token "bad-refresh" → 400
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}).

        Every provider route answers its provider's 401 when the request has no ``Authorization`` token,
        and Anthropic's usage route also when ``anthropic-beta`` lacks ``oauth-2025-04-20``. Routes:
        ``GET /backend-api/wham/usage`` (CODEX_USAGE), ``GET /api/oauth/usage`` (ANTHROPIC_USAGE),
        ``GET /copilot_internal/user`` (COPILOT_USER_PRO), ``GET /copilot_internal/v2/token``
        (COPILOT_TOKEN_ENVELOPE), ``POST /v1internal:retrieveUserQuota`` (GEMINI_QUOTA),
        ``POST /sandbox/v1internal:fetchAvailableModels`` and ``POST /prod/…`` (ANTIGRAVITY_MODELS),
        ``POST /token`` (the refresh above).
        """
        import payloads  # the sibling module; imported here so this module stays importable on its own

        def guarded(reply: Reply, unauthorized: Reply, check: Callable[[Recorded], Reply | None] | None = None
                    ) -> Responder:
            def respond(request: Recorded) -> Reply:
                if request.token is None:
                    return unauthorized
                rejected = check(request) if check is not None else None
                return rejected if rejected is not None else reply
            return respond

        def anthropic_beta(request: Recorded) -> Reply | None:
            betas = {part.strip() for part in request.headers.get("anthropic-beta", "").split(",")}
            return None if payloads.ANTHROPIC_BETA in betas else payloads.ANTHROPIC_401_NO_BETA

        def ok(document: Any) -> Reply:
            return Reply(json=copy.deepcopy(document))

        self.reply("GET", "/backend-api/wham/usage", guarded(ok(payloads.CODEX_USAGE), payloads.CODEX_401))
        self.reply("GET", "/api/oauth/usage",
                   guarded(ok(payloads.ANTHROPIC_USAGE), payloads.ANTHROPIC_401_EXPIRED, anthropic_beta))
        self.reply("GET", "/copilot_internal/user", guarded(ok(payloads.COPILOT_USER_PRO), payloads.COPILOT_401))
        self.reply("GET", "/copilot_internal/v2/token",
                   guarded(ok(payloads.COPILOT_TOKEN_ENVELOPE), payloads.COPILOT_401))
        self.reply("POST", "/v1internal:retrieveUserQuota", guarded(ok(payloads.GEMINI_QUOTA), payloads.GOOGLE_401))
        for prefix in ("/sandbox", "/prod"):
            self.reply("POST", f"{prefix}/v1internal:fetchAvailableModels",
                       guarded(ok(payloads.ANTIGRAVITY_MODELS), payloads.GOOGLE_401))
        self.reply("POST", "/token", payloads.google_token_endpoint)

    # -- internals (called from the handler threads) -----------------------------------------------

    def _record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def _resolve(self, request: Recorded) -> Reply:
        token = request.token
        with self.lock:
            chosen: _Route | None = None
            for route in reversed(self._routes):
                if route.method != request.method or route.path != request.path:
                    continue
                if route.token is not None and route.token == token:
                    chosen = route
                    break
                if route.token is None and chosen is None:
                    chosen = route
            if chosen is not None and chosen.remaining is not None:
                chosen.remaining -= 1
                if chosen.remaining == 0:
                    self._routes.remove(chosen)
        if chosen is None:
            return Reply(status=404, json={"error": f"no reply registered for {request.method} {request.path}"})
        answer = chosen.answer
        return answer if isinstance(answer, Reply) else answer(request)
