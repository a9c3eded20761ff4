"""Credentials: reading pi's ``auth.json`` (presence only, never the secrets), ``StaticAuth`` and ``as_auth_source``.

DESIGN §3: credentials are read (never written) from ``<agentDir>/auth.json``; the behaviour
reference §2.12 gives its shape (``{type: "oauth", access, refresh, expires, ...}`` or
``{type: "api_key", key}``). A file that cannot be used means "nobody is logged in", with a
warning that never repeats the file's content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from child_process import run_child

from policy_engine.common.bounded_read import AUTH
from policy_engine.engine import Engine
from policy_engine.providers.auth import AuthFile, AuthSource, StaticAuth, as_auth_source

SECRET = "sk-ant-oat01-SECRET-TOKEN-VALUE"
REFRESH = "sk-ant-ort01-SECRET-REFRESH"

AUTH_JSON = {
    "anthropic": {"type": "oauth", "access": SECRET, "refresh": REFRESH, "expires": 1775470000000},
    "anthropic-2": {"type": "oauth", "access": SECRET + "2", "refresh": REFRESH, "expires": 1775470000000},
    "openai-codex": {"type": "oauth", "access": SECRET, "refresh": REFRESH, "expires": 1775470000000,
                     "accountId": "acc-123"},
    "google-gemini-cli": {"type": "oauth", "access": SECRET, "refresh": REFRESH, "expires": 1775470000000,
                          "projectId": "proj-1", "email": "me@example.com"},
    "github-copilot": {"type": "api_key", "key": SECRET},
}


def write_auth(directory: Path, content: str | dict[str, object]) -> Path:
    """Write ``auth.json`` (a dict is dumped as pi does, with two-space indentation)."""
    path = directory / "auth.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return path


def test_oauth_and_api_key_credentials_count_as_logged_in(tmp_path: Path) -> None:
    auth = AuthFile(write_auth(tmp_path, AUTH_JSON))
    assert auth.providers() == frozenset(AUTH_JSON)
    assert auth.has("anthropic-2")
    assert auth.has("github-copilot")
    assert not auth.has("anthropic-3")
    assert auth.warnings == []


@pytest.mark.parametrize(
    "credential",
    [{"type": "oauth"}, {"type": "api_key"}, {"key": "k"}, {"access": "a"}, {"token": "t"}],
)
def test_a_credential_with_a_known_type_or_a_secret_counts(tmp_path: Path, credential: dict[str, str]) -> None:
    assert AuthFile(write_auth(tmp_path, {"anthropic": credential})).has("anthropic")


@pytest.mark.parametrize("credential", [{}, {"access": ""}, {"type": "other"}, "sk-raw-string", None, 42, []])
def test_entries_that_are_not_credentials_do_not_count(tmp_path: Path, credential: object) -> None:
    auth = AuthFile(write_auth(tmp_path, {"anthropic": credential, "openai-codex": {"type": "api_key", "key": "k"}}))
    assert auth.providers() == frozenset({"openai-codex"})


def test_expiry_is_available_in_epoch_seconds_but_not_the_token(tmp_path: Path) -> None:
    auth = AuthFile(write_auth(tmp_path, AUTH_JSON))
    assert auth.expires_at("anthropic") == 1775470000.0
    assert auth.expires_at("github-copilot") is None
    assert auth.expires_at("nobody") is None


def test_missing_file_means_nobody_is_logged_in_without_a_warning(tmp_path: Path) -> None:
    auth = AuthFile(tmp_path / "auth.json")
    assert auth.providers() == frozenset()
    assert not auth.has("anthropic")
    assert auth.warnings == []


def test_empty_file_means_nobody_is_logged_in(tmp_path: Path) -> None:
    auth = AuthFile(write_auth(tmp_path, ""))
    assert auth.providers() == frozenset()
    assert all(SECRET not in w for w in auth.warnings)


def test_corrupt_file_gives_a_warning_with_position_but_never_the_content(tmp_path: Path) -> None:
    text = '{\n  "anthropic": {"type": "oauth", "access": "' + SECRET + '", "refresh": "' + REFRESH + '"\n'
    path = write_auth(tmp_path, text)
    auth = AuthFile(path)
    assert auth.providers() == frozenset()
    (warning,) = auth.warnings
    assert warning.startswith(f"{path}:")
    assert "not valid JSON" in warning
    assert SECRET not in warning and REFRESH not in warning and "sk-ant" not in warning


def test_a_secret_in_the_broken_spot_is_not_echoed(tmp_path: Path) -> None:
    path = write_auth(tmp_path, '{"anthropic": ' + SECRET + "}")  # the bare token is where JSON breaks
    auth = AuthFile(path)
    assert not auth.has("anthropic")
    (warning,) = auth.warnings
    assert SECRET not in warning
    assert "SECRET" not in warning


@pytest.mark.parametrize("content", [f'["{SECRET}"]', f'"{SECRET}"', "42", "null"])
def test_a_file_that_is_not_an_object_gives_a_warning_without_the_content(tmp_path: Path, content: str) -> None:
    auth = AuthFile(write_auth(tmp_path, content))
    assert auth.providers() == frozenset()
    (warning,) = auth.warnings
    assert "expected a JSON object" in warning
    assert SECRET not in warning


def test_an_unreadable_file_gives_a_warning(tmp_path: Path) -> None:
    (tmp_path / "auth.json").mkdir()  # a directory where the file should be
    auth = AuthFile(tmp_path / "auth.json")
    assert auth.providers() == frozenset()
    (warning,) = auth.warnings
    assert "cannot read credentials" in warning


def test_the_file_is_read_once_and_never_written(tmp_path: Path) -> None:
    path = write_auth(tmp_path, AUTH_JSON)
    before = path.read_bytes()
    auth = AuthFile(path)
    assert auth.has("anthropic")
    path.write_text("{}", encoding="utf-8")  # a later change is not seen by this reader
    assert auth.has("anthropic")
    path.write_bytes(before)
    assert path.read_bytes() == before


def test_static_auth_is_a_fixed_set() -> None:
    auth = StaticAuth(frozenset({"anthropic", "openai-codex-2"}))
    assert auth.has("openai-codex-2")
    assert not auth.has("openai-codex")
    assert auth.providers() == frozenset({"anthropic", "openai-codex-2"})
    assert isinstance(auth, AuthSource)


def test_as_auth_source_with_none_reads_auth_json_in_the_agent_directory(tmp_path: Path) -> None:
    write_auth(tmp_path, AUTH_JSON)
    source = as_auth_source(None, tmp_path)
    assert isinstance(source, AuthFile)
    assert source.path == tmp_path / "auth.json"
    assert source.has("anthropic")


def test_as_auth_source_passes_a_source_through() -> None:
    static = StaticAuth(frozenset({"anthropic"}))
    assert as_auth_source(static, Path(".")) is static

    class Custom:
        def has(self, provider: str) -> bool:
            return provider.startswith("openai")

        def providers(self) -> frozenset[str]:
            return frozenset({"openai-codex"})

    custom = Custom()
    assert as_auth_source(custom, Path(".")) is custom


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["anthropic", "anthropic-2"], {"anthropic", "anthropic-2"}),
        ({"openai-codex"}, {"openai-codex"}),
        (frozenset(), set()),
        ("anthropic", {"anthropic"}),
        ((p for p in ["a", "b"]), {"a", "b"}),
    ],
)
def test_as_auth_source_turns_names_into_static_auth(value: object, expected: set[str]) -> None:
    source = as_auth_source(value, Path("."))  # type: ignore[arg-type]
    assert isinstance(source, StaticAuth)
    assert source.providers() == frozenset(expected)


def test_as_auth_source_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="auth must be"):
        as_auth_source(42, Path("."))  # type: ignore[arg-type]


def test_engine_load_reads_auth_json_and_decisions_never_show_secrets(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    write_auth(agent, AUTH_JSON)
    (agent / "multi-pass.json").write_text(json.dumps({
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic-3", "anthropic-2",
                                                                             "anthropic"], "enabled": True}],
    }, indent=2), encoding="utf-8")
    engine = Engine.load(agent_dir=agent, project=tmp_path / "none", state="memory://", env={})
    d = engine.select(pool="claude", model="claude-sonnet-4-5", explain=True)
    assert d.target is not None and d.target.provider == "anthropic-2"
    text = json.dumps(d.to_dict())
    assert "no-auth" in text
    assert SECRET not in text and REFRESH not in text
    assert engine.auth_warnings == []


def test_engine_reports_auth_warnings_without_secrets(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    write_auth(agent, '{"anthropic": {"access": "' + SECRET + '"')
    engine = Engine.load(agent_dir=agent, project=tmp_path / "none", state="memory://", env={})
    assert engine.select("anthropic", model="m").target is None
    (warning,) = engine.auth_warnings
    assert SECRET not in warning



def test_a_new_login_is_seen_by_a_long_lived_reader(tmp_path: Path) -> None:
    """auth.json is read again when it changes (checked at most once per ``recheck`` seconds)."""
    import json as json_module

    from policy_engine.providers.auth import AuthFile

    path = tmp_path / "auth.json"
    path.write_text(json_module.dumps({"anthropic": {"type": "oauth", "access": "t1"}}), encoding="utf-8")
    auth = AuthFile(path, recheck=0.0)
    assert auth.providers() == {"anthropic"}
    path.write_text(json_module.dumps({"anthropic": {"type": "oauth", "access": "t1"},
                                       "anthropic-2": {"type": "oauth", "access": "t2xyz"}}), encoding="utf-8")
    assert auth.has("anthropic-2")
    path.write_text("{broken", encoding="utf-8")
    assert auth.providers() == frozenset()
    assert auth.warnings and all("t2xyz" not in w for w in auth.warnings)
    path.unlink()
    assert auth.providers() == frozenset()


# --- hostile files (issue 14): never a hang, never unbounded memory, never an internal error -------

_PROVIDERS_IN_CHILD = """
import json, sys
from pathlib import Path
from policy_engine.providers.auth import AuthFile
auth = AuthFile(Path(sys.argv[1]))
print(json.dumps({"providers": sorted(auth.providers()), "warnings": auth.warnings}))
"""


def test_a_fifo_as_auth_json_is_a_warning_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "auth.json")
    found = run_child(_PROVIDERS_IN_CHILD, str(tmp_path / "auth.json"))
    assert found["providers"] == []
    (warning,) = found["warnings"]
    assert "FIFO" in warning and "no account counts as logged in" in warning


def test_auth_json_linked_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    (tmp_path / "auth.json").symlink_to("/dev/zero")
    found = run_child(_PROVIDERS_IN_CHILD, str(tmp_path / "auth.json"))
    (warning,) = found["warnings"]
    assert "character device" in warning


def test_a_huge_auth_json_is_refused_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    with path.open("wb") as handle:  # sparse: 1 GiB that would not fit in the child's address space
        handle.truncate(1024 * 1024 * 1024)
    found = run_child(_PROVIDERS_IN_CHILD, str(path))
    (warning,) = found["warnings"]
    assert "too large" in warning and f"{AUTH.max_bytes:,} bytes" in warning


def test_a_symlink_loop_as_auth_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "auth.json").symlink_to("other.json")
    (tmp_path / "other.json").symlink_to("auth.json")
    auth = AuthFile(tmp_path / "auth.json")
    assert auth.providers() == frozenset()
    (warning,) = auth.warnings
    assert "symbolic link loop" in warning


def test_auth_json_nested_100000_deep_is_a_warning(tmp_path: Path) -> None:
    auth = AuthFile(write_auth(tmp_path, "[" * 100_000 + "]" * 100_000))
    assert auth.providers() == frozenset()
    (warning,) = auth.warnings
    assert "nested too deeply" in warning and str(tmp_path / "auth.json") in warning


@pytest.mark.parametrize("expires", ["9223372036854775808", "NaN", "Infinity", "-Infinity", "1e400", "-1"])
def test_an_expiry_that_is_no_real_time_counts_as_unknown(tmp_path: Path, expires: str) -> None:
    text = json.dumps({"anthropic": {"type": "oauth", "access": SECRET, "expires": "@"},
                       "anthropic-2": AUTH_JSON["anthropic-2"]}).replace('"@"', expires)
    auth = AuthFile(write_auth(tmp_path, text))
    assert auth.providers() == frozenset({"anthropic", "anthropic-2"})  # still logged in
    assert auth.expires_at("anthropic") is None
    assert auth.expires_at("anthropic-2") == 1775470000.0
    (warning,) = auth.warnings
    assert "$.anthropic.expires" in warning and "1970 and 9000" in warning
    assert SECRET not in warning
