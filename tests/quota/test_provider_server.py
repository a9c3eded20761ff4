"""The local provider server itself, exercised over real sockets with httpx (sync and async)."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import payloads as p
import pytest
from provider_server import ProviderServer, Recorded, Reply, bearer_token

AUTH = {"Authorization": "Bearer test-token"}
ANTHROPIC_HEADERS = {**AUTH, "anthropic-beta": p.ANTHROPIC_BETA}


@pytest.fixture
def client(quota_server: ProviderServer) -> Iterator[httpx.Client]:
    """A synchronous client on the session's server (defaults registered)."""
    with httpx.Client(base_url=quota_server.url, timeout=5.0) as http:
        yield http


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("provider-server")]


# -- the default routes, reached through env() --------------------------------------------------------

DEFAULT_ROUTES = [
    ("CHATGPT_BASE_URL", "GET", "/wham/usage", AUTH, p.CODEX_USAGE),
    ("MP_POLICY_ANTHROPIC_BASE_URL", "GET", "/api/oauth/usage", ANTHROPIC_HEADERS, p.ANTHROPIC_USAGE),
    ("MP_POLICY_COPILOT_BASE_URL", "GET", "/copilot_internal/user", {"Authorization": "token gho_x"},
     p.COPILOT_USER_PRO),
    ("MP_POLICY_COPILOT_BASE_URL", "GET", "/copilot_internal/v2/token", {"Authorization": "token gho_x"},
     p.COPILOT_TOKEN_ENVELOPE),
    ("MP_POLICY_GEMINI_BASE_URL", "POST", "/v1internal:retrieveUserQuota", AUTH, p.GEMINI_QUOTA),
]


@pytest.mark.parametrize(("variable", "method", "suffix", "headers", "expected"), DEFAULT_ROUTES,
                         ids=[row[2] for row in DEFAULT_ROUTES])
def test_env_points_every_checker_at_its_default_payload(quota_server: ProviderServer, variable: str, method: str,
                                                         suffix: str, headers: dict[str, str],
                                                         expected: Any) -> None:
    env = quota_server.env()
    url = env[variable] + suffix
    response = httpx.request(method, url, headers=headers, json={} if method == "POST" else None, timeout=5.0)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected
    assert quota_server.requests[-1].path == httpx.URL(url).path


def test_antigravity_urls_are_sandbox_then_prod_and_both_answer(quota_server: ProviderServer) -> None:
    urls = quota_server.env()["MP_POLICY_ANTIGRAVITY_BASE_URLS"].split(",")
    assert urls == [f"{quota_server.url}/sandbox", f"{quota_server.url}/prod"]
    for base in urls:
        response = httpx.post(f"{base}/v1internal:fetchAvailableModels", headers=AUTH,
                              json={"project": p.GOOGLE_PROJECT_ID}, timeout=5.0)
        assert response.json() == p.ANTIGRAVITY_MODELS
    assert [r.json() for r in quota_server.requests] == [{"project": p.GOOGLE_PROJECT_ID}] * 2


def test_env_has_exactly_the_documented_variables(quota_server: ProviderServer) -> None:
    env = quota_server.env()
    assert set(env) == {"CHATGPT_BASE_URL", "MP_POLICY_ANTHROPIC_BASE_URL", "MP_POLICY_COPILOT_BASE_URL",
                        "MP_POLICY_GEMINI_BASE_URL", "MP_POLICY_ANTIGRAVITY_BASE_URLS", "MP_POLICY_GOOGLE_TOKEN_URL"}
    assert env["MP_POLICY_GOOGLE_TOKEN_URL"] == quota_server.url + "/token"
    assert quota_server.url.startswith("http://127.0.0.1:") and not quota_server.url.endswith("/")


def test_default_replies_are_copies_not_the_shared_constants(client: httpx.Client) -> None:
    first = client.get("/backend-api/wham/usage", headers=AUTH).json()
    first["rate_limit"]["primary_window"]["used_percent"] = 99
    assert client.get("/backend-api/wham/usage", headers=AUTH).json() == p.CODEX_USAGE


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/backend-api/wham/usage", p.CODEX_401),
    ("GET", "/api/oauth/usage", p.ANTHROPIC_401_EXPIRED),
    ("GET", "/copilot_internal/user", p.COPILOT_401),
    ("POST", "/v1internal:retrieveUserQuota", p.GOOGLE_401),
    ("POST", "/sandbox/v1internal:fetchAvailableModels", p.GOOGLE_401),
])
def test_default_routes_answer_401_without_a_token(client: httpx.Client, method: str, path: str,
                                                   expected: Reply) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json() == expected.json


def test_anthropic_usage_needs_the_oauth_beta_header(client: httpx.Client) -> None:
    missing = client.get("/api/oauth/usage", headers=AUTH)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "OAuth authentication is currently not supported."
    listed = client.get("/api/oauth/usage", headers={**AUTH, "anthropic-beta": f"other-beta, {p.ANTHROPIC_BETA}"})
    assert listed.status_code == 200 and listed.json() == p.ANTHROPIC_USAGE


# -- routing: tokens, precedence, times, 404 ----------------------------------------------------------

def test_token_specific_reply_wins_over_a_newer_generic_one(client: httpx.Client,
                                                            quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/copilot_internal/user", Reply(json=p.COPILOT_USER_FREE), token="gho_free")
    quota_server.reply("GET", "/copilot_internal/user", Reply(json=p.COPILOT_USER_OVER))  # newer, generic
    assert client.get("/copilot_internal/user", headers={"Authorization": "token gho_free"}).json() \
        == p.COPILOT_USER_FREE
    assert client.get("/copilot_internal/user", headers={"Authorization": "Bearer gho_free"}).json() \
        == p.COPILOT_USER_FREE
    assert client.get("/copilot_internal/user", headers={"Authorization": "token gho_other"}).json() \
        == p.COPILOT_USER_OVER


def test_most_recent_matching_reply_wins(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/api/oauth/usage", Reply(json=p.ANTHROPIC_USAGE_LEGACY), token="a")
    quota_server.reply("GET", "/api/oauth/usage", Reply(json=p.ANTHROPIC_USAGE_NO_FIVE_HOUR), token="a")
    assert client.get("/api/oauth/usage", headers={"Authorization": "Bearer a"}).json() \
        == p.ANTHROPIC_USAGE_NO_FIVE_HOUR
    quota_server.reply("GET", "/api/oauth/usage", p.ANTHROPIC_429)
    response = client.get("/api/oauth/usage", headers=ANTHROPIC_HEADERS)
    assert response.status_code == 429 and response.headers["retry-after"] == "300"


def test_times_limits_how_often_a_reply_is_used(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/backend-api/wham/usage", p.GENERIC_500, times=2)
    statuses = [client.get("/backend-api/wham/usage", headers=AUTH).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    quota_server.reply("GET", "/only-once", Reply(json={"n": 1}), token="t", times=1)
    assert client.get("/only-once", headers={"Authorization": "Bearer t"}).status_code == 200
    assert client.get("/only-once", headers={"Authorization": "Bearer t"}).status_code == 404


def test_unknown_route_is_404_with_the_route_in_the_body(client: httpx.Client) -> None:
    response = client.get("/nowhere", params={"a": "1"})
    assert response.status_code == 404
    assert response.json() == {"error": "no reply registered for GET /nowhere"}
    wrong_method = client.post("/backend-api/wham/usage", headers=AUTH)
    assert wrong_method.json() == {"error": "no reply registered for POST /backend-api/wham/usage"}


def test_query_string_is_recorded_but_not_matched(client: httpx.Client, quota_server: ProviderServer) -> None:
    response = client.get("/backend-api/wham/usage?x=1&y=two", headers=AUTH)
    assert response.json() == p.CODEX_USAGE
    assert quota_server.requests[-1].path == "/backend-api/wham/usage"
    assert quota_server.requests[-1].query == "x=1&y=two"


def test_responder_callable_sees_the_request(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("POST", "/echo", lambda request: Reply(status=201, json={"got": request.json(),
                                                                                 "token": request.token}))
    response = client.post("/echo", json={"a": [1, 2]}, headers={"Authorization": "Bearer xyz"})
    assert response.status_code == 201
    assert response.json() == {"got": {"a": [1, 2]}, "token": "xyz"}


def test_reply_rejects_bad_arguments(quota_server: ProviderServer) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        quota_server.reply("GET", "api/oauth/usage", Reply())
    with pytest.raises(ValueError, match="at least 1"):
        quota_server.reply("GET", "/x", Reply(), times=0)


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("token gho_1") == "gho_1"
    assert bearer_token("bearer   spaced ") == "spaced"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def test_reset_forgets_replies_and_requests(quota_server: ProviderServer) -> None:
    with httpx.Client(base_url=quota_server.url, timeout=5.0) as http:
        assert http.get("/backend-api/wham/usage", headers=AUTH).status_code == 200
        quota_server.reset()
        assert quota_server.requests == []
        assert http.get("/backend-api/wham/usage", headers=AUTH).status_code == 404
        assert len(quota_server.requests) == 1


# -- recording ----------------------------------------------------------------------------------------

def test_requests_are_recorded_in_order_with_lower_case_headers(client: httpx.Client,
                                                                quota_server: ProviderServer) -> None:
    client.get("/api/oauth/usage", headers={"Authorization": "Bearer sk-ant-oat01-x",
                                            "Anthropic-Beta": p.ANTHROPIC_BETA, "User-Agent": "claude-code/2.0"})
    client.post("/v1internal:retrieveUserQuota", content=b"{}",
                headers={"Authorization": "Bearer ya29.x", "Content-Type": "application/json",
                         "X-Goog-Api-Client": "gl-node/22.17.0"})
    first, second = quota_server.requests
    assert (first.method, first.path, first.body) == ("GET", "/api/oauth/usage", b"")
    assert first.headers["anthropic-beta"] == p.ANTHROPIC_BETA
    assert first.headers["user-agent"] == "claude-code/2.0"
    assert first.token == "sk-ant-oat01-x"
    assert all(name == name.lower() for r in quota_server.requests for name in r.headers)
    assert (second.method, second.body, second.headers["x-goog-api-client"]) == ("POST", b"{}", "gl-node/22.17.0")
    assert quota_server.requests_to("/v1internal:retrieveUserQuota", "post") == [second]
    assert quota_server.errors == []


def test_chunked_request_bodies_are_read(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("POST", "/echo", lambda request: Reply(body=request.body,
                                                              headers={"Content-Type": "text/plain"}))

    def parts() -> Iterator[bytes]:
        yield b"grant_type=refresh_token&"
        yield b"refresh_token=abc"

    response = client.post("/echo", content=parts())
    assert quota_server.requests[-1].headers.get("transfer-encoding") == "chunked"
    assert response.text == "grant_type=refresh_token&refresh_token=abc"


# -- the OAuth token endpoint -------------------------------------------------------------------------

def test_token_endpoint_refreshes_a_form_post(client: httpx.Client, quota_server: ProviderServer) -> None:
    response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "1//0abc",
                                            "client_id": "cid", "client_secret": "secret"})
    assert response.status_code == 200
    assert response.json() == {"access_token": "refreshed-1//0abc", "expires_in": 3599, "token_type": "Bearer",
                               "scope": p.GOOGLE_SCOPE}
    recorded = quota_server.requests[-1]
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorded.form()["client_id"] == "cid"


@pytest.mark.parametrize(("form", "error"), [
    ({"grant_type": "refresh_token", "refresh_token": p.BAD_REFRESH_TOKEN}, "invalid_grant"),
    ({"grant_type": "refresh_token"}, "invalid_request"),
    ({"grant_type": "authorization_code", "code": "c"}, "unsupported_grant_type"),
])
def test_token_endpoint_rejects_bad_forms(client: httpx.Client, form: dict[str, str], error: str) -> None:
    response = client.post("/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    if error == "invalid_grant":
        assert response.json()["error_description"] == "Token has been expired or revoked."


# -- error replies on the wire ------------------------------------------------------------------------

JSON_ERRORS = {name: getattr(p, name) for name in (
    "ANTHROPIC_401_EXPIRED", "ANTHROPIC_401_NO_BETA", "ANTHROPIC_403_SCOPE", "ANTHROPIC_429", "CODEX_401",
    "GOOGLE_403_PERMISSION", "GOOGLE_401", "COPILOT_401", "COPILOT_403", "COPILOT_402_QUOTA",
    "CODEX_RESPONSES_429", "ANTHROPIC_MESSAGES_429", "GOOGLE_429_QUOTA_EXHAUSTED", "GOOGLE_429_RATE_LIMIT",
    "GOOGLE_429_ARRAY_WRAPPED", "GOOGLE_429_BARE", "GOOGLE_503_CAPACITY")}


@pytest.mark.parametrize("name", sorted(JSON_ERRORS))
def test_error_replies_arrive_with_status_headers_and_json(client: httpx.Client, quota_server: ProviderServer,
                                                           name: str) -> None:
    reply = JSON_ERRORS[name]
    quota_server.reply("GET", "/err", reply)
    response = client.get("/err")
    assert response.status_code == reply.status >= 400
    assert response.json() == reply.json
    for header, value in reply.headers.items():
        assert response.headers[header] == value


def test_garbage_json_really_is_invalid_json(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/api/oauth/usage", p.GARBAGE_JSON)
    response = client.get("/api/oauth/usage", headers=ANTHROPIC_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"five_hour": {'
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_empty_502_and_plain_500(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/empty", p.EMPTY_BODY_502)
    quota_server.reply("GET", "/plain", p.GENERIC_500)
    empty = client.get("/empty")
    assert (empty.status_code, empty.content, empty.headers["content-length"]) == (502, b"", "0")
    assert "content-type" not in empty.headers
    plain = client.get("/plain")
    assert (plain.status_code, plain.text) == (500, "Internal Server Error")
    assert plain.headers["content-type"].startswith("text/plain")


def test_passive_capture_headers_reach_the_client(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("POST", "/backend-api/codex/responses", Reply(headers=p.CODEX_200_HEADERS, json={}))
    quota_server.reply("POST", "/v1/messages", Reply(headers=p.ANTHROPIC_200_HEADERS, json={}))
    quota_server.reply("POST", "/chat/completions", Reply(headers=p.COPILOT_QUOTA_HEADERS, json={}))
    codex = client.post("/backend-api/codex/responses").headers
    assert (codex["x-codex-primary-used-percent"], codex["x-codex-primary-window-minutes"]) == ("42", "300")
    assert codex["X-Codex-Credits-Has-Credits"] == "False"
    anthropic = client.post("/v1/messages").headers
    assert anthropic["anthropic-ratelimit-unified-status"] == "allowed"
    assert "retry-after" not in anthropic
    copilot = client.post("/chat/completions").headers
    assert "rem=41.0" in copilot["x-quota-snapshot-premium_interactions"]


# -- delays, drops and concurrency --------------------------------------------------------------------

def test_delay_times_out_the_client_and_the_server_keeps_serving(quota_server: ProviderServer) -> None:
    release = threading.Event()

    def held(request: Recorded) -> Reply:
        release.wait(10)  # a reply delayed until the test lets it go
        return Reply(json={"late": True})

    quota_server.reply("GET", "/slow", held)
    with httpx.Client(base_url=quota_server.url, timeout=0.05) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/slow")
    response = httpx.get(quota_server.url + "/backend-api/wham/usage", headers=AUTH, timeout=5.0)
    assert response.json() == p.CODEX_USAGE
    assert not release.is_set()  # answered while the delayed request is still held: not queued behind it
    release.set()
    with quota_server.lock:
        handlers = list(quota_server.threads)
    for thread in handlers:  # the delayed handler writes to the closed socket, then its connection ends
        thread.join(10)
    assert quota_server.errors == []


def test_close_drops_the_connection_without_a_response(client: httpx.Client, quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/api/oauth/usage", Reply(close=True), times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/api/oauth/usage", headers=ANTHROPIC_HEADERS)
    assert client.get("/api/oauth/usage", headers=ANTHROPIC_HEADERS).json() == p.ANTHROPIC_USAGE


def test_parallel_delayed_requests_run_concurrently_async(quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/slow", Reply(json={"ok": True}, delay=0.3))

    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=quota_server.url, timeout=5.0) as http:
            return await asyncio.gather(*(http.get("/slow") for _ in range(10)))

    started = time.perf_counter()
    responses = asyncio.run(fetch_all())
    elapsed = time.perf_counter() - started
    assert [r.json() for r in responses] == [{"ok": True}] * 10
    assert elapsed < 2.0, f"10 requests delayed 0.3 s took {elapsed:.3f} s (3 s one after another)"
    assert len(quota_server.requests_to("/slow")) == 10


def test_parallel_delayed_requests_run_concurrently_sync(quota_server: ProviderServer) -> None:
    quota_server.reply("GET", "/slow", Reply(json={"ok": True}, delay=0.3))
    with httpx.Client(base_url=quota_server.url, timeout=5.0,
                      limits=httpx.Limits(max_connections=10)) as http, ThreadPoolExecutor(10) as pool:
        started = time.perf_counter()
        statuses = list(pool.map(lambda _: http.get("/slow").status_code, range(10)))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 10
    assert elapsed < 2.0, f"10 requests delayed 0.3 s took {elapsed:.3f} s (3 s one after another)"


# -- lifecycle ----------------------------------------------------------------------------------------

def test_stop_is_clean_fast_and_leaks_nothing() -> None:
    before = set(_server_threads())
    gc.collect()  # earlier tests' garbage must not warn inside the window below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        server = ProviderServer()
        assert server.start() is server and server.running
        server.use_defaults()
        server.reply("GET", "/hang", Reply(json={}, delay=30))
        with httpx.Client(base_url=server.url, timeout=5.0) as idle:
            assert idle.get("/backend-api/wham/usage", headers=AUTH).status_code == 200  # keep-alive stays open
            hanging = ThreadPoolExecutor(1)
            hang_url = server.url + "/hang"
            pending = hanging.submit(lambda: httpx.get(hang_url, timeout=10.0))
            time.sleep(0.1)
            started = time.perf_counter()
            server.stop()
            stopped_in = time.perf_counter() - started
            with pytest.raises(httpx.HTTPError):
                pending.result(timeout=5.0)
            hanging.shutdown()
        server.stop()  # idempotent
        del server
        gc.collect()
    assert stopped_in < 5.0, f"stop took {stopped_in:.3f} s"  # a hanging request lasts 30 s; generous on busy CI
    assert set(_server_threads()) - before == set()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_context_manager_starts_and_stops_and_can_restart() -> None:
    with ProviderServer() as server:
        url = server.url
        assert httpx.get(url + "/x", timeout=5.0).status_code == 404
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/x", timeout=1.0)
    server.start()
    try:
        assert httpx.get(server.url + "/x", timeout=5.0).status_code == 404
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()


def test_env_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError, match="start the provider server"):
        ProviderServer().env()


def test_server_errors_are_recorded_for_the_test(quota_server: ProviderServer) -> None:
    def broken(request: Recorded) -> Reply:
        raise RuntimeError("responder bug")

    quota_server.reply("GET", "/broken", broken)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(quota_server.url + "/broken", timeout=5.0)
    assert len(quota_server.errors) == 1 and "responder bug" in quota_server.errors[0]


def test_quota_server_fixture_starts_from_the_defaults(quota_server: ProviderServer) -> None:
    assert quota_server.requests == [] and quota_server.errors == []
    response = httpx.post(quota_server.url + "/v1internal:retrieveUserQuota", headers=AUTH, json={}, timeout=5.0)
    assert response.json() == p.GEMINI_QUOTA


# -- the payloads themselves ---------------------------------------------------------------------------

def _remaining_by_window(document: dict[str, Any]) -> dict[str, float]:
    """Remaining percent per window, matched by length as the checker does (behaviour §5.3)."""
    found: dict[str, float] = {}
    windows = (document.get("rate_limit") or {})
    for key in ("primary_window", "secondary_window"):
        window = windows.get(key)
        if not window:
            continue
        for name, seconds in (("5h", p.FIVE_HOURS_S), ("7d", p.SEVEN_DAYS_S)):
            if abs(window.get("limit_window_seconds", 0) - seconds) <= 120 and name not in found:
                found[name] = min(100.0, max(0.0, 100 - window.get("used_percent", 0)))
    return found


def test_codex_payloads_match_the_behaviour_figures() -> None:
    assert _remaining_by_window(p.CODEX_USAGE) == {"5h": 58, "7d": 88}
    assert _remaining_by_window(p.CODEX_USAGE_SWAPPED) == {"5h": 90, "7d": 65}
    assert p.CODEX_USAGE_SWAPPED["rate_limit"]["primary_window"]["limit_window_seconds"] == p.SEVEN_DAYS_S
    assert _remaining_by_window(p.CODEX_USAGE_FREE) == {"7d": 70}
    assert _remaining_by_window(p.CODEX_USAGE_EMPTY) == {}


@pytest.mark.parametrize(("used", "left"), [((20, 40), 60), ((75, 20), 25), ((88, 15), 12), ((97, 10), 3)])
def test_codex_usage_builds_the_severity_cases(used: tuple[int, int], left: int) -> None:
    document = p.codex_usage(*used, now=p.CODEX_RESET_5H - 100)
    assert min(_remaining_by_window(document).values()) == left
    primary = document["rate_limit"]["primary_window"]
    assert primary == {"used_percent": used[0], "limit_window_seconds": 18000, "reset_after_seconds": 100,
                       "reset_at": p.CODEX_RESET_5H}
    assert set(document) == set(p.CODEX_USAGE)


def test_codex_usage_options() -> None:
    swapped = p.codex_usage(10, 35, swapped=True, reset_5h=None, reset_7d=2_000_000_000, plan="pro", email=None)
    assert swapped["rate_limit"]["primary_window"]["limit_window_seconds"] == p.SEVEN_DAYS_S
    assert "reset_at" not in swapped["rate_limit"]["secondary_window"]
    assert (swapped["plan_type"], "email" in swapped) == ("pro", False)
    free = p.codex_usage(None, 30, plan="free")
    assert free["rate_limit"]["primary_window"] is None and _remaining_by_window(free) == {"7d": 70}
    exhausted = p.codex_usage(100, 50)
    assert exhausted["rate_limit"]["limit_reached"] is True and exhausted["rate_limit"]["allowed"] is False


def _google_percent(fraction: Any) -> int | None:
    return None if not isinstance(fraction, int | float) else max(0, min(100, round(fraction * 100)))


def test_gemini_payloads_give_the_documented_bottlenecks() -> None:
    def families(document: dict[str, Any]) -> dict[str, int]:
        merged: dict[str, int] = {}
        for bucket in document["buckets"]:
            model = bucket["modelId"].lower()
            family = "Pro" if "pro" in model else "Flash" if "flash" in model else bucket["modelId"]
            percent = _google_percent(bucket.get("remainingFraction"))
            assert percent is not None
            merged[family] = min(merged.get(family, 101), percent)
        return merged

    assert families(p.GEMINI_QUOTA) == {"Pro": 82, "Flash": 25}
    assert families(p.GEMINI_QUOTA_DUPLICATE_PRO) == {"Pro": 61, "Flash": 25}
    assert families(p.GEMINI_QUOTA_EMPTY) == {}
    assert all(bucket["tokenType"] == "REQUESTS" for bucket in p.GEMINI_QUOTA["buckets"])


def test_antigravity_payloads_give_the_documented_worst_model() -> None:
    def models(document: dict[str, Any]) -> dict[str, int]:
        merged: dict[str, int] = {}
        for key, value in document["models"].items():
            label = value.get("displayName") or value.get("model") or key
            if value.get("isInternal") is True or "tab_flash_lite_preview" in (key.lower(), label.lower()):
                continue
            percent = _google_percent(value.get("quotaInfo", {}).get("remainingFraction"))
            assert percent is not None
            merged[label] = min(merged.get(label, 101), percent)
        return merged

    assert models(p.ANTIGRAVITY_MODELS) == {"Gemini 3 Pro (High)": 70, "Claude Sonnet 4.5": 42, "gemini-3-flash": 88}
    assert models(p.ANTIGRAVITY_MODELS_MERGE) == {"G3 Pro": 42, "G3 Flash": 88}


def test_anthropic_payload_shapes() -> None:
    limits = p.ANTHROPIC_USAGE["limits"]
    assert [(x["kind"], x["percent"], x["is_active"]) for x in limits] == [
        ("session", 16, False), ("weekly_all", 42, True), ("weekly_scoped", 83, False)]
    assert limits[2]["scope"]["model"]["display_name"] == "Fable"
    assert p.ANTHROPIC_USAGE["tangelo"] is None and p.ANTHROPIC_USAGE["seven_day_opus"] is None
    assert set(p.ANTHROPIC_USAGE_LEGACY) == {"five_hour", "seven_day", "seven_day_opus"}
    assert set(p.ANTHROPIC_USAGE_NO_FIVE_HOUR) == {"seven_day", "seven_day_opus"}
    assert p.ANTHROPIC_429_HEADERS["retry-after"] == "183600"
    assert "retry-after" not in p.ANTHROPIC_200_HEADERS
    assert p.ANTHROPIC_200_HEADERS["anthropic-ratelimit-unified-5h-reset"] == "1790560800"


def test_copilot_payload_variants() -> None:
    premium = p.COPILOT_USER_PRO["quota_snapshots"]["premium_interactions"]
    assert (premium["entitlement"], premium["remaining"], premium["percent_remaining"]) == (300, 123, 41.0)
    over = p.COPILOT_USER_OVER["quota_snapshots"]["premium_interactions"]
    assert (over["remaining"], over["quota_remaining"], over["percent_remaining"]) == (-1, -1.0, -0.3333)
    placeholder = p.COPILOT_USER_PLACEHOLDER["quota_snapshots"]["premium_interactions"]
    assert (placeholder["entitlement"], placeholder["remaining"], placeholder["unlimited"]) == (0, 0, False)
    assert p.COPILOT_USER_PLACEHOLDER["token_based_billing"] is True
    assert premium["percent_remaining"] == 41.0  # the variants did not change the Pro payload
    assert "quota_snapshots" not in p.COPILOT_USER_FREE


def test_codex_jwt_is_a_real_three_part_token() -> None:
    token = p.codex_jwt(account_id="acct-1", plan="pro", email="a@example.com", expires_s=2_000_000_000)
    parts = token.split(".")
    assert len(parts) == 3 and all(parts) and "=" not in token
    assert json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))["typ"] == "JWT"
    claims = p.jwt_claims(token)
    assert claims[p.OPENAI_AUTH_CLAIM]["chatgpt_account_id"] == "acct-1"
    assert claims[p.OPENAI_AUTH_CLAIM]["chatgpt_plan_type"] == "pro"
    assert claims[p.OPENAI_PROFILE_CLAIM]["email"] == "a@example.com"
    assert claims["exp"] == 2_000_000_000
    bare = p.jwt_claims(p.codex_jwt(account_id=None, email=None))
    assert "chatgpt_account_id" not in bare[p.OPENAI_AUTH_CLAIM] and p.OPENAI_PROFILE_CLAIM not in bare


def test_auth_json_builds_pi_credentials(tmp_path: Any) -> None:
    document = p.auth_json()
    assert set(document) == {"openai-codex", "anthropic", "github-copilot", "google-gemini-cli",
                             "google-antigravity"}
    assert all(credential["type"] == "oauth" for credential in document.values())
    assert all(credential["expires"] > time.time() * 1000 for credential in document.values())
    codex = document["openai-codex"]
    assert p.jwt_claims(codex["access"])[p.OPENAI_AUTH_CLAIM]["chatgpt_account_id"] == codex["accountId"]
    assert document["anthropic"]["access"].startswith("sk-ant-oat01-")
    assert document["anthropic"]["refresh"].startswith("sk-ant-ort01-")
    copilot = document["github-copilot"]
    assert copilot["refresh"].startswith("gho_") and "proxy-ep=" in copilot["access"]
    assert document["google-gemini-cli"]["projectId"] == p.GOOGLE_PROJECT_ID
    custom = p.auth_json({"openai-codex-2": p.codex_credential(account_id=None, expires_ms=1),
                          "github-copilot-2": p.copilot_credential(copilot_token="gho_same",
                                                                   enterprise_url="ghe.example.com"),
                          "anthropic-2": p.api_key_credential("sk-ant-api03-x")})
    assert "accountId" not in custom["openai-codex-2"] and custom["openai-codex-2"]["expires"] == 1
    assert custom["github-copilot-2"]["access"] == "gho_same"
    assert custom["github-copilot-2"]["enterpriseUrl"] == "ghe.example.com"
    assert custom["anthropic-2"] == {"type": "api_key", "key": "sk-ant-api03-x"}
    path = p.write_auth_json(tmp_path / "agent" / "auth.json", {"anthropic": p.anthropic_credential(expires_ms=5)})
    assert json.loads(path.read_text()) == {"anthropic": p.anthropic_credential(expires_ms=5)}
