"""Sections 2 and 3 of ``bench_engine.py``: loading a large policy (``Engine.load``, cold and warm) and the
cold command line (``mp-policy eval`` as a subprocess, next to ``python -c pass`` measured in the same run)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine_cases import CLI_AT, TZ_NAME, generate_policy
from harness import Figure, Report
from timing import Budget

__all__ = ["CLI_FLOOR_RATIO", "LOAD_TARGET_MS", "bench_cli", "bench_load", "slowest_imports"]

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOAD_TARGET_MS = 50.0  # Engine.load of the generated policy, cold and warm (median)
#: Where measured commands run: not the repository, whose directory ``python -c`` would put first on
#: ``sys.path`` ahead of a ``PYTHONPATH`` checkout (``compare.py --reference``).
RUN_DIR = tempfile.gettempdir()
CLI_FLOOR_RATIO = 4.0  # a cold `mp-policy eval` ≤ this many times `python -c pass` (medians, same run)


_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from policy_engine.engine import Engine
t1 = time.perf_counter()
args = json.loads(sys.argv[1])
engine = Engine.load(policy=args["policy"], agent_dir=args["agent_dir"], project=args["agent_dir"],
                     state="memory://", auth=args["auth"])
t2 = time.perf_counter()
assert engine.graph.pools, "no pools compiled"
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3}))
"""


def bench_load(report: Report, budget: Budget, pycache: str) -> None:
    """Section 2: ``Engine.load`` of a ~1,000-line policy, cold (fresh process) and warm."""
    from policy_engine.compile import compiler as compile_module
    from policy_engine.compile.compiler import compile_policy, policy_revision
    from policy_engine.engine import Engine
    from policy_engine.plugins import get_registry
    from policy_engine.policy import validation_cache
    from policy_engine.policy.loader import load_file
    from policy_engine.policy.merge import merge_policy
    from policy_engine.policy.validation import validate_document

    section = "load + validate + compile"
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-") as tmp:
        text, accounts = generate_policy()
        path = Path(tmp) / "multi-pass.yaml"
        path.write_text(text, encoding="utf-8")
        line_count = text.count("\n")

        def load() -> Any:
            return Engine.load(policy=path, agent_dir=tmp, project=tmp, state="memory://", auth=accounts)

        engine = load()
        warnings = len(engine.diagnostics)
        shape = (f"{line_count} lines, {len(engine.graph.accounts)} accounts, {len(engine.graph.pools)} pools, "
                 f"{len(engine.graph.chains)} chains, {len(engine.graph.presets)} presets, {warnings} warnings")
        report.extras["load_policy"] = shape
        print(f"  .. generated policy: {shape}", file=sys.stderr)

        cold_n = max(3, int(12 * budget.scale)) if budget.scale < 1 else 12
        cold_load: list[float] = []
        cold_import: list[float] = []
        args = json.dumps({"policy": str(path), "agent_dir": tmp, "auth": accounts})
        env = child_env(pycache)
        subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, cwd=tmp, env=env, check=False)  # prime
        for _ in range(cold_n):
            out = subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, text=True, cwd=tmp, env=env,
                                 check=False)
            if out.returncode != 0:
                raise SystemExit(f"cold load child failed:\n{out.stderr}")
            data = json.loads(out.stdout.strip().splitlines()[-1])
            cold_load.append(data["load_ms"])
            cold_import.append(data["import_ms"])
        report.add(Figure(section, "Engine.load cold (fresh process; the call only)", "ms",
                          _ms_summary(cold_load), target=LOAD_TARGET_MS, target_on="median",
                          note=f"{cold_n} processes (bytecode cached); {shape}"))
        report.add(Figure(section, "  import policy_engine.engine in that process (not in the target)", "ms",
                          _ms_summary(cold_import)))
        cold_nocache: list[float] = []
        nocache_env = {**env, "MP_POLICY_NO_CACHE": "1"}
        for _ in range(cold_n):
            out = subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, text=True, cwd=tmp,
                                 env=nocache_env, check=False)
            if out.returncode != 0:
                raise SystemExit(f"cold load child failed:\n{out.stderr}")
            cold_nocache.append(json.loads(out.stdout.strip().splitlines()[-1])["load_ms"])
        report.add(Figure(section, "Engine.load cold, policy never validated before (validation cache off)", "ms",
                          _ms_summary(cold_nocache), target=LOAD_TARGET_MS, target_on="median", binding=False,
                          note="includes importing jsonschema and building its validator"))

        warm_n = max(10, int(100 * budget.scale))
        warm = _time_ms(load, warm_n)
        report.add(Figure(section, "Engine.load warm (compiled-graph cache hit)", "ms", _ms_summary(warm),
                          target=LOAD_TARGET_MS, target_on="median", note=f"{warm_n} runs in one process"))

        def load_uncached() -> Any:
            compile_module._CACHE.clear()
            validation_cache._MEMORY.clear()
            return load()

        os.environ["MP_POLICY_NO_CACHE"] = "1"
        try:
            uncached = _time_ms(load_uncached, warm_n)
        finally:
            os.environ.pop("MP_POLICY_NO_CACHE", None)
        report.add(Figure(section, "Engine.load warm process, caches cleared (parse, validate, compile)", "ms",
                          _ms_summary(uncached), target=LOAD_TARGET_MS, target_on="median",
                          note="imports and validator already built; no graph or validation cache"))

        # Stage breakdown (warm process, compile uncached) for diagnosis.
        doc = load_file(path)
        registry = get_registry()
        tz = ZoneInfo(TZ_NAME)

        def stage_compile() -> Any:
            merged = merge_policy(doc, None, {}, registry.bases)
            revision = policy_revision(doc.data, None, None, str(tz), None, str(path.parent),
                                       sorted(registry.strategies))
            return compile_policy(merged, registry, revision=revision, default_tz=tz, base_dir=str(path.parent),
                                  use_cache=False)

        stages: list[tuple[str, Callable[[], Any]]] = [
            ("  stage: load_file (read + YAML parse with positions)", lambda: load_file(path)),
            ("  stage: validate_document (JSON Schema + domain checks)", lambda: validate_document(doc, "policy")),
            ("  stage: merge + policy_revision + compile (uncached)", stage_compile),
        ]
        for label, func in stages:
            report.add(Figure(section, label, "ms", _ms_summary(_time_ms(func, warm_n))))
        engine.close()


def _time_ms(func: Callable[[], Any], n: int) -> list[float]:
    """Run ``func`` once to warm up, then ``n`` times; the wall time of each run in ms (closing engines)."""
    func()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        result = func()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        close = getattr(result, "close", None)
        if callable(close):
            close()
    return out


def _ms_summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Median, min and max of millisecond samples."""
    ordered = sorted(values)
    return {"runs": len(values), "median": round(statistics.median(ordered), 2), "min": round(ordered[0], 2),
            "max": round(ordered[-1], 2)}


# --------------------------------------------------------------------------- cold CLI


_CACHE_DIR = tempfile.mkdtemp(prefix="mp-policy-bench-cache-")  # validation cache of measured subprocesses
atexit.register(shutil.rmtree, _CACHE_DIR, True)


def child_env(pycache: str | None) -> dict[str, str]:
    """The environment of measured subprocesses.

    With ``pycache``: bytecode is read from and written to that directory
    (``PYTHONPYCACHEPREFIX``), so an installed package's cached bytecode is modelled without
    writing ``__pycache__`` into the repository. Without it: ``PYTHONDONTWRITEBYTECODE=1`` and
    only ``__pycache__`` directories that already exist are used.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("MP_POLICY_STATE", "PI_CODING_AGENT_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX",
                        "MP_POLICY_NO_CACHE")}
    env["MP_POLICY_CACHE_DIR"] = _CACHE_DIR
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _editable_hooks() -> list[str]:
    """The editable installs' ``.pth`` hooks in this interpreter's site-packages (``__editable__*.pth``)."""
    import site

    return sorted(p.name for folder in site.getsitepackages() for p in Path(folder).glob("__editable__*.pth"))


def _cli_command() -> list[str]:
    """The measured ``mp-policy eval`` command line (the venv's console script when present)."""
    script = Path(PYTHON).parent / "mp-policy"
    prefix = [str(script)] if script.exists() else [PYTHON, "-m", "policy_engine.cli"]
    return [*prefix, "eval", "--agent-dir", str(REPO / "policies" / "demo"), "--chain", "main", "--at", CLI_AT]


def _wall_ms(cmd: Sequence[str], n: int, env: dict[str, str]) -> list[float]:
    """Wall time of ``n`` runs of ``cmd`` in ms; stops the benchmark if the command fails."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=RUN_DIR, env=env, check=False)
        out.append((time.perf_counter_ns() - t0) / 1e6)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return out


def _timed_run(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from the child's rusage) of one run of ``cmd``, in ms.

    The CPU time does not grow while the child waits for a core, so on a busy machine it is the
    steadier of the two.
    """
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=RUN_DIR, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter_ns() - t0) / 1e6
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def slowest_imports(cmd: Sequence[str], env: dict[str, str], top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The ``top`` imports by cumulative and by self time, from ``python -X importtime``."""
    argv = [*cmd[1:]] if cmd[0] == PYTHON else list(cmd)  # run the console script through the interpreter
    done = subprocess.run([PYTHON, "-X", "importtime", *argv], capture_output=True, text=True, cwd=RUN_DIR, env=env,
                          check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append({"module": name.strip(), "self_ms": int(self_us) / 1e3, "cumulative_ms": int(cumulative_us) / 1e3})
    by_cumulative = sorted(rows, key=lambda r: -r["cumulative_ms"])[:top]
    by_self = sorted(rows, key=lambda r: -r["self_ms"])[:top]
    total = sum(r["self_ms"] for r in rows)
    return {"by_cumulative": by_cumulative, "by_self": by_self, "total_ms": [{"module": "(all)", "self_ms": total}]}


def bench_cli(report: Report, budget: Budget, pycache: str) -> None:
    """Section 3: cold ``mp-policy eval`` wall time next to the interpreter's own start, and import offenders."""
    section = "cold CLI"
    env = child_env(pycache)
    n = 10 if budget.scale >= 1 else 5
    cmd = _cli_command()
    subprocess.run(cmd, capture_output=True, cwd=RUN_DIR, env=env, check=False)  # prime bytecode and file cache
    # Interleaved, so a change in the machine's speed hits the command and its floor alike.
    runs: dict[str, list[tuple[float, float]]] = {"eval": [], "pass": []}
    for _ in range(n):
        runs["pass"].append(_timed_run([PYTHON, "-c", "pass"], env))
        runs["eval"].append(_timed_run(cmd, env))
    floor = statistics.median(w for w, _ in runs["pass"])
    cpu_floor = statistics.median(c for _, c in runs["pass"])
    cpu = statistics.median(c for _, c in runs["eval"])
    values = _ms_summary([w for w, _ in runs["eval"]]) | {"floor": round(floor, 2)}
    values["ratio"] = round(float(values["median"] or 0) / floor, 2)
    values |= {"cpu_median": round(cpu, 1), "cpu_floor": round(cpu_floor, 1),
               "cpu_ratio": round(cpu / cpu_floor, 2) if cpu_floor else None}
    figure = report.add(Figure(section, "mp-policy eval --chain main (demo agent dir)", "ms", values,
                               target=CLI_FLOOR_RATIO, target_on="ratio",
                               note=f"{n} runs, bytecode cached (as after pip install), each after a `python -c pass`"
                                    f" run: the floor; CPU time (user + system) {cpu:.0f} ms against {cpu_floor:.0f}"
                                    f" ms: {values['cpu_ratio']}× (steadier than wall time on a busy machine)"))
    report.add(Figure(section, "  floor: python -c pass", "ms", _ms_summary([w for w, _ in runs["pass"]])))
    hooks = _editable_hooks()
    if hooks:
        # An editable install's .pth hook (pathlib, re, importlib.util) runs in the floor above; a wheel install's
        # `python -c pass` does not pay it. `python -S -c 'import site'` is that start within about 1 ms.
        wheel = _wall_ms([PYTHON, "-S", "-c", "import site"], n, env)
        wheel_floor = statistics.median(wheel)
        report.add(Figure(section, "  floor of a wheel install: python -S -c 'import site' (no .pth hooks)", "ms",
                          _ms_summary(wheel),
                          note=f"this environment's site-packages run an editable install's hook at every start "
                               f"({', '.join(hooks)}); against this floor the eval above (which "
                               f"pays the hook too) is {float(values['median'] or 0) / wheel_floor:.1f}×"))
    report.add(Figure(section, "  mp-policy --help (lists every command, imports none)", "ms",
                      _ms_summary(_wall_ms([*cmd[:-7], "--help"], n, env))))
    report.add(Figure(section, "  the same eval without writing bytecode (PYTHONDONTWRITEBYTECODE=1)", "ms",
                      _ms_summary(_wall_ms(cmd, n, child_env(None))),
                      note="only pre-existing __pycache__ is used; a source tree without it compiles every module"))
    report.add(Figure(section, "  floor: python -c 'import yaml, jsonschema, pluggy, click'", "ms",
                      _ms_summary(_wall_ms([PYTHON, "-c", "import yaml, jsonschema, pluggy, click"], n, env))))
    report.add(Figure(section, "  import policy_engine.engine (no command run)", "ms",
                      _ms_summary(_wall_ms([PYTHON, "-c", "import policy_engine.engine"], n, env))))
    if figure.status == "over target" or budget.scale >= 1:
        report.extras["slowest_imports"] = slowest_imports(cmd, env)
