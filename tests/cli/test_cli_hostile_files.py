"""Hostile files cannot hurt the engine (issue 14, classes 1, 4 and 7), end to end through ``mp-policy``.

Every hostile file is built here: FIFOs, links to ``/dev/zero``, directories, symlink loops,
``/proc`` files, deep nesting, huge sparse files, NUL bytes and lone surrogates in path fields,
times in year 1 or 9999. Each command runs as a subprocess with a generous timeout (a hang fails
the test instead of hanging the suite) and an address-space limit (a read without bound dies
instead of swapping), and must answer with the documented exit code and a located message:
exit 1 for a bad file, 2 for a bad command-line value, never 3 (internal error).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import Run, copy_demo, run_limited

#: A hang is a failure, not a stuck suite; a normal run takes well under a second.
TIMEOUT = 60.0
#: The CLI runs in 400 MiB of address space; a read without bound (``/dev/zero``, a 1 GiB file) does not fit.
AS_LIMIT = 400 * 1024 * 1024


def mp(*args: str | os.PathLike[str], cwd: Path) -> Run:
    """``mp-policy ARGS`` in ``cwd`` (its own HOME), under the time and address-space limits."""
    run = run_limited(*args, cwd=cwd, timeout=TIMEOUT, address_space=AS_LIMIT)
    assert "internal error" not in run.output, run.describe()
    return run


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of ``policies/demo`` (policy, auth.json, tests, events) in a temporary directory."""
    return copy_demo(tmp_path / "demo")


# --- class 1: what the engine reads ---------------------------------------------------------------


def test_a_fifo_policy_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "policy.yaml")
    run = mp("validate", "policy.yaml", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert "policy.yaml: file-unreadable: policy.yaml is a FIFO (named pipe), not a regular file" in run.output


def test_a_fifo_as_the_global_policy_is_reported_not_passed_over(demo: Path) -> None:
    (demo / "multi-pass.yaml").unlink()
    os.mkfifo(demo / "multi-pass.yaml")
    run = mp("eval", "--agent-dir", demo, "--chain", "main", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert f"{demo / 'multi-pass.yaml'}: file-unreadable:" in run.output and "FIFO" in run.output


def test_a_fifo_project_overlay_is_reported_not_passed_over(demo: Path) -> None:
    project = demo / "work"
    (project / ".pi").mkdir(parents=True)
    os.mkfifo(project / ".pi" / "multi-pass.yaml")
    run = mp("eval", "--agent-dir", demo, "--project", project, "--chain", "main", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "multi-pass.yaml: file-unreadable:" in run.output and "FIFO" in run.output


def test_a_directory_named_like_the_policy_is_reported(demo: Path) -> None:
    (demo / "multi-pass.yaml").unlink()
    (demo / "multi-pass.yaml").mkdir()
    run = mp("eval", "--agent-dir", demo, "--chain", "main", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "is a directory, not a regular file" in run.output


def test_a_policy_linked_to_dev_zero_is_refused_as_a_device(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").symlink_to("/dev/zero")
    run = mp("validate", "policy.yaml", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert "policy.yaml: file-unreadable: policy.yaml is a character device, not a regular file" in run.output


def test_a_proc_file_is_one_refusal_not_a_policy_with_unknown_keys(tmp_path: Path) -> None:
    run = mp("validate", "--format", "json", "/proc/self/status", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    [diagnostic] = run.json()["diagnostics"]
    assert diagnostic["code"] == "file-unreadable" and diagnostic["file"] == "/proc/self/status"
    assert "/proc pseudo file system" in diagnostic["message"]


def test_a_symlink_loop_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    run = mp("validate", "a.yaml", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert "a.yaml is a symbolic link loop" in run.output


def test_a_fifo_policy_test_is_a_failed_file(demo: Path) -> None:
    os.mkfifo(demo / "pipe.test.yaml")
    run = mp("test", "pipe.test.yaml", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "pipe.test.yaml is a FIFO (named pipe)" in run.output
    assert run.last_line == "0 passed, 1 failed"


def test_a_fifo_event_script_is_an_invalid_event_script(demo: Path) -> None:
    os.mkfifo(demo / "events.yaml")
    run = mp("simulate", "--agent-dir", demo, "--events", "events.yaml", "--period", "1h", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "events.yaml: file-unreadable: events.yaml is a FIFO" in run.output


def test_editing_a_fifo_policy_changes_nothing_and_does_not_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "policy.yaml")
    run = mp("subs", "add", "anthropic", "--policy", "policy.yaml", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert "FIFO" in run.output


SELECTOR_POLICY = """\
subscriptions:
  - {provider: anthropic, index: 2}
pools:
  - {name: fifo, baseProvider: anthropic, members: [anthropic], strategy: custom, selectorScript: fifo.py}
  - {name: zero, baseProvider: openai-codex, members: [openai-codex], strategy: custom, selectorScript: zero.py}
  - {name: loop, baseProvider: google-gemini-cli, members: [google-gemini-cli], strategy: custom,
     selectorScript: loop.py}
  - {name: dir, baseProvider: github-copilot, members: [github-copilot], strategy: custom, selectorScript: dir.js}
  - {name: plain, baseProvider: anthropic, members: [anthropic-2]}
chains:
  - name: main
    entries:
      - {pool: fifo, model: claude-sonnet-4-5}
      - {pool: plain, model: claude-sonnet-4-5}
"""


@pytest.fixture
def selectors(tmp_path: Path) -> Path:
    """An agent directory whose custom pools point at a FIFO, /dev/zero, a symlink loop and a directory."""
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "loop.py").symlink_to("loop2.py")
    (tmp_path / "loop2.py").symlink_to("loop.py")
    (tmp_path / "dir.js").mkdir()
    (tmp_path / "multi-pass.yaml").write_text(SELECTOR_POLICY, encoding="utf-8")
    accounts = ("anthropic", "anthropic-2", "openai-codex", "google-gemini-cli", "github-copilot")
    (tmp_path / "auth.json").write_text(json.dumps({a: {"type": "api_key", "key": "k"} for a in accounts}),
                                        encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("pool", "member", "reason"), [
    ("fifo", "anthropic", "selector fifo.py: is a FIFO (named pipe), not a regular file"),
    ("zero", "openai-codex", "selector zero.py: is a character device, not a regular file"),
    ("loop", "google-gemini-cli", "selector loop.py: is a symbolic link loop"),
    ("dir", "github-copilot", "selector dir.js: is a directory, not a regular file"),
])
def test_an_unreadable_selector_makes_only_its_pool_fall_back(selectors: Path, pool: str, member: str,
                                                              reason: str) -> None:
    run = mp("eval", "--agent-dir", selectors, "--pool", pool, "--format", "json", cwd=selectors)
    assert run.returncode == 0, run.describe()
    decision = run.json()
    assert decision["target"]["provider"] == member
    strategy = next(s for s in decision["strategy"] if s["pool"] == pool)
    assert strategy["fallback"] is True
    assert strategy["note"].startswith(reason), strategy


def test_pools_without_selectors_decide_normally_next_to_broken_ones(selectors: Path) -> None:
    run = mp("eval", "--agent-dir", selectors, "--chain", "main", "--fail", "anthropic:429", "--format", "json",
             cwd=selectors)
    assert run.returncode == 0, run.describe()
    decision = run.json()
    assert decision["target"]["provider"] == "anthropic-2"
    assert {"pool": "plain", "name": "round-robin", "fallback": False, "note": ""} in decision["strategy"]
    validate = mp("validate", "--agent-dir", selectors, cwd=selectors)
    assert validate.returncode == 0, validate.describe()  # unreadable scripts are warnings, at the field
    assert "multi-pass.yaml:4:" in validate.output and "$.pools[0].selectorScript" in validate.output


def test_a_fifo_auth_json_means_nobody_is_logged_in_with_a_warning(demo: Path) -> None:
    (demo / "auth.json").unlink()
    os.mkfifo(demo / "auth.json")
    run = mp("eval", "--agent-dir", demo, "--chain", "main", "--format", "json", cwd=demo)
    assert run.returncode == 0, run.describe()
    assert run.json()["target"] is None
    assert f"{demo / 'auth.json'}: cannot read credentials: is a FIFO (named pipe)" in run.output


def test_a_huge_auth_json_is_refused_without_reading_it(demo: Path) -> None:
    with (demo / "auth.json").open("wb") as handle:  # sparse: 1 GiB, more than the CLI's address space
        handle.truncate(1024 * 1024 * 1024)
    run = mp("eval", "--agent-dir", demo, "--chain", "main", cwd=demo)
    assert run.returncode == 0, run.describe()
    assert "is too large to be pi's auth.json: 1,073,741,824 bytes" in run.output


# --- class 4: path strings ------------------------------------------------------------------------

POOLS = [{"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"]}]


def _custom_pool(script: str) -> list[dict[str, object]]:
    return [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"], "strategy": "custom",
             "selectorScript": script}, *POOLS]


@pytest.mark.parametrize(("policy", "path", "problem"), [
    ({"pools": _custom_pool("sel\0ector.py")}, "$.pools[0].selectorScript", "contains a NUL byte"),
    ({"pools": _custom_pool("sel\udc80.py")}, "$.pools[0].selectorScript", "contains a lone surrogate '\\udc80'"),
    ({"pools": _custom_pool("sel\ud800.py")}, "$.pools[0].selectorScript", "contains a lone surrogate '\\ud800'"),
    ({"settings": {"state": "sqlite:///tmp/x\0y.db"}, "pools": POOLS}, "$.settings.state", "contains a NUL byte"),
    ({"settings": {"state": "sqlite:///x\udc80y.db"}, "pools": POOLS}, "$.settings.state", "lone surrogate"),
])
def test_unusable_path_strings_are_located_validation_errors(tmp_path: Path, policy: dict[str, object], path: str,
                                                             problem: str) -> None:
    file = tmp_path / "multi-pass.json"
    file.write_text(json.dumps(policy, indent=2), encoding="utf-8")  # JSON carries \u0000 and \udc80 escapes
    for args in (("validate", "multi-pass.json"), ("eval", "--agent-dir", tmp_path, "--pool", "codex")):
        run = mp(*args, cwd=tmp_path)
        assert run.returncode == 1, run.describe()
        line = next(x for x in run.output.splitlines() if f"(at {path})" in x)
        where, _, rest = line.partition(": path: ")
        assert where.endswith("multi-pass.json:10:25" if "selectorScript" in path else "multi-pass.json:3:14"), line
        assert problem in rest, run.describe()


def test_a_nul_byte_in_a_yaml_selector_script_is_located(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text(
        "pools:\n  - name: claude\n    baseProvider: anthropic\n    members: [anthropic]\n    strategy: custom\n"
        '    selectorScript: "sel\\0ector.py"\n', encoding="utf-8")
    run = mp("validate", "--agent-dir", tmp_path, cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert "multi-pass.yaml:6:21: path: selectorScript contains a NUL byte" in run.output


@pytest.mark.parametrize(("key", "value"), [("policy", "multi\udc80.yaml"), ("policy", "multi\0.yaml"),
                                            ("project", "proj\udc80")])
def test_unusable_paths_in_a_policy_test_are_located(demo: Path, key: str, value: str) -> None:
    test = {"policy": "multi-pass.yaml", "given": {"at": "2026-11-24T10:30:00+01:00"},
            "cases": [{"name": "x", "steps": [{"select": {"chain": "main"}}]}]}
    test[key] = value
    (demo / "bad.test.yaml").write_text(json.dumps(test, indent=2), encoding="utf-8")
    run = mp("test", "bad.test.yaml", cwd=demo)
    assert run.returncode == 1, run.describe()
    line = next(x for x in run.output.splitlines() if f"(at $.{key})" in x)
    assert line.startswith("bad.test.yaml:") and ": path: " in line, run.describe()


# --- class 7: crashes found -----------------------------------------------------------------------


def test_auth_json_nested_100000_deep_is_a_warning_not_an_internal_error(demo: Path) -> None:
    (demo / "auth.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    run = mp("eval", "--agent-dir", demo, "--chain", "main", cwd=demo)
    assert run.returncode == 0, run.describe()
    assert f"{demo / 'auth.json'}: nested too deeply" in run.output


@pytest.mark.parametrize("expires", ["9223372036854775808", "NaN", "Infinity"])
def test_subs_status_with_an_expiry_that_is_no_time(demo: Path, expires: str) -> None:
    auth = json.loads((demo / "auth.json").read_text(encoding="utf-8"))
    auth["anthropic"]["expires"] = "@"
    (demo / "auth.json").write_text(json.dumps(auth).replace('"@"', expires), encoding="utf-8")
    run = mp("subs", "status", "--agent-dir", demo, "--format", "json", cwd=demo)
    assert run.returncode == 0, run.describe()
    rows = {row["name"]: row for row in run.json()["accounts"]}
    assert rows["anthropic"]["loggedIn"] is True and rows["anthropic"]["expiresAt"] is None
    assert rows["anthropic-2"]["expiresAt"] is not None
    assert "(at $.anthropic.expires) is not a time between 1970 and 9000" in run.output


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00"])
def test_simulate_start_out_of_range_is_a_usage_error(demo: Path, start: str) -> None:
    run = mp("simulate", "--agent-dir", demo, "--start", start, "--period", "1d", "--step", "1h", cwd=demo)
    assert run.returncode == 2, run.describe()
    assert "Invalid value for --start" in run.output and "the year must be between 1970 and 9000" in run.output


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00"])
def test_an_event_script_start_out_of_range_is_located(demo: Path, start: str) -> None:
    (demo / "events.yaml").write_text(f'period: 1d\nstep: 1h\nstart: "{start}"\n', encoding="utf-8")
    run = mp("simulate", "--agent-dir", demo, "--events", "events.yaml", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "events.yaml:3:8: time:" in run.output and "(at $.start)" in run.output
    assert "the year must be between 1970 and 9000" in run.output


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00+00:00"])
def test_a_policy_test_clock_out_of_range_names_file_and_line(demo: Path, at: str) -> None:
    (demo / "clock.test.yaml").write_text(
        f'policy: multi-pass.yaml\ngiven:\n  at: "{at}"\ncases:\n  - name: one\n    steps:\n'
        "      - select: {chain: main}\n", encoding="utf-8")
    run = mp("test", "clock.test.yaml", cwd=demo)
    assert run.returncode == 1, run.describe()
    assert "clock.test.yaml:3:7: date-time:" in run.output and "(at $.given.at)" in run.output, run.describe()
    assert "the year must be between 1970 and 9000" in run.output
