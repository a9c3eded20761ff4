"""The error adapters (``policy_engine.engine.sdk_errors``) on what real clients raise and return.

Every exception and response here comes from a real ``openai`` / ``anthropic`` SDK, ``httpx`` or
``requests`` call to the fake provider on loopback (SDK retries off); the reports then go through a
real engine's ``fail`` to show how they are classified.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx
import openai
import pytest
import requests
from fake_llm_server import FakeLLMServer, Scripted

from policy_engine import Engine
from policy_engine.engine.sdk_errors import (
    NETWORK_ERROR_TYPE,
    FailureReport,
    read_error,
    read_failure,
    read_headers,
    read_response,
)
from policy_engine.evaluate.decision import Decision

MESSAGES = [{"role": "user", "content": "hi"}]


def openai_client(server: FakeLLMServer, key: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, **options)


def anthropic_client(server: FakeLLMServer, key: str, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0, **options)


def openai_error(server: FakeLLMServer, reply: str | Scripted) -> BaseException:
    server.script("sk-o", reply)
    with pytest.raises(openai.OpenAIError) as raised:
        openai_client(server, "sk-o", timeout=10).chat.completions.create(model="gpt-5", messages=MESSAGES)
    return raised.value


def anthropic_error(server: FakeLLMServer, reply: str | Scripted) -> BaseException:
    server.script("sk-a", reply)
    with pytest.raises(anthropic.AnthropicError) as raised:
        anthropic_client(server, "sk-a", timeout=10).messages.create(model="claude-sonnet-4-5", max_tokens=32,
                                                                     messages=MESSAGES)
    return raised.value


def verdict(provider: str, report: FailureReport) -> Decision:
    """What a real engine decides for this report on ``provider`` (a pool of two of its family)."""
    base = provider
    engine = Engine.from_documents({
        "subscriptions": [{"provider": base, "index": 2}],
        "pools": [{"name": "p", "baseProvider": base, "members": [base, f"{base}-2"]}],
    }, auth={base, f"{base}-2"})
    return engine.fail(provider=provider, model="m", **report.fail_arguments())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a client times out)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# -- openai ----------------------------------------------------------------------------------------


def test_openai_rate_limit(fake_llm: FakeLLMServer) -> None:
    exc = openai_error(fake_llm, Scripted("rate-limit", retry_after=120))
    assert isinstance(exc, openai.RateLimitError)
    report = read_error(exc)
    assert report is not None and report.status == 429 and not report.network
    assert report.headers["retry-after"] == "120" and report.headers["x-ratelimit-remaining-requests"] == "0"
    assert report.body["error"]["code"] == "rate_limit_exceeded"  # the whole JSON body, not the SDK's inner part
    assert report.code == "rate_limit_exceeded" and report.source == "openai.RateLimitError"
    decision = verdict("openai-codex", report)
    assert decision.error is not None and decision.error.kind == "rate_limit" and decision.error.rotate
    assert decision.error.retry_after is not None
    assert 110 < (decision.error.retry_after - datetime.now(UTC)).total_seconds() <= 120


@pytest.mark.parametrize(("reply", "cls", "status", "kind", "rotate"), [
    ("overloaded", openai.InternalServerError, 529, "overloaded", True),
    ("unavailable", openai.InternalServerError, 503, "overloaded", True),
    ("quota", openai.BadRequestError, 400, "quota_exhausted", True),
    ("bad-request", openai.BadRequestError, 400, "other", False),
    ("unauthorized", openai.AuthenticationError, 401, "auth", False),
])
def test_openai_status_errors(fake_llm: FakeLLMServer, reply: str, cls: type, status: int, kind: str,
                              rotate: bool) -> None:
    exc = openai_error(fake_llm, reply)
    assert type(exc) is cls
    report = read_error(exc)
    assert report is not None and report.status == status
    decision = verdict("openai-codex", report)
    assert decision.error is not None and (decision.error.kind, decision.error.rotate) == (kind, rotate)


def test_openai_dropped_connection_and_timeout_are_network_errors(fake_llm: FakeLLMServer, silent_port: int) -> None:
    dropped = openai_error(fake_llm, "drop")
    assert isinstance(dropped, openai.APIConnectionError)
    report = read_error(dropped)
    assert report is not None and report.network and report.status is None
    assert (report.type, report.code) == (NETWORK_ERROR_TYPE, "connection_error")
    decision = verdict("openai-codex", report)
    assert decision.error is not None and decision.error.kind == "other" and not decision.error.rotate

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{silent_port}/v1", api_key="k", max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError) as raised:
        client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    report = read_error(raised.value)
    assert report is not None and report.network and report.code == "timeout"


def test_openai_raw_response_headers(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("sk-o", "ok")
    raw = openai_client(fake_llm, "sk-o").chat.completions.with_raw_response.create(model="gpt-5", messages=MESSAGES)
    headers = read_headers(raw)
    assert headers is not None and headers["x-ratelimit-remaining-requests"] == "499"
    assert read_headers(raw.parse()) is None  # a parsed ChatCompletion carries no headers


# -- anthropic -------------------------------------------------------------------------------------


def test_anthropic_rate_limit_carries_the_reset_header(fake_llm: FakeLLMServer) -> None:
    exc = anthropic_error(fake_llm, Scripted("rate-limit", retry_after=30, reset_in=900))
    assert isinstance(exc, anthropic.RateLimitError)
    report = read_error(exc)
    assert report is not None and report.status == 429 and report.type == "rate_limit_error"
    assert report.headers["anthropic-ratelimit-requests-remaining"] == "0"
    decision = verdict("anthropic", report)
    assert decision.error is not None and decision.error.kind == "rate_limit"
    assert decision.error.retry_source == "header anthropic-ratelimit-requests-reset"  # later than retry-after
    assert decision.error.retry_after is not None
    assert 880 < (decision.error.retry_after - datetime.now(UTC)).total_seconds() <= 900


@pytest.mark.parametrize(("reply", "cls", "status", "kind", "rotate"), [
    ("overloaded", anthropic.OverloadedError, 529, "overloaded", True),
    ("unavailable", anthropic.ServiceUnavailableError, 503, "overloaded", True),
    ("quota", anthropic.BadRequestError, 400, "quota_exhausted", True),  # "credit balance is too low"
    ("bad-request", anthropic.BadRequestError, 400, "other", False),
    ("unauthorized", anthropic.AuthenticationError, 401, "auth", False),
])
def test_anthropic_status_errors(fake_llm: FakeLLMServer, reply: str, cls: type, status: int, kind: str,
                                 rotate: bool) -> None:
    exc = anthropic_error(fake_llm, reply)
    assert type(exc) is cls
    report = read_error(exc)
    assert report is not None and report.status == status and report.body["type"] == "error"
    decision = verdict("anthropic", report)
    assert decision.error is not None and (decision.error.kind, decision.error.rotate) == (kind, rotate)


def test_anthropic_network_errors_and_raw_headers(fake_llm: FakeLLMServer, silent_port: int) -> None:
    dropped = anthropic_error(fake_llm, "drop")
    assert isinstance(dropped, anthropic.APIConnectionError)
    report = read_error(dropped)
    assert report is not None and report.network and report.code == "connection_error"

    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{silent_port}", api_key="k", max_retries=0, timeout=0.5)
    with pytest.raises(anthropic.APITimeoutError) as raised:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=MESSAGES)
    report = read_error(raised.value)
    assert report is not None and report.code == "timeout"

    fake_llm.script("sk-a", "ok")
    raw = anthropic_client(fake_llm, "sk-a").messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=8, messages=MESSAGES)
    headers = read_headers(raw)
    assert headers is not None and headers["anthropic-ratelimit-unified-5h-utilization"] == "0.25"


# -- httpx and requests ----------------------------------------------------------------------------


def test_httpx_status_error_response_and_transport_errors(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("sk-h", Scripted("rate-limit", retry_after=45))
    url = f"{fake_llm.url}/v1/chat/completions"
    response = httpx.post(url, json={"model": "gpt-5"}, headers={"Authorization": "Bearer sk-h"})
    report = read_response(response)
    assert report is not None and report.status == 429 and report.headers["retry-after"] == "45"
    assert report.message == "Rate limit reached for requests. Please try again later."
    with pytest.raises(httpx.HTTPStatusError) as raised:
        response.raise_for_status()
    from_error = read_error(raised.value)
    assert from_error is not None and from_error.status == 429 and from_error.body == report.body

    with httpx.stream("POST", url, json={"model": "gpt-5"}, headers={"Authorization": "Bearer sk-h"}) as streamed:
        unread = read_response(streamed)  # not read yet: no body, but status and headers
    assert unread is not None and unread.status == 429 and unread.body is None and unread.headers["retry-after"]

    fake_llm.script("sk-h", "drop")
    with pytest.raises(httpx.TransportError) as dropped:
        httpx.post(url, json={"model": "gpt-5"}, headers={"Authorization": "Bearer sk-h"})
    network = read_error(dropped.value)
    assert network is not None and network.network and network.status is None


def test_a_body_nested_too_deeply_to_parse_is_kept_as_text() -> None:
    """A hostile or broken provider body (built here, not served) must not raise RecursionError."""
    deep = b"[" * 100_000 + b"]" * 100_000
    report = read_response(httpx.Response(429, content=deep, headers={"retry-after": "30"}))
    assert report is not None and report.status == 429 and report.headers["retry-after"] == "30"
    assert isinstance(report.body, str) and len(report.body) == 4000 and report.body.startswith("[[[")
    decision = verdict("openai-codex", report)
    assert decision.error is not None and decision.error.kind == "rate_limit"


def test_requests_http_error_response_and_connection_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("sk-r", "overloaded")
    url = f"{fake_llm.url}/v1/messages"
    response = requests.post(url, json={"model": "claude-sonnet-4-5"}, headers={"x-api-key": "sk-r"}, timeout=10)
    report = read_response(response)
    assert report is not None and report.status == 529 and report.body["error"]["type"] == "overloaded_error"
    with pytest.raises(requests.HTTPError) as raised:
        response.raise_for_status()
    from_error = read_error(raised.value)
    assert from_error is not None and from_error.status == 529 and from_error.source == "requests.HTTPError"
    decision = verdict("anthropic", from_error)
    assert decision.error is not None and decision.error.kind == "overloaded"

    fake_llm.script("sk-r", "drop")
    with pytest.raises(requests.ConnectionError) as dropped:
        requests.post(url, json={}, headers={"x-api-key": "sk-r"}, timeout=10)
    network = read_error(dropped.value)
    assert network is not None and network.network and network.type == NETWORK_ERROR_TYPE


# -- what is not a provider error, and what a caller reports by hand ------------------------------


def test_other_exceptions_are_not_provider_errors() -> None:
    assert read_error(KeyError("choices")) is None
    assert read_error(ValueError("429 in a message is not a status")) is None


def test_read_failure_takes_mappings_and_unknown_exceptions_at_their_word() -> None:
    report = read_failure({"status": 429, "headers": {"Retry-After": "5"}, "message": "slow down"})
    assert report.status == 429 and report.headers == {"retry-after": "5"} and report.message == "slow down"
    assert read_failure(RuntimeError("overloaded_error")).message == "overloaded_error"
    with pytest.raises(TypeError, match="cannot read a failure"):
        read_failure(object())


def test_reading_errors_imports_no_sdk() -> None:
    code = (
        "import sys\n"
        "from policy_engine.engine.attempts import Attempts\n"
        "from policy_engine.engine.sdk_errors import read_error, read_failure, read_headers\n"
        "assert read_error(KeyError('x')) is None\n"
        "read_failure(ConnectionRefusedError('refused')); read_headers({'a': 'b'})\n"
        "import policy_engine.integrations.litellm\n"
        "sdks = ('openai', 'anthropic', 'httpx', 'httpx2', 'requests', 'litellm')\n"
        "print(sorted(m for m in sdks if m in sys.modules))\n"
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr
    assert time.monotonic() - started < 60
