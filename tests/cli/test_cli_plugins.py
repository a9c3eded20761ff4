"""``mp-policy plugins`` and the plugin package under plugins/: pip-installed, discovered, validated, used.

The package is installed with pip into a private folder (``pip install --target``) that the
commands see through ``PYTHONPATH``, so the test proves that the package builds and installs from
a clean source tree and that discovery goes through its installed entry point.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import REPO, Cli

PACKAGE = REPO / "plugins" / "mp-policy-weighted"

POLICY = """\
# a weighted pool (the plugin's strategy)
subscriptions:
  - {provider: anthropic, index: 2}
  - {provider: anthropic, index: 3}
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2, anthropic-3]
    strategy: weighted
    options:
      weights: {anthropic: 1, anthropic-2: 8, anthropic-3: 1}
"""


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the plugin package pip-installed into it."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--target", str(target), str(PACKAGE)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("mp_policy_weighted-*.dist-info")), sorted(p.name for p in target.iterdir())
    return target


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    (tmp_path / "multi-pass.yaml").write_text(POLICY)
    (tmp_path / "auth.json").write_text('{"anthropic": {"type": "api_key", "key": "k1"}, '
                                        '"anthropic-2": {"type": "api_key", "key": "k2"}, '
                                        '"anthropic-3": {"type": "api_key", "key": "k3"}}')
    return tmp_path


def test_the_installed_package_is_listed_with_its_distribution_and_what_it_registers(cli: Cli, site: Path) -> None:
    run = cli("plugins", "--format", "json", env={"PYTHONPATH": str(site)})
    assert run.returncode == 0, run.describe()
    report = run.json()
    [plugin] = [p for p in report["plugins"] if p["name"] == "weighted"]
    assert plugin["builtin"] is False
    assert plugin["distribution"] == "mp-policy-weighted" and plugin["version"]
    assert plugin["registers"] == {"strategies": ["weighted"]}
    assert plugin["optionsSchemas"] == ["weighted"]
    assert plugin["location"].startswith(str(site))
    assert report["problems"] == [] and report["autoload"] is True
    builtin = {p["name"]: p for p in report["plugins"] if p["builtin"]}
    assert builtin["policy_engine.state.builtin"]["registers"] == {
        "state-stores": ["memory", "redis", "rediss", "sqlite", "unix"]}
    assert builtin["policy_engine.strategies.custom"]["registers"] == {"strategies": ["custom"]}

    text = cli("plugins", env={"PYTHONPATH": str(site)})
    assert "weighted  mp-policy-weighted" in text.stdout
    assert "strategies: weighted (options schema)" in text.stdout
    assert "state stores: memory, redis, rediss, sqlite, unix" in text.stdout
    installed = cli("plugins", "--installed", "--format", "json", env={"PYTHONPATH": str(site)})
    assert {p["name"] for p in installed.json()["plugins"]} >= {"weighted"}
    assert all(not p["builtin"] for p in installed.json()["plugins"])


def test_a_policy_uses_the_plugin_strategy_by_name(cli: Cli, site: Path, agent: Path) -> None:
    env = {"PYTHONPATH": str(site)}
    assert cli("validate", "--agent-dir", agent, env=env).returncode == 0
    run = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", "2026-04-06T10:00:00Z",
              "--format", "json", env=env)
    assert run.returncode == 0, run.describe()
    decision = run.json()
    assert decision["strategy"][0]["name"] == "weighted" and decision["strategy"][0]["fallback"] is False
    assert sorted(c["provider"] for c in decision["candidates"]) == ["anthropic", "anthropic-2", "anthropic-3"]
    # Deterministic: the same moment gives the same order.
    again = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", "2026-04-06T10:00:00Z",
                "--format", "json", env=env)
    assert again.json()["candidates"] == decision["candidates"]


def test_bad_plugin_options_are_reported_with_file_line_and_path(cli: Cli, site: Path, agent: Path) -> None:
    (agent / "multi-pass.yaml").write_text(POLICY.replace("anthropic-3: 1}", "anthropic-3: 0}\n      sede: 3"))
    run = cli("validate", "--agent-dir", agent, "--format", "json", env={"PYTHONPATH": str(site)}, check=False)
    assert run.returncode == 1, run.describe()
    found = {(d["code"], d["path"], d["line"]) for d in run.json()["diagnostics"]}
    assert ("strategy-options", '$.pools[0].options.weights["anthropic-3"]', 11) in found, found
    assert ("strategy-options", "$.pools[0].options.sede", 12) in found, found
    hints = [d.get("hint") for d in run.json()["diagnostics"] if d["path"].endswith("sede")]
    assert hints and "seed" in hints[0]
    # The printed schema carries the plugin's options schema for editors.
    schema = cli("schema", "policy", env={"PYTHONPATH": str(site)}).json()
    assert any(rule["if"]["properties"]["strategy"] == {"const": "weighted"}
               for rule in schema["$defs"]["pool"]["allOf"])
    bare = cli("schema", "policy", "--no-plugins", env={"PYTHONPATH": str(site)}).json()
    assert "allOf" not in bare["$defs"]["pool"]


def test_discovery_can_be_disabled_or_limited(cli: Cli, site: Path, agent: Path) -> None:
    for extra in ({"MP_POLICY_DISABLE_PLUGIN_AUTOLOAD": "1"}, {"MP_POLICY_LOAD_PLUGINS": "something-else"}):
        env = {"PYTHONPATH": str(site), **extra}
        report = cli("plugins", "--format", "json", env=env).json()
        assert "weighted" not in {p["name"] for p in report["plugins"]}
        run = cli("validate", "--agent-dir", agent, env=env, check=False)
        assert run.returncode == 1 and "unknown strategy 'weighted'" in run.output, run.describe()
    text = cli("plugins", env={"PYTHONPATH": str(site), "MP_POLICY_LOAD_PLUGINS": "something-else"}).stdout
    assert "only these third-party plugins may load (MP_POLICY_LOAD_PLUGINS): something-else" in text
    allowed = cli("plugins", "--format", "json",
                  env={"PYTHONPATH": str(site), "MP_POLICY_LOAD_PLUGINS": "mp-policy-weighted"}).json()
    assert "weighted" in {p["name"] for p in allowed["plugins"]}


def test_a_plugin_that_cannot_be_imported_is_reported_and_nothing_else_breaks(cli: Cli, tmp_path: Path,
                                                                              agent: Path) -> None:
    broken = tmp_path / "broken-site"
    info = broken / "mp_policy_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mp-policy-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mp_policy]\nbroken = mp_policy_broken_missing.plugin\n")
    (agent / "multi-pass.yaml").write_text(POLICY.replace("strategy: weighted", "strategy: round-robin")
                                           .split("    options:")[0])
    env = {"PYTHONPATH": str(broken)}
    run = cli("plugins", env=env)
    assert run.returncode == 0
    assert "warning: plugin broken: failed to load mp_policy_broken_missing.plugin (from mp-policy-broken)" \
        in run.stderr
    report = cli("plugins", "--format", "json", env=env).json()
    assert report["problems"][0]["plugin"] == "broken"
    assert cli("plugins", "--strict", env=env, check=False).returncode == 1
    decided = cli("eval", "--agent-dir", agent, "--pool", "claude", "--format", "json", env=env)
    assert decided.returncode == 0 and decided.json()["target"]["provider"] == "anthropic"
