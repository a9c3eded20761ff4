"""The package as a user gets it: ``python -m build`` makes an sdist and, from it, a wheel; the wheel is
installed into a fresh virtual environment outside the checkout, and its commands run from a temporary
directory with no checkout on ``sys.path``.

The contents are checked against the checkout itself (every package and module of ``policy_engine/``,
every schema, the JavaScript selector worker, the pi extension, the demo agent directory), so a file
added to the checkout but left out of the package fails here, and so does any command that needs it.
Dependencies come from the package index (or pip's cache): the build and the install take a few
seconds with a warm cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_engine import __version__

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600  # generous: a cold pip cache downloads setuptools and every dependency
_NOT_SOURCES = (".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", "node_modules", ".pytest_cache",
                ".ruff_cache", "mp-policy-state.db*")


@dataclass(frozen=True)
class Installed:
    """The built artefacts and the fresh environment the wheel went into."""

    wheel: Path
    sdist: Path
    venv: Path
    cwd: Path
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the installed ``mp-policy`` from the temporary working directory, with a private HOME."""
        env = {key: value for key, value in os.environ.items()
               if key not in {"PYTHONPATH", "PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "VIRTUAL_ENV"}}
        env.update(HOME=str(self.home), XDG_CACHE_HOME=str(self.home / ".cache"))
        env.pop("MP_POLICY_CACHE_DIR", None)
        done = subprocess.run([str(self.venv / "bin" / "mp-policy"), *args], cwd=self.cwd, env=env,
                              capture_output=True, text=True, timeout=120)
        if check:
            shown = f"mp-policy {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            assert done.returncode == 0, shown
        return done


def _checkout_files(folder: str, pattern: str) -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob(pattern)
            if "__pycache__" not in path.parts}


def _demo_files() -> set[str]:
    """The demo agent directory's data files (as ``mp-policy demo`` copies them), relative to it."""
    demo = ROOT / "policies" / "demo"
    return {path.relative_to(demo).as_posix() for path in demo.rglob("*")
            if path.is_file() and path.suffix in {".yaml", ".json"} and not path.name.startswith("mp-policy-state")}


def expected_wheel_files() -> set[str]:
    """What the wheel must hold, derived from the checkout."""
    wanted = _checkout_files("policy_engine", "*.py")  # every package (its __init__.py) and every module
    wanted |= {f"policy_engine/schemas/{Path(name).name}" for name in _checkout_files("schemas", "*.json")}
    wanted |= _checkout_files("policy_engine/sandbox", "*.js")  # the JavaScript selector worker
    wanted |= _checkout_files("policy_engine/integrations/pi", "*.js")  # the pi extension ...
    wanted.add("policy_engine/integrations/pi/package.json")  # ... is a pi package
    wanted |= {f"policy_engine/demo/{name}" for name in _demo_files()}
    wanted.add(f"mp_policy-{__version__}.dist-info/licenses/LICENSE")
    return wanted


def expected_sdist_files() -> set[str]:
    """What the sdist must hold (source paths), derived from the checkout."""
    wanted = _checkout_files("policy_engine", "*.py") | _checkout_files("schemas", "*.json")
    wanted |= _checkout_files("policy_engine/sandbox", "*.js")
    wanted |= _checkout_files("policy_engine/integrations/pi", "*.js")
    wanted.add("policy_engine/integrations/pi/package.json")
    wanted |= {f"policies/demo/{name}" for name in _demo_files()}
    wanted |= {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"}
    return wanted


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the sdist and the wheel into tmp, install the wheel into a new venv, and give a scratch cwd."""
    base = tmp_path_factory.mktemp("wheel")
    # A clean copy of the working tree: no build leftovers (an old egg-info's SOURCES.txt would smuggle files into
    # the sdist that the configuration leaves out), and nothing is written into the checkout.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
    dist = base / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, f"python -m build failed:\n{built.stdout[-4000:]}{built.stderr[-4000:]}"
    wheel = dist / f"mp_policy-{__version__}-py3-none-any.whl"
    sdist = dist / f"mp_policy-{__version__}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in dist.iterdir())
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=BUILD_TIMEOUT)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                         capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=base)
    assert pip.returncode == 0, f"installing the wheel failed:\n{pip.stdout[-4000:]}{pip.stderr[-4000:]}"
    cwd, home = base / "work", base / "home"
    cwd.mkdir()
    home.mkdir()
    return Installed(wheel=wheel, sdist=sdist, venv=venv, cwd=cwd, home=home)


def test_the_wheel_holds_every_package_and_data_file(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"mp_policy-{__version__}.dist-info/METADATA").decode()
    missing = sorted(expected_wheel_files() - names)
    assert not missing, f"the wheel lacks {missing}"
    assert f"Version: {__version__}" in metadata and "License-Expression: MIT" in metadata


def test_the_sdist_holds_the_sources_the_wheel_is_built_from(installed: Installed) -> None:
    prefix = f"mp_policy-{__version__}/"
    with tarfile.open(installed.sdist) as sdist:
        names = {name.removeprefix(prefix) for name in sdist.getnames()}
    missing = sorted(expected_sdist_files() - names)
    assert not missing, f"the sdist lacks {missing}"


def test_the_installed_package_runs_outside_the_checkout(installed: Installed) -> None:
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                            "import policy_engine, sys; print(policy_engine.__file__); print(sys.path)"],
                           cwd=installed.cwd, capture_output=True, text=True, check=True, timeout=60,
                           env={"PATH": os.environ.get("PATH", ""), "HOME": str(installed.home)})
    module_file, path = where.stdout.splitlines()
    assert Path(module_file).is_relative_to(installed.venv), module_file
    assert str(ROOT) not in path
    assert installed.run("--version").stdout.strip() == f"mp-policy, version {__version__}"


def test_the_bundled_demo_validates_and_answers_with_an_explanation(installed: Installed) -> None:
    demo = installed.run("demo", "demo", "--format", "json")
    assert sorted(json.loads(demo.stdout)["files"]) == sorted(_demo_files())
    validated = installed.run("validate", "--agent-dir", "demo")
    assert "valid" in validated.stdout and "0 error(s)" in validated.stdout, validated.stdout
    answer = installed.run("eval", "--agent-dir", "demo", "--chain", "main", "--at", "2026-11-24T10:30:00+01:00",
                           "--fail", ":429", "--explain", "--format", "json")
    decisions = json.loads(answer.stdout)
    last = decisions[-1] if isinstance(decisions, list) else decisions
    assert last["target"]["provider"] == "anthropic-2", answer.stdout
    assert last["error"]["kind"] == "rate_limit"
    tests = installed.run("test", "demo")
    assert tests.stdout.strip().endswith("passed, 0 failed"), tests.stdout


def _selector_agent(folder: Path, script: str, body: str, base: str, members: list[str]) -> None:
    """An agent directory with one custom pool whose selector ``script`` picks the second member."""
    folder.mkdir()
    (folder / script).write_text(body)
    (folder / "auth.json").write_text(json.dumps({m: {"type": "api_key", "key": "test"} for m in members}))
    extra = [{"provider": base, "index": int(m.rsplit("-", 1)[1])} for m in members if m != base]
    (folder / "multi-pass.yaml").write_text(json.dumps({
        "subscriptions": extra,
        "pools": [{"name": "picked", "baseProvider": base, "members": members, "strategy": "custom",
                   "selectorScript": script}],
    }))


@pytest.mark.parametrize(("script", "body"), [
    ("pick.py", "def select(ctx):\n    return ctx['members'][1]\n"),
    ("pick.js", "module.exports = function select(ctx) { return ctx.members[1]; };\n"),
], ids=["python", "javascript"])
def test_selectors_run_in_the_installed_sandbox(installed: Installed, script: str, body: str) -> None:
    if script.endswith(".js") and shutil.which("node") is None:
        pytest.skip("node (20+) is not installed; the JavaScript sandbox cannot run")
    agent = installed.cwd / f"selector-{script}"
    _selector_agent(agent, script, body, "anthropic", ["anthropic", "anthropic-2", "anthropic-3"])
    installed.run("validate", "--agent-dir", str(agent))
    decision = json.loads(installed.run("eval", "--agent-dir", str(agent), "--pool", "picked",
                                        "--format", "json").stdout)
    assert decision["target"]["provider"] == "anthropic-2", decision
    assert decision["strategy"][0]["fallback"] is False, decision["strategy"]


def test_schema_plugins_and_the_pi_extension_come_from_the_installed_package(installed: Installed) -> None:
    schema = json.loads(installed.run("schema", "policy").stdout)
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    plugins = json.loads(installed.run("plugins", "--format", "json").stdout)
    builtin = [p for p in plugins["plugins"] if p["builtin"]]
    assert builtin and all(p["version"] == __version__ for p in builtin)
    assert not plugins["problems"]
    install = installed.run("pi", "install", "--agent-dir", str(installed.cwd / "pi-agent"), "--dry-run")
    extension = installed.venv.glob("lib/python*/site-packages/policy_engine/integrations/pi")
    folder = next(extension)
    assert str(folder) in install.stdout
    assert (folder / "extension.js").is_file()
