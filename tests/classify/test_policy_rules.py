"""Policy errorRules from files people clone: a hostile ``match`` cannot stall a decision.

Each decision runs in a child process with a generous time limit, so a regression (a pattern
searched by a backtracking engine again) fails here instead of hanging the suite. The crafted
messages put the near-miss inside the 4,096 characters of a message that rules see, and are
50-100k characters long in all.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from policy_engine.classify import Classifier, ErrorInfo, PolicyErrorRule
from policy_engine.classify.rule_patterns import MAX_TOTAL_PROGRAM_SIZE, compile_rule_pattern
from policy_engine.common.diagnostics import PolicyError
from policy_engine.compile.compiler import compile_policy
from policy_engine.plugins import get_registry
from policy_engine.policy.loader import load_text
from policy_engine.policy.merge import merge_policy

MP_POLICY = Path(sys.executable).parent / "mp-policy"
NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
DECISION_TIMEOUT = 10.0  # seconds; a backtracking search of these cases would take longer than a lifetime

GLOBAL_POLICY = """\
version: 1
settings: {timezone: UTC}
subscriptions:
  - {provider: anthropic, index: 2}
pools:
  - {name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2]}
"""

#: Loads the set-up from files, starts a turn, reports one failure with the message read from a file.
RUNNER = """\
import json, sys
from pathlib import Path
from policy_engine.engine import Engine

agent, project, text_file, where = sys.argv[1:5]
engine = Engine.load(agent_dir=agent, project=project, state="memory://", env={},
                     auth={"anthropic", "anthropic-2"}, quota_refresh=False)
turn = engine.select(pool="claude", model="m").turn
text = Path(text_file).read_text(encoding="utf-8")
fields = {"message": text} if where == "message" else {"body": text}
decision = engine.fail(turn, status=400, **fields)
print(json.dumps(decision.to_dict()["error"]))
"""

NEAR_MISS = "a" * 4000 + "!" + "b" * 60_000  # a long run of a, then what the pattern did not expect
SPARSE_A = ("a" + "x" * 150) * 24 + "x" * 60_000  # 24 a's where (.*a){25} wants 25

#: (pattern, crafted message, whether the pattern occurs in what rules see of it)
HOSTILE = [
    (r"(.|.)*x$", NEAR_MISS, False),
    (r"(a|a)*$", NEAR_MISS, True),  # the empty match at the end
    (r"(?:a|aa)+$", NEAR_MISS, False),
    (r"(.*a){25}", SPARSE_A, False),
    (r"(a+)+$", NEAR_MISS, False),
    (r"(a|aa)*b", NEAR_MISS, True),  # the b after the "!"
    (r"^(\w+\s?)*$", NEAR_MISS, False),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "MULTI_SUB")}
    env["MP_POLICY_QUOTA_REFRESH"] = "0"
    return env


def _set_up(tmp_path: Path, rules: list[dict[str, Any]]) -> tuple[Path, Path]:
    """A global policy in an agent directory and a cloned project whose overlay carries ``rules``."""
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(GLOBAL_POLICY, encoding="utf-8")
    project = tmp_path / "cloned-repo"
    (project / ".pi").mkdir(parents=True)
    lines = ["errorRules:"] + [f"  - {json.dumps(rule)}" for rule in rules]
    (project / ".pi" / "multi-pass.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return agent, project


def _decide(tmp_path: Path, agent: Path, project: Path, text: str, where: str = "message") -> dict[str, Any]:
    """The error part of the decision of one failure, from a child process that must answer in time."""
    text_file = tmp_path / "error.txt"
    text_file.write_text(text, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, str(agent), str(project), str(text_file), where],
            capture_output=True, text=True, timeout=DECISION_TIMEOUT, env=_env(), check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"no decision within {DECISION_TIMEOUT:.0f} s: the pattern backtracks")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(("pattern", "message", "found"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_hostile_pattern_in_a_cloned_project_cannot_stall_a_decision(
    tmp_path: Path, pattern: str, message: str, found: bool
) -> None:
    agent, project = _set_up(tmp_path, [{"match": pattern, "kind": "quota_exhausted"}])
    error = _decide(tmp_path, agent, project, message)
    assert error["kind"] == ("quota_exhausted" if found else "other")
    assert error["reason"].startswith("policy errorRules[1]") is found


def test_the_hostile_patterns_validate_and_still_match_what_they_describe(tmp_path: Path) -> None:
    agent, project = _set_up(tmp_path, [{"match": pattern, "kind": "quota_exhausted"} for pattern, _, _ in HOSTILE])
    done = subprocess.run([str(MP_POLICY), "validate", "--agent-dir", str(agent), "--project", str(project)],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    matching = {r"(.|.)*x$": "box", r"(a|a)*$": "anything", r"(?:a|aa)+$": "AAA", r"(.*a){25}": "a" * 25,
                r"(a+)+$": "xa", r"(a|aa)*b": "blocked", r"^(\w+\s?)*$": "Rate limited"}
    for pattern, text in matching.items():
        classifier = Classifier([PolicyErrorRule.from_dict({"match": pattern, "kind": "auth"})])
        assert classifier.classify(ErrorInfo("anthropic", "anthropic", status=400, message=text),
                                   NOW).kind == "auth", pattern


def test_a_hostile_pattern_meets_a_10_mb_json_body(tmp_path: Path) -> None:
    agent, project = _set_up(tmp_path, [{"match": r"(a|aa)*c", "kind": "overloaded"}])
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "a" * 10_000_000}})
    assert _decide(tmp_path, agent, project, body, where="body")["kind"] == "other"
    body = json.dumps({"error": {"message": "a" * 3000 + "c" + "a" * 10_000_000}})
    assert _decide(tmp_path, agent, project, body, where="body")["kind"] == "overloaded"


def test_a_policy_at_the_size_limit_answers_on_an_adversarial_100_kb_message(tmp_path: Path) -> None:
    """Patterns RE2 cannot cache an automaton for, as many as the limit allows: still a prompt answer."""
    pattern = "[ab]*a[ab]{999}c"
    count = MAX_TOTAL_PROGRAM_SIZE // compile_rule_pattern(pattern).size
    agent, project = _set_up(tmp_path, [{"match": f"{pattern}{i}", "kind": "auth"} for i in range(count)])
    rng = random.Random(14)
    message = "".join(rng.choice("ab") for _ in range(100_000))
    assert _decide(tmp_path, agent, project, message)["kind"] == "other"


def test_a_pattern_re2_cannot_take_is_a_located_validation_error(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    policy.write_text(GLOBAL_POLICY + "errorRules:\n"
                      "  - {status: 400, match: overage, kind: quota_exhausted}\n"
                      "  - match: 'quota(?= exceeded)'\n"
                      "    kind: quota_exhausted\n", encoding="utf-8")
    done = subprocess.run([str(MP_POLICY), "validate", str(policy)],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{policy}:9:12: regex:" in done.stdout
    assert "lookahead (?=...) is not supported" in done.stdout
    assert "(at $.errorRules[1].match)" in done.stdout
    assert "hint: write the text you expect after it as part of the pattern" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr

    done = subprocess.run([str(MP_POLICY), "validate", "--format", "json", str(policy)],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert done.returncode == 1
    (found,) = [d for d in json.loads(done.stdout)["diagnostics"] if d["severity"] == "error"]
    assert (found["code"], found["line"], found["col"], found["path"]) == ("regex", 9, 12, "$.errorRules[1].match")
    assert "'quota exceeded'" in found["hint"]


def test_patterns_too_large_together_are_a_located_compile_error(tmp_path: Path) -> None:
    pattern = "[ab]*a[ab]{999}c"
    count = MAX_TOTAL_PROGRAM_SIZE // compile_rule_pattern(pattern).size + 1
    agent, project = _set_up(tmp_path, [{"match": f"{pattern}{i}", "kind": "auth"} for i in range(count)])
    overlay = project / ".pi" / "multi-pass.yaml"
    done = subprocess.run([str(MP_POLICY), "validate", "--format", "json", "--agent-dir", str(agent), str(overlay)],
                          capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    (found,) = json.loads(done.stdout)["diagnostics"]
    assert (found["code"], found["path"]) == ("regex-size", f"$.errorRules[{count - 1}].match")
    assert found["line"] == count + 1  # the line of that rule in the overlay
    assert found["file"].endswith("multi-pass.yaml") and found["hint"]



def test_the_compiler_locates_a_refused_pattern_without_the_schema_check() -> None:
    doc = load_text("errorRules:\n  - {status: 400, kind: auth}\n  - {match: 'a++', kind: auth}\n", "p.yaml")
    registry = get_registry()
    with pytest.raises(PolicyError) as caught:
        compile_policy(merge_policy(doc, None, {}, registry.bases), registry, revision="t", default_tz=UTC,
                       use_cache=False)
    (found,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert (found.code, found.path, found.file, found.line) == ("regex", ("errorRules", 1, "match"), "p.yaml", 3)
    assert "possessive quantifier '++'" in found.message
    assert found.hint is not None and "write '+' alone" in found.hint
