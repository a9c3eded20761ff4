"""Edits never write outside: dangling links, links out of the agent directory or the project, hard links,
read-only files and folders are refused with a located message (exit 1), and nothing outside changes.

Each test builds the file arrangement itself and compares the bytes and mtime of every file outside
the agent directory or project before and after (``file_signature``).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import file_signature, invoke

POLICY = "version: 1\nsubscriptions:\n  - {provider: anthropic, index: 2}\n"
OVERLAY = "allowedSubs: [anthropic]\n"


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    """An empty agent directory (its policy is what each test puts there)."""
    directory = tmp_path / "agent"
    directory.mkdir()
    return directory


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the agent directory and the project, with a policy that must never change."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    (directory / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (directory / "overlay.yaml").write_text(OVERLAY, encoding="utf-8")
    return directory


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "repo"
    directory.mkdir()
    return directory


def _signatures(directory: Path) -> dict[Path, tuple[bytes, int, list[str]]]:
    return {p: file_signature(p) for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink()}


def _sub_add(agent: Path, *extra: str) -> tuple[int, str, str]:
    run = invoke("subs", "add", "anthropic", "--agent-dir", agent, *extra)
    return run.returncode, run.stdout, run.stderr


def _restrict(agent: Path, project: Path | str, *extra: str) -> tuple[int, str, str]:
    run = invoke("project", "restrict", "anthropic-2", "--project", project, "--agent-dir", agent, *extra)
    return run.returncode, run.stdout, run.stderr


@pytest.fixture
def restore_modes(tmp_path: Path) -> Iterator[list[Path]]:
    """Folders and files a test makes read-only get their write permission back (for the cleanup)."""
    changed: list[Path] = []
    yield changed
    for path in changed:
        os.chmod(path, stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


# ------------------------------------------------------------------------------- symbolic links


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_dangling_link_to_the_global_policy_is_never_followed(agent: Path, outside: Path, dry_run: bool) -> None:
    target = outside / "new-folder" / "multi-pass.yaml"
    (agent / "multi-pass.yaml").symlink_to(target)
    before = _signatures(outside)
    code, _, err = _sub_add(agent, *(["--dry-run"] if dry_run else []))
    assert code == 1, err
    assert f"multi-pass.yaml is a symbolic link to {target}, which does not exist; nothing was written" in err
    assert "hint: an edit never creates a file through a link" in err
    assert not target.parent.exists()  # neither the file nor its folder was created
    assert _signatures(outside) == before
    assert sorted(p.name for p in agent.iterdir()) == ["multi-pass.yaml"]


def test_a_dangling_overlay_link_in_a_cloned_project_is_never_followed(agent: Path, outside: Path,
                                                                      project: Path) -> None:
    (project / ".pi").mkdir()
    target = outside / "autostart" / "evil.desktop.yaml"
    (project / ".pi" / "multi-pass.yaml").symlink_to(target)
    before = _signatures(outside)
    run = invoke("project", "restrict", "anthropic", "--project", project, "--agent-dir", agent, "--format", "json")
    assert run.returncode == 1, run.describe()
    out = run.json()
    assert out["code"] == "dangling-link" and out["written"] is False
    assert "which does not exist; nothing was written" in out["error"]
    assert not target.parent.exists()
    assert _signatures(outside) == before


def test_a_link_out_of_the_agent_directory_is_refused(agent: Path, outside: Path) -> None:
    (agent / "multi-pass.yaml").symlink_to(outside / "policy.yaml")
    before = _signatures(outside)
    code, _, err = _sub_add(agent)
    assert code == 1, err
    real = (outside / "policy.yaml").resolve()
    assert f"multi-pass.yaml is a symbolic link to {real}, which is outside {agent}; nothing was written" in err
    assert f"hint: to edit that file, name it: --policy {real}" in err
    assert _signatures(outside) == before
    # Named directly, the same file is edited (the user asked for that file).
    run = invoke("subs", "add", "anthropic", "--policy", real, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert "index: 3" in real.read_text(encoding="utf-8")


def test_a_link_out_of_the_project_is_refused_for_every_edit(agent: Path, outside: Path, project: Path) -> None:
    (project / ".pi").mkdir()
    (project / ".pi" / "multi-pass.yaml").symlink_to(outside / "overlay.yaml")
    before = _signatures(outside)
    for args in (["project", "restrict", "anthropic-2"], ["project", "clear"], ["project", "clear", "--all"],
                 ["pool", "create", "p", "--provider", "anthropic", "--members", "anthropic"]):
        run = invoke(*args, "--project", project, "--agent-dir", agent)
        assert run.returncode == 1, run.describe()
        assert "which is outside" in run.stderr and "hint: to edit that file, name it: --project" in run.stderr
    assert _signatures(outside) == before
    assert (project / ".pi" / "multi-pass.yaml").is_symlink()  # clear --all did not remove the link either


def test_a_project_whose_pi_folder_links_elsewhere_gets_no_overlay_there(agent: Path, outside: Path,
                                                                         project: Path) -> None:
    (project / ".pi").symlink_to(outside, target_is_directory=True)
    before = _signatures(outside)
    code, _, err = _restrict(agent, project)
    assert code == 1, err
    assert "multi-pass.yaml is reached through a linked folder" in err and "outside" in err
    assert _signatures(outside) == before
    assert sorted(p.name for p in outside.iterdir()) == ["overlay.yaml", "policy.yaml"]


def test_a_link_to_another_file_inside_the_root_is_followed_and_said(agent: Path, project: Path) -> None:
    """Inside its own tree a link is a name for another file there: the edit goes to that file, the link stays."""
    (agent / "policies").mkdir()
    main = agent / "policies" / "main.yaml"
    main.write_text(POLICY, encoding="utf-8")
    (agent / "multi-pass.yaml").symlink_to(Path("policies") / "main.yaml")
    code, _, err = _sub_add(agent)
    assert code == 0, err
    assert (agent / "multi-pass.yaml").is_symlink()
    assert "{provider: anthropic, index: 3}" in main.read_text(encoding="utf-8")
    assert f"note: {agent / 'multi-pass.yaml'} is a symbolic link: wrote {main}, the file it points to" in err
    (project / "config").mkdir()
    overlay = project / "config" / "overlay.yaml"
    overlay.write_text(OVERLAY, encoding="utf-8")
    (project / ".pi").mkdir()
    (project / ".pi" / "multi-pass.yaml").symlink_to(Path("..") / "config" / "overlay.yaml")
    code, _, err = _restrict(agent, project)
    assert code == 0, err
    assert overlay.read_text(encoding="utf-8") == "allowedSubs: [anthropic-2]\n"
    assert (project / ".pi" / "multi-pass.yaml").is_symlink()


# ---------------------------------------------------------------------- hard links, permissions


def test_a_hard_linked_policy_is_refused(agent: Path, outside: Path) -> None:
    os.link(outside / "policy.yaml", agent / "multi-pass.yaml")
    before = _signatures(outside)
    run = invoke("subs", "add", "anthropic", "--agent-dir", agent, "--format", "json")
    assert run.returncode == 1, run.describe()
    out = run.json()
    assert out["code"] == "hard-linked"
    assert "has 2 names (hard links); an edit would replace this one and leave the others" in out["error"]
    assert out["hint"].startswith("make it a file of its own first: cp ")
    assert _signatures(outside) == before
    assert (agent / "multi-pass.yaml").stat().st_nlink == 2
    assert (agent / "multi-pass.yaml").read_text(encoding="utf-8") == POLICY


def test_a_read_only_policy_is_refused(agent: Path, restore_modes: list[Path]) -> None:
    policy = agent / "multi-pass.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    os.chmod(policy, 0o444)
    restore_modes.append(policy)
    before = file_signature(policy)
    code, _, err = _sub_add(agent)
    assert code == 1, err
    assert "multi-pass.yaml is read-only; nothing was written" in err
    assert f"hint: if the edit is meant, allow it: chmod u+w {policy.resolve()}" in err
    assert file_signature(policy) == before
    assert stat.S_IMODE(policy.stat().st_mode) == 0o444


def test_a_read_only_folder_is_refused(agent: Path, project: Path, restore_modes: list[Path]) -> None:
    policy = agent / "multi-pass.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    os.chmod(agent, 0o555)
    restore_modes.append(agent)
    before = _signatures(agent)
    code, _, err = _sub_add(agent)
    assert code == 1, err
    assert f"the folder {agent.resolve()} is read-only, so " in err and "nothing was written" in err
    assert _signatures(agent) == before
    assert sorted(p.name for p in agent.iterdir()) == ["multi-pass.yaml"]  # no temporary file either
    # A new overlay would need a .pi folder in a read-only project.
    os.chmod(project, 0o555)
    restore_modes.append(project)
    code, _, err = _restrict(agent, project)
    assert code == 1, err
    assert f"the folder {project.resolve()} is read-only" in err
    assert list(project.iterdir()) == []


def test_a_write_that_fails_is_reported_not_an_internal_error(agent: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the policy's folder should be\n", encoding="utf-8")
    run = invoke("subs", "add", "anthropic", "--policy", blocker / "multi-pass.yaml", "--agent-dir", agent,
                 "--format", "json")
    assert run.returncode == 1, run.describe()
    out = run.json()
    assert out["written"] is False and out["error"]
    assert blocker.read_text(encoding="utf-8") == "a file where the policy's folder should be\n"
    assert json.loads(run.stdout)["file"].endswith("multi-pass.yaml")
