"""Each built-in quota checker against a real local HTTP server speaking the provider's payloads."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import payloads as P
import pytest
from provider_server import ProviderServer, Reply

from policy_engine.plugins import get_registry
from policy_engine.providers.families import read_credential
from policy_engine.quota.runner import QuotaAccount, run_checks

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)
CODEX = "/backend-api/wham/usage"
ANTHROPIC = "/api/oauth/usage"
COPILOT = "/copilot_internal/user"
GEMINI = "/v1internal:retrieveUserQuota"
AG_SANDBOX = "/sandbox/v1internal:fetchAvailableModels"
AG_PROD = "/prod/v1internal:fetchAvailableModels"


def check(server: ProviderServer, account: str, entry: dict[str, Any] | None, *, timeout: float = 5.0,
          env: dict[str, str] | None = None, endpoints: dict[str, tuple[str, ...]] | None = None) -> Any:
    """Run the registered checker of ``account``'s family against the server."""
    checkers = get_registry().quota_checkers
    base = next(b for b in checkers if account == b or account.startswith(b + "-"))
    credential = read_credential(entry) if entry is not None else None
    environment = server.env() if env is None else env
    [snap] = run_checks([QuotaAccount(account, base, account, credential)], checkers, now=NOW, env=environment,
                        endpoints=endpoints or {}, timeout=timeout)
    return snap


def windows(snap: Any) -> dict[str, float | None]:
    return {w.name: w.remaining for w in snap.windows}


def all_text(snap: Any) -> str:
    return f"{snap.summary} {snap.windows}"


def test_all_five_builtin_checkers_are_registered() -> None:
    assert set(get_registry().quota_checkers) == {"openai-codex", "google-gemini-cli", "google-antigravity",
                                                  "anthropic", "github-copilot"}


# -- happy paths, and what each request carries --------------------------------------------------

def test_codex_happy_path_and_request(quota_server: ProviderServer) -> None:
    entry = P.codex_credential()
    snap = check(quota_server, "openai-codex-2", entry)
    assert (snap.provider, snap.remaining, snap.status) == ("openai-codex-2", 58, "ready")
    [request] = quota_server.requests_to(CODEX)
    assert request.method == "GET" and request.token == entry["access"]
    assert request.headers["chatgpt-account-id"] == P.CODEX_ACCOUNT_ID


def test_codex_account_id_comes_from_the_token_claim(quota_server: ProviderServer) -> None:
    entry = P.codex_credential(account_id=None)
    assert "accountId" not in entry
    assert check(quota_server, "openai-codex", entry).status == "ready"
    assert quota_server.requests_to(CODEX)[0].headers["chatgpt-account-id"] == P.CODEX_ACCOUNT_ID


def test_codex_swapped_windows_over_http(quota_server: ProviderServer) -> None:
    quota_server.reply("GET", CODEX, Reply(json=P.CODEX_USAGE_SWAPPED))
    assert windows(check(quota_server, "openai-codex", P.codex_credential())) == {"5h": 90, "7d": 65}


def test_gemini_happy_path_sends_the_project(quota_server: ProviderServer) -> None:
    snap = check(quota_server, "google-gemini-cli", P.google_credential())
    assert (snap.remaining, snap.status, windows(snap)) == (25, "watch", {"Flash": 25, "Pro": 82})
    [request] = quota_server.requests_to(GEMINI)
    assert request.method == "POST" and request.json() == {"project": P.GOOGLE_PROJECT_ID}
    assert not quota_server.requests_to("/token")  # a valid token is not refreshed


def test_antigravity_happy_path_uses_the_sandbox_first(quota_server: ProviderServer) -> None:
    snap = check(quota_server, "google-antigravity", P.google_credential())
    assert (snap.remaining, snap.status) == (42, "ready")
    assert [r.path for r in quota_server.requests if r.path.endswith("fetchAvailableModels")] == [AG_SANDBOX]
    assert "Client-Metadata".lower() in quota_server.requests_to(AG_SANDBOX)[0].headers


def test_anthropic_happy_path_sends_the_oauth_beta(quota_server: ProviderServer) -> None:
    snap = check(quota_server, "anthropic", P.anthropic_credential())
    assert (snap.remaining, snap.status) == (58, "ready")
    assert quota_server.requests_to(ANTHROPIC)[0].headers["anthropic-beta"] == "oauth-2025-04-20"


def test_copilot_happy_path_uses_the_github_token(quota_server: ProviderServer) -> None:
    entry = P.copilot_credential()
    snap = check(quota_server, "github-copilot", entry)
    assert (snap.remaining, snap.status) == (41, "ready")
    [request] = quota_server.requests_to(COPILOT)
    assert request.headers["authorization"] == f"token {entry['refresh']}"
    assert request.headers["x-github-api-version"] == "2025-04-01"


def test_policy_settings_endpoints_are_used_when_no_environment_variable_is_set(quota_server: ProviderServer
                                                                                ) -> None:
    endpoints = {"anthropic": (quota_server.url,)}
    snap = check(quota_server, "anthropic", P.anthropic_credential(), env={}, endpoints=endpoints)
    assert snap.remaining == 58
    # The environment wins over the settings.
    bogus = {"anthropic": ("http://127.0.0.1:9",)}
    assert check(quota_server, "anthropic", P.anthropic_credential(), endpoints=bogus).remaining == 58


# -- missing or unusable credentials -----------------------------------------------------------

@pytest.mark.parametrize(("account", "entry", "summary"), [
    ("openai-codex", None, "not logged in"),
    ("openai-codex", P.api_key_credential("sk-proj-abcdef"), "not logged in"),
    ("anthropic", P.api_key_credential("sk-ant-api03-abcdef"), "an API key has no subscription quota"),
    ("google-gemini-cli", {"type": "oauth", "access": "", "refresh": "", "projectId": "p"}, "missing Google tokens"),
    ("google-antigravity", None, "not logged in"),
    ("github-copilot", {"type": "oauth", "access": "tid=1;exp=2", "refresh": ""}, "not logged in"),
])
def test_missing_auth(quota_server: ProviderServer, account: str, entry: dict[str, Any] | None,
                      summary: str) -> None:
    snap = check(quota_server, account, entry)
    assert (snap.status, snap.summary, snap.remaining) == ("missing-auth", summary, None)
    assert not quota_server.requests


# -- failure modes -------------------------------------------------------------------------------

ERRORS = [
    ("openai-codex", CODEX, P.codex_credential, P.CODEX_401, ["HTTP 401", "log in again"]),
    ("anthropic", ANTHROPIC, P.anthropic_credential, P.ANTHROPIC_401_EXPIRED, ["HTTP 401", "log in again"]),
    ("anthropic", ANTHROPIC, P.anthropic_credential, P.ANTHROPIC_403_SCOPE, ["HTTP 403", "user:profile"]),
    ("anthropic", ANTHROPIC, P.anthropic_credential, P.ANTHROPIC_429, ["HTTP 429", "retry after 300s"]),
    ("github-copilot", COPILOT, P.copilot_credential, P.COPILOT_401, ["HTTP 401", "Bad credentials", "log in again"]),
    ("github-copilot", COPILOT, P.copilot_credential, P.COPILOT_403, ["HTTP 403", "Copilot access"]),
    ("google-gemini-cli", GEMINI, P.google_credential, P.GOOGLE_401, ["HTTP 401", "log in again"]),
    ("google-gemini-cli", GEMINI, P.google_credential, P.GOOGLE_403_PERMISSION,
     ["HTTP 403", "does not have permission", "project"]),
    ("openai-codex", CODEX, P.codex_credential, P.GENERIC_500, ["HTTP 500", "Internal Server Error"]),
    ("anthropic", ANTHROPIC, P.anthropic_credential, P.GARBAGE_JSON, ["invalid JSON from", ANTHROPIC]),
    ("github-copilot", COPILOT, P.copilot_credential, P.EMPTY_BODY_502, ["HTTP 502"]),
]


@pytest.mark.parametrize(("account", "path", "make", "reply", "words"), ERRORS,
                         ids=[f"{e[0]}-{e[3].status}" for e in ERRORS])
def test_http_failures_are_specific_and_never_show_a_token(quota_server: ProviderServer, account: str, path: str,
                                                            make: Any, reply: Reply, words: list[str]) -> None:
    entry = make()
    quota_server.reply("POST" if path == GEMINI else "GET", path, reply)
    snap = check(quota_server, account, entry)
    assert snap.status == "error" and snap.remaining is None
    for word in words:
        assert word in snap.summary, snap.summary
    for secret in (v for v in entry.values() if isinstance(v, str) and len(v) > 8):
        assert secret not in all_text(snap)


def test_a_body_that_echoes_the_token_is_scrubbed(quota_server: ProviderServer) -> None:
    entry = P.anthropic_credential()
    quota_server.reply("GET", ANTHROPIC, Reply(status=400, json={"error": {
        "message": f"bad token {entry['access']}"}}))
    snap = check(quota_server, "anthropic", entry)
    assert entry["access"] not in snap.summary and "***" in snap.summary


def test_a_slow_endpoint_times_out_and_others_are_not_held_up(quota_server: ProviderServer) -> None:
    quota_server.reply("GET", CODEX, Reply(json=P.CODEX_USAGE, delay=3.0))
    started = time.monotonic()
    snap = check(quota_server, "openai-codex", P.codex_credential(), timeout=0.3)
    assert time.monotonic() - started < 2.5
    assert snap.status == "error" and "timed out after 0.3s" in snap.summary
    assert check(quota_server, "anthropic", P.anthropic_credential()).remaining == 58  # the server still serves


def test_a_dropped_connection_is_an_error(quota_server: ProviderServer) -> None:
    quota_server.reply("GET", ANTHROPIC, Reply(close=True))
    snap = check(quota_server, "anthropic", P.anthropic_credential())
    assert snap.status == "error" and snap.summary.startswith("cannot reach 127.0.0.1")


def test_an_unreachable_endpoint_is_an_error() -> None:
    server = ProviderServer()  # never started: take a free port by starting and stopping one
    with server:
        env = server.env()
    snap = check(server, "anthropic", P.anthropic_credential(), env=env, timeout=1.0)
    assert snap.status == "error" and "cannot reach" in snap.summary


def test_an_expired_anthropic_token_is_not_sent(quota_server: ProviderServer) -> None:
    snap = check(quota_server, "anthropic", P.anthropic_credential(expires_ms=1000))
    assert snap.status == "error" and "expired" in snap.summary
    assert not quota_server.requests


# -- Google token refresh and endpoint fallback ------------------------------------------------------

def test_an_expired_google_token_is_refreshed_and_not_saved(quota_server: ProviderServer, tmp_path: Any) -> None:
    entry = P.google_credential(expires_ms=int(NOW.timestamp() * 1000) + 30_000)  # expires within the minute
    auth = P.write_auth_json(tmp_path / "auth.json", {"google-gemini-cli": entry})
    before = auth.read_bytes()
    snap = check(quota_server, "google-gemini-cli", entry)
    assert snap.remaining == 25
    [token_request] = quota_server.requests_to("/token")
    assert token_request.form()["refresh_token"] == entry["refresh"]
    assert token_request.form()["grant_type"] == "refresh_token"
    assert quota_server.requests_to(GEMINI)[0].token == f"refreshed-{entry['refresh']}"
    assert auth.read_bytes() == before


def test_a_rejected_refresh_says_log_in_again(quota_server: ProviderServer) -> None:
    entry = P.google_credential(expires_ms=1000, refresh=P.BAD_REFRESH_TOKEN)
    snap = check(quota_server, "google-antigravity", entry)
    assert snap.status == "error"
    assert "token refresh failed" in snap.summary and "log in again" in snap.summary
    assert "Token has been expired or revoked" in snap.summary
    assert not quota_server.requests_to(AG_SANDBOX)


def test_an_expired_token_without_refresh_is_tried_anyway(quota_server: ProviderServer) -> None:
    entry = P.google_credential(expires_ms=1000, refresh="")
    assert check(quota_server, "google-gemini-cli", entry).remaining == 25
    assert quota_server.requests_to(GEMINI)[0].token == entry["access"]


@pytest.mark.parametrize("failure", [P.GENERIC_500, Reply(close=True), Reply(json=P.ANTIGRAVITY_MODELS, delay=3.0)],
                         ids=["http-500", "dropped", "timeout"])
def test_antigravity_falls_back_to_production(quota_server: ProviderServer, failure: Reply) -> None:
    quota_server.reply("POST", AG_SANDBOX, failure)
    snap = check(quota_server, "google-antigravity", P.google_credential(), timeout=0.5)
    assert snap.remaining == 42, snap.summary
    assert len(quota_server.requests_to(AG_PROD)) == 1


def test_antigravity_reports_the_last_error_when_every_endpoint_fails(quota_server: ProviderServer) -> None:
    quota_server.reply("POST", AG_SANDBOX, P.GENERIC_500)
    quota_server.reply("POST", AG_PROD, P.GOOGLE_403_PERMISSION)
    snap = check(quota_server, "google-antigravity", P.google_credential())
    assert snap.status == "error" and "HTTP 403" in snap.summary and "projectId" in snap.summary


def test_registering_the_checkers_does_not_import_httpx() -> None:
    """Every command loads the registry; httpx (~0.1 s to import) is only for commands that check quota."""
    import subprocess
    import sys

    code = ("import sys; from policy_engine.plugins import get_registry; from policy_engine.engine import Engine; "
            "assert len(get_registry().quota_checkers) == 5; print('httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
