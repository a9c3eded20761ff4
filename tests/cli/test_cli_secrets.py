"""No command ever prints a credential from ``auth.json``, not even when the file is corrupt.

Every run made through the ``cli`` fixture already fails on a leaked secret (see
``cli_support.check_invariants``); these tests make sure the riskiest paths are actually run: every
command against an agent directory whose ``auth.json`` holds a unique secret, the file passed as a
policy by mistake, and broken credential files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_support import AT, DEMO, SECRETS, STATE_FILE, UNIQUE_REFRESH, UNIQUE_SECRET, Cli, Run


def _assert_clean(runs: Sequence[Run]) -> None:
    for run in runs:
        for secret in SECRETS:
            assert secret not in run.output, run.describe()


def test_no_command_prints_a_token(cli: Cli, demo_copy: Path, tmp_path: Path) -> None:
    agent = str(demo_copy)
    corp = demo_copy / "projects" / "corp"
    state = f"sqlite:///{tmp_path / 's.db'}"
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("validate", "--format", "json"), {"cwd": corp, "env": {"PI_CODING_AGENT_DIR": agent}}),
        (("validate", demo_copy / "auth.json", "policies/demo/auth.json"), {}),  # credentials passed by mistake
        (("eval", "--agent-dir", agent, "--at", AT, "--chain", "main", "--explain"), {}),
        (("eval", "--agent-dir", agent, "--at", AT, "--preset", "coding-premium", "--explain", "--format", "json",
          "--fail", ":429:rate_limit_error", "--fail", ":401:invalid token", "--state", state), {}),
        (("eval", "--agent-dir", agent, "--policy", demo_copy / "auth.json", "--chain", "main"), {}),
        (("test", "--format", "json", demo_copy), {}),
        (("state", "show", "--format", "json", "--agent-dir", agent), {}),
    ]
    validate, wrong_file, text, js, wrong_policy, tests, state_show = cli.many(calls)
    _assert_clean([validate, wrong_file, text, js, wrong_policy, tests, state_show])
    assert validate.returncode == 0 and tests.returncode == 0 and state_show.returncode == 0
    assert text.returncode == 0 and "target: anthropic" in text.stdout  # the credentials were read
    assert js.json()["target"] is not None
    assert wrong_file.returncode == 1 and wrong_policy.returncode == 1  # no policy, and no echo of the file
    assert not (demo_copy / STATE_FILE).exists()


CORRUPT = {
    "truncated": f'{{"anthropic": {{"type": "oauth", "access": "{UNIQUE_SECRET}", "refresh": "{UNIQUE_REFRESH}"'
    .encode(),
    "missing-comma": f'{{"anthropic": {{"access": "{UNIQUE_SECRET}" "refresh": "{UNIQUE_REFRESH}"}}}}'.encode(),
    "a-list": json.dumps([UNIQUE_SECRET, UNIQUE_REFRESH]).encode(),
    "a-string-credential": json.dumps({"anthropic": UNIQUE_SECRET}).encode(),
    "a-secret-as-key": json.dumps({UNIQUE_SECRET: {"type": "oauth"}}).encode(),
    "not-json-at-all": f"access={UNIQUE_SECRET}\n".encode(),
    "invalid-utf8": f'{{"anthropic": {{"type": "oauth", "access": "{UNIQUE_SECRET}\xff"}}}}'.encode("latin-1"),
}


@pytest.mark.parametrize("variant", list(CORRUPT))
def test_a_corrupt_auth_json_is_a_warning_not_a_leak(cli: Cli, tmp_path: Path, variant: str) -> None:
    (tmp_path / "multi-pass.yaml").write_bytes((DEMO / "multi-pass.yaml").read_bytes())
    (tmp_path / "auth.json").write_bytes(CORRUPT[variant])
    run = cli("eval", "--agent-dir", tmp_path, "--at", AT, "--chain", "main", "--state", "memory://",
              "--format", "json", "--explain")
    _assert_clean([run])
    assert run.returncode == 0, run.describe()
    data = run.json()  # warnings go to stderr; stdout stays JSON
    assert data["target"] is None  # no credential counts
    assert {s["reason"] for s in data["skipped"]} == {"no-auth"}
    if variant in ("truncated", "missing-comma", "not-json-at-all"):
        assert f"warning: {tmp_path / 'auth.json'}:" in run.stderr and "not valid JSON" in run.stderr, run.describe()
