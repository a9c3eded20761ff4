"""NodeRunner: JavaScript selectors written for pi-multi-pass run unchanged, and every failure is an Outcome."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from policy_engine.sandbox.base import Outcome, source_hash
from policy_engine.sandbox.node_runner import VERSION_TIMEOUT, NodeRunner, get_node_runner

MEMBERS = ["anthropic", "anthropic-2", "anthropic-3"]
CTX = {
    "members": MEMBERS,
    "currentProvider": "anthropic",
    "modelId": "claude-sonnet-4",
    "pool": {"name": "claude", "baseProvider": "anthropic", "members": MEMBERS},
    "timestamp": 1_750_000_000_000,
    "hour": 14,
    "day": "tue",
    "prompt": "refactor the parser",
    "quota": {"anthropic": 91.5, "anthropic-2": 12.0, "anthropic-3": 40.0},
    "cooldowns": {"anthropic": 1_750_000_060_000},
}
CTX_JSON = json.dumps(CTX)
PI_MULTI_PASS = "module.exports = async function select(ctx) { return ctx.members[ctx.members.length - 1]; };"

SKIP_REASON = "node (20+) is not installed; the JavaScript sandbox cannot run"


def _node_missing() -> bool:
    return NodeRunner().unavailable() is not None


needs_node = pytest.mark.skipif(_node_missing(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def runner() -> Iterator[NodeRunner]:
    r = NodeRunner()
    yield r
    r.close()


def run(runner: NodeRunner, source: str, ctx: dict | None = None, timeout: float = 2.0) -> Outcome:
    return runner.call(source, "selector.js", json.dumps(CTX if ctx is None else ctx), timeout)


# -- pi-multi-pass compatibility --------------------------------------------------------------


@needs_node
def test_the_pi_multi_pass_example_runs_unchanged(runner: NodeRunner) -> None:
    assert run(runner, PI_MULTI_PASS) == Outcome("ok", value="anthropic-3")


EXPORT_FORMS = {
    "module.exports function": "module.exports = function (ctx) { return ctx.members[1]; };",
    "module.exports named function": "module.exports = function select(ctx) {\n  return ctx.members[1];\n};",
    "module.exports async function": "module.exports = async function select(ctx) { return ctx.members[1]; };",
    "module.exports arrow": "module.exports = (ctx) => ctx.members[1];",
    "module.exports.select": "module.exports.select = function (ctx) { return ctx.members[1]; };",
    "exports.select": "exports.select = async (ctx) => ctx.members[1];",
    "module.exports object": "module.exports = { select(ctx) { return ctx.members[1]; } };",
    "export default function": "export default function select(ctx) {\n  return ctx.members[1];\n}",
    "export default anonymous function": "export default function (ctx) { return ctx.members[1]; }",
    "export default async function": (
        "export default async function select(ctx) {\n  await null;\n  return ctx.members[1];\n}"),
    "export default arrow": "export default (ctx) => ctx.members[1];",
    "export default async arrow": "export default async (ctx) => ctx.members[1];",
    "export async function select": "export async function select(ctx) {\n  return ctx.members[1];\n}",
    "export function select": (
        "const pick = (m) => m[1];\nexport function select(ctx) {\n  return pick(ctx.members);\n}"),
    "export const select": "export const select = (ctx) => ctx.members[1];",
    "export list": "function pick(ctx) { return ctx.members[1]; }\nexport { pick as select };",
    "export list as default": "function pick(ctx) { return ctx.members[1]; }\nexport { pick as default };",
    "export default, helper used before": (
        "const h = () => 1;\nexport default function select(ctx) { return ctx.members[h()]; }"),
    "returned promise": "module.exports = (ctx) => Promise.resolve(ctx.members[1]);",
    "promise chain": "module.exports = (ctx) => Promise.resolve(1).then((i) => new Promise((r) => r(ctx.members[i])));",
    "thenable": "module.exports = (ctx) => ({ then(ok) { ok(ctx.members[1]); } });",
    "hashbang": "#!/usr/bin/env node\nmodule.exports = (ctx) => ctx.members[1];\n",
    "await in a loop": "module.exports = async (ctx) => { let i = 0; for (let k = 0; k < 5; k++) i = await (i + 0); "
                       "return ctx.members[i + 1]; };",
}


@needs_node
@pytest.mark.parametrize("source", list(EXPORT_FORMS.values()), ids=list(EXPORT_FORMS))
def test_every_export_form_is_found(runner: NodeRunner, source: str) -> None:
    assert run(runner, source) == Outcome("ok", value="anthropic-2")


@needs_node
def test_the_whole_ctx_arrives(runner: NodeRunner) -> None:
    outcome = run(runner, "module.exports = (ctx) => ctx;")
    assert outcome == Outcome("ok", value=CTX)


@needs_node
def test_a_realistic_selector(runner: NodeRunner) -> None:
    source = """
    // Prefer the member with the most quota left that is not cooling down; weekends: rotation order.
    module.exports = async function select(ctx) {
      if (ctx.day === 'sat' || ctx.day === 'sun') return null;
      const ready = ctx.members.filter((m) => !(ctx.cooldowns[m] > ctx.timestamp));
      return ready.sort((a, b) => (ctx.quota[b] ?? 0) - (ctx.quota[a] ?? 0));
    };
    """
    assert run(runner, source) == Outcome("ok", value=["anthropic-3", "anthropic-2"])
    assert run(runner, source, {**CTX, "day": "sun"}) == Outcome("ok", value=None)


@needs_node
@pytest.mark.parametrize(("source", "value"), [
    ("module.exports = () => null;", None),
    ("module.exports = () => undefined;", None),
    ("module.exports = () => {};", None),
    ("module.exports = async () => {};", None),
    ("module.exports = (ctx) => [ctx.members[2], ctx.members[0]];", ["anthropic-3", "anthropic"]),
    ("module.exports = () => [];", []),
    ("module.exports = () => 42;", 42),
    ("module.exports = () => ({ provider: 'x' });", {"provider": "x"}),
    ("module.exports = () => 'not-a-member';", "not-a-member"),
], ids=["null", "undefined", "no return", "async no return", "list", "empty list", "number", "object", "string"])
def test_answers_come_back_as_json_values(runner: NodeRunner, source: str, value: object) -> None:
    assert run(runner, source) == Outcome("ok", value=value)


@needs_node
@pytest.mark.parametrize("source", [
    "module.exports = () => function () {};",
    "module.exports = () => Symbol('x');",
    "module.exports = () => 10n;",
    "module.exports = () => [1n];",
    "module.exports = () => { const a = []; a.push(a); return a; };",
    "module.exports = () => [() => 1];",
    "module.exports = async () => ({ f() {} });",
], ids=["function", "symbol", "bigint", "nested bigint", "cyclic", "nested function", "method"])
def test_answers_that_are_not_json_are_errors(runner: NodeRunner, source: str) -> None:
    outcome = run(runner, source)
    assert outcome.kind == "error"
    assert "JSON" in outcome.detail or "BigInt" in outcome.detail


@needs_node
def test_a_huge_answer_is_an_error(runner: NodeRunner) -> None:
    outcome = run(runner, "module.exports = () => 'x'.repeat(1 << 20);")
    assert outcome.kind == "error"
    assert "too large" in outcome.detail


@needs_node
def test_the_context_is_fresh_each_call_and_console_is_harmless(runner: NodeRunner) -> None:
    source = "module.exports = (ctx) => { console.log('hi', ctx); ctx.members.reverse(); return ctx.members[0]; };"
    assert run(runner, source).value == "anthropic-3"
    assert run(runner, source).value == "anthropic-3"


# -- errors ------------------------------------------------------------------------------------


@needs_node
def test_an_exception_reports_its_type_message_and_line(runner: NodeRunner) -> None:
    source = "module.exports = function select(ctx) {\n  const a = ctx.members;\n\n  return a.nope.length;\n};\n"
    outcome = run(runner, source)
    assert outcome.kind == "error"
    assert outcome.line == 4
    assert outcome.detail == "TypeError: Cannot read properties of undefined (reading 'length') (line 4)"


@needs_node
def test_an_exception_after_await_keeps_its_line(runner: NodeRunner) -> None:
    source = ("export default async function select(ctx) {\n  await null;\n"
              "  throw new RangeError('no member fits');\n}\n")
    outcome = run(runner, source)
    assert (outcome.kind, outcome.line) == ("error", 3)
    assert outcome.detail.startswith("RangeError: no member fits")


@needs_node
def test_a_rejected_promise_is_an_error(runner: NodeRunner) -> None:
    outcome = run(runner, "module.exports = () => Promise.reject(new Error('nope'));")
    assert outcome.kind == "error"
    assert "Error: nope" in outcome.detail


@needs_node
def test_a_thrown_non_error_is_described(runner: NodeRunner) -> None:
    outcome = run(runner, "module.exports = () => { throw 'plain string'; };")
    assert outcome.kind == "error"
    assert "plain string" in outcome.detail


@needs_node
def test_an_error_while_loading_reports_its_line(runner: NodeRunner) -> None:
    outcome = run(runner, "const x = 1;\nundefinedFunction();\nmodule.exports = () => null;\n")
    assert (outcome.kind, outcome.line) == ("error", 2)
    assert "ReferenceError: undefinedFunction is not defined" in outcome.detail


@needs_node
def test_a_script_without_select_is_an_error(runner: NodeRunner) -> None:
    outcome = run(runner, "const select = 1;\nmodule.exports = { other() {} };\n")
    assert outcome.kind == "error"
    assert "select" in outcome.detail


@needs_node
def test_a_syntax_error_at_call_time_is_a_compile_outcome(runner: NodeRunner) -> None:
    outcome = run(runner, "module.exports = function (ctx) {\n  return ctx.members[0;\n};\n")
    assert (outcome.kind, outcome.line) == ("compile", 2)
    assert outcome.detail.startswith("SyntaxError: ")


@needs_node
def test_a_never_settling_promise_is_reported_at_once(runner: NodeRunner) -> None:
    started = time.monotonic()
    outcome = run(runner, "module.exports = () => new Promise(() => {});", timeout=30.0)
    assert outcome.kind == "error"
    assert "never settles" in outcome.detail
    assert time.monotonic() - started < 10.0  # not at the timeout (30 s): busy CI included


# -- check -------------------------------------------------------------------------------------


@needs_node
def test_check_reports_syntax_errors_with_line_and_column(runner: NodeRunner) -> None:
    problems = runner.check("module.exports = function (ctx) {\n  return ctx.members[0;\n};\n", "sel.js")
    assert len(problems) == 1
    assert problems[0].message == "SyntaxError: Unexpected token ';'"
    assert (problems[0].line, problems[0].column) == (2, 23)


@needs_node
def test_check_reports_static_imports(runner: NodeRunner) -> None:
    problems = runner.check("// a selector\n\nimport fs from 'fs';\nexport default () => null;\n", "sel.mjs")
    assert [(p.line, p.column) for p in problems] == [(3, 1)]
    assert "import statement" in problems[0].message


@needs_node
@pytest.mark.parametrize("source", [PI_MULTI_PASS, *EXPORT_FORMS.values()])
def test_check_accepts_valid_scripts(runner: NodeRunner, source: str) -> None:
    assert runner.check(source, "sel.js") == []


@needs_node
def test_check_never_runs_the_script(runner: NodeRunner, tmp_path: Path) -> None:
    assert runner.check("for (;;) {}\nmodule.exports = () => null;\n", "sel.js") == []


# -- timeouts, crashes, restarts ---------------------------------------------------------------


@needs_node
def test_a_timeout_then_the_next_call_works(runner: NodeRunner) -> None:
    source = "module.exports = (ctx) => { if (ctx.prompt === 'spin') for (;;) {} return ctx.members[0]; };"
    started = time.monotonic()
    outcome = run(runner, source, {**CTX, "prompt": "spin"}, timeout=0.3)
    assert outcome.kind == "timeout"
    assert time.monotonic() - started < 5.0  # the script spins forever: it was stopped (busy CI included)
    assert run(runner, source) == Outcome("ok", value="anthropic")  # same script, reloaded
    assert run(runner, PI_MULTI_PASS) == Outcome("ok", value="anthropic-3")


@needs_node
def test_out_of_memory_crashes_the_worker_and_it_restarts(runner: NodeRunner) -> None:
    bomb = "module.exports = () => { const a = []; for (;;) a.push(new Array(100000).fill(1.5)); };"
    restarts = runner.pool.restarts
    outcome = run(runner, bomb, timeout=10.0)
    assert outcome.kind == "crash"
    assert runner.pool.restarts == restarts + 1
    assert run(runner, PI_MULTI_PASS) == Outcome("ok", value="anthropic-3")


@needs_node
def test_a_script_dropped_by_its_worker_is_sent_again(runner: NodeRunner) -> None:
    source = "module.exports = (ctx) => ctx.members[2]; // dropped"
    digest = source_hash(source)
    assert run(runner, PI_MULTI_PASS).ok  # at least one warm worker
    for worker in list(runner.pool._idle):
        worker.loaded.add(digest)  # pretend the worker has it: it answers "unknown"
    assert run(runner, source) == Outcome("ok", value="anthropic-3")
    assert any(digest in w.loaded for w in runner.pool._idle)


@needs_node
def test_the_source_is_sent_once_per_worker(runner: NodeRunner) -> None:
    source = "module.exports = (ctx) => ctx.members[0]; // cached"
    assert run(runner, source).ok
    assert any(source_hash(source) in w.loaded for w in runner.pool._idle)


@needs_node
def test_module_state_lives_in_the_script_context_only(runner: NodeRunner) -> None:
    counter = "let n = 0;\nglobalThis.shared = 'counter';\nmodule.exports = () => ++n;\n"
    other = "module.exports = () => typeof shared;"
    assert run(runner, counter).value >= 1
    assert run(runner, other).value == "undefined"


@needs_node
def test_two_threads_call_concurrently(runner: NodeRunner) -> None:
    scripts = [f"module.exports = (ctx) => [ctx.members[{i % 3}], {i}];" for i in range(6)]

    def work(k: int) -> list[object]:
        return [run(runner, scripts[(k + j) % 6]).value for j in range(40)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(work, range(2)))
    for k, values in enumerate(results):
        assert values == [[MEMBERS[((k + j) % 6) % 3], (k + j) % 6] for j in range(40)]


@needs_node
def test_the_first_call_on_a_cold_runner_starts_a_worker() -> None:
    cold = NodeRunner()
    try:
        started = time.monotonic()
        assert cold.call(PI_MULTI_PASS, "s.js", CTX_JSON, 0.5) == Outcome("ok", value="anthropic-3")
        assert time.monotonic() - started < 10.0
    finally:
        cold.close()


@needs_node
def test_warm_starts_a_worker_in_the_background() -> None:
    warm = NodeRunner()
    try:
        warm.warm()
        deadline = time.monotonic() + 10
        while not warm.pool._idle and time.monotonic() < deadline:
            time.sleep(0.01)
        assert warm.pool._idle
        assert warm.call(PI_MULTI_PASS, "s.js", CTX_JSON, 0.3).value == "anthropic-3"
    finally:
        warm.close()


@needs_node
def test_the_worker_has_an_empty_environment_and_limits(runner: NodeRunner) -> None:
    assert run(runner, PI_MULTI_PASS).ok
    worker = runner.pool._idle[-1]
    assert worker.proc is not None
    pid = worker.proc.pid
    with open(f"/proc/{pid}/environ", "rb") as fh:
        assert fh.read() == b""
    with open(f"/proc/{pid}/limits") as fh:
        limits = fh.read()
    assert "Max address space" in limits
    assert str(runner.address_space) in limits
    argv = worker.spec.argv
    assert any(a.startswith("--allow-fs-read=") and a.endswith("js_worker.js") for a in argv)
    assert "--disallow-code-generation-from-strings" in argv


@needs_node
def test_get_node_runner_is_shared() -> None:
    assert get_node_runner() is get_node_runner()
    assert get_node_runner().language == "javascript"


# -- node missing or too old -------------------------------------------------------------------


def test_node_missing_is_unavailable_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_POLICY_NODE", str(tmp_path / "no-such-node"))
    missing = NodeRunner()
    started = time.monotonic()
    reason = missing.unavailable()
    assert reason is not None and "round-robin" in reason and "MP_POLICY_NODE" in reason
    outcome = missing.call(PI_MULTI_PASS, "s.js", CTX_JSON, 0.3)
    assert outcome.kind == "unavailable"
    assert outcome.detail == reason
    assert missing.check("module.exports = (", "s.js") == []  # the caller reports unavailable() instead
    missing.warm()
    missing.close()
    assert time.monotonic() - started < VERSION_TIMEOUT - 1  # no wait for a node that is not there


def test_node_not_on_path_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MP_POLICY_NODE", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = NodeRunner().unavailable()
    assert reason == ("node is not installed; JavaScript selectors fall back to round-robin "
                      "(install Node.js 20+ or set MP_POLICY_NODE)")


def test_an_old_node_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v18.19.0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MP_POLICY_NODE", str(fake))
    runner = NodeRunner()
    reason = runner.unavailable()
    assert reason is not None and "too old" in reason and "v18.19.0" in reason
    assert runner.call(PI_MULTI_PASS, "s.js", CTX_JSON, 0.3).kind == "unavailable"


def test_unavailable_is_checked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "node"
    fake.write_text(f"#!/bin/sh\necho x >> {calls}\necho v18.0.0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MP_POLICY_NODE", str(fake))
    runner = NodeRunner()
    threads = [threading.Thread(target=runner.unavailable) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runner.unavailable()
    assert calls.read_text().count("x") == 1
    assert os.environ["MP_POLICY_NODE"] == str(fake)


# -- limits between scripts and towards the parent ---------------------------------------------


@needs_node
@pytest.mark.parametrize("levels", [1500, 65])
def test_a_deeply_nested_answer_is_an_error_not_a_crash_of_the_parent(runner: NodeRunner, levels: int) -> None:
    """1,500 levels is small enough for node to encode and deep enough for json.loads to raise RecursionError."""
    source = f"module.exports = () => {{ let a = []; for (let i = 1; i < {levels}; i++) a = [a]; return a; }};"
    outcome = run(runner, source)
    assert outcome.kind == "error" and "nested too deeply" in outcome.detail, outcome
    shallow = "module.exports = () => { let a = []; for (let i = 1; i < 64; i++) a = [a]; return a; };"
    assert run(runner, shallow).ok


# 40 MB of doubles kept in module state, and a script that needs 30 MB for one call: together more
# than the 64 MB heap, which used to abort the worker in the second script, every time.
HOARDER = ("const hoard = []; module.exports = (ctx) => { if (!hoard.length) for (let i = 0; i < 40; i++) "
           "hoard.push(new Array(125000).fill(i + 0.5)); return 'hoarded'; };")
HUNGRY = ("module.exports = (ctx) => { const a = []; for (let i = 0; i < 30; i++) "
          "a.push(new Array(125000).fill(i + 0.5)); return a.length; };")


@needs_node
def test_a_script_that_hoards_heap_cannot_exhaust_the_next_ones() -> None:
    fresh = NodeRunner()
    try:
        for _ in range(3):
            assert fresh.call(HOARDER, "hoard.js", CTX_JSON, 5.0) == Outcome("ok", value="hoarded")
            assert fresh.call(HUNGRY, "hungry.js", CTX_JSON, 5.0) == Outcome("ok", value=30)
        assert fresh.pool.restarts == 0  # nobody crashed: the hoarder's context was dropped instead
    finally:
        fresh.close()


@needs_node
def test_module_state_is_kept_per_scope_not_per_script_text(runner: NodeRunner) -> None:
    counter = "let n = 0;\nmodule.exports = () => ++n; // scoped\n"
    single = NodeRunner(pool_size=1)
    try:
        values = [single.call(counter, "c.js", CTX_JSON, 5.0, scope=scope).value for scope in "ababa"]
        assert values == [1, 1, 2, 2, 3]
    finally:
        single.close()
