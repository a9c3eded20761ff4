"""``mp-policy demo DIR``: the demo agent directory bundled in the package, copied out for the user."""

from __future__ import annotations

import stat
from pathlib import Path

from cli_support import AT, DEMO, Cli


def _demo_files() -> set[str]:
    return {p.relative_to(DEMO).as_posix() for p in DEMO.rglob("*")
            if p.is_file() and p.suffix in {".yaml", ".json"} and not p.name.startswith("mp-policy-state")}


def test_demo_writes_the_bundled_agent_directory_and_the_next_commands(cli: Cli, tmp_path: Path) -> None:
    run = cli("demo", "my-demo", cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    written = {p.relative_to(tmp_path / "my-demo").as_posix() for p in (tmp_path / "my-demo").rglob("*") if p.is_file()}
    assert written == _demo_files()
    for name in written:
        assert (tmp_path / "my-demo" / name).read_bytes() == (DEMO / name).read_bytes()
    assert stat.S_IMODE((tmp_path / "my-demo" / "auth.json").stat().st_mode) == 0o600
    assert "mp-policy eval --agent-dir my-demo --chain main --explain" in run.stdout
    answer = cli("eval", "--agent-dir", "my-demo", "--chain", "main", "--at", AT, "--format", "json", cwd=tmp_path)
    assert answer.json()["target"]["provider"] == "anthropic", answer.describe()
    tests = cli("test", "my-demo", cwd=tmp_path)
    assert tests.returncode == 0 and tests.last_line == "9 passed, 0 failed", tests.describe()


def test_demo_defaults_to_mp_policy_demo_and_answers_json(cli: Cli, tmp_path: Path) -> None:
    run = cli("demo", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    assert run.json() == {"directory": "mp-policy-demo", "files": sorted(_demo_files())}
    assert (tmp_path / "mp-policy-demo" / "multi-pass.yaml").is_file()


def test_demo_into_an_empty_directory_is_fine_but_never_over_files(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert cli("demo", "empty", cwd=tmp_path).returncode == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "multi-pass.yaml").write_text("pools: []\n")
    refused = cli("demo", "mine", cwd=tmp_path)
    assert refused.returncode == 2, refused.describe()
    assert "mine already exists and is not an empty directory" in refused.stderr
    assert (tmp_path / "mine" / "multi-pass.yaml").read_text() == "pools: []\n"
    (tmp_path / "a-file").write_text("x")
    assert cli("demo", "a-file", cwd=tmp_path).returncode == 2
