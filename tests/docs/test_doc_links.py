"""The documentation hangs together: README.md's two set-up commands are what ``.ci/run`` runs, its first
command answers as described, every relative link leads to a file (and heading) that exists, every
reference page is listed in the README, and install lines install from a checkout or a wheel.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_examples import ROOT, pages, read_blocks

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _setup_commands() -> list[str]:
    first = read_blocks(ROOT / "README.md")[0]
    assert first.lang == "bash", "README.md opens with its set-up commands"
    return [line for line in first.text.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_setup_commands_and_ci_runs_the_second() -> None:
    commands = _setup_commands()
    assert len(commands) == 2, commands
    install, test = commands
    assert "--explain" in install and "policies/demo" in install
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # python3 -m venv .venv && .venv/bin/pip install -e '.[test]' -e ./plugins/... && .venv/bin/python -m pytest -q
    packages = re.search(r"pip install (.*?) &&", test)
    runner = test.rsplit("&& ", 1)[1]
    assert packages and runner == ".venv/bin/python -m pytest -q", test
    assert f"pip install --quiet {packages[1]} && {runner}" in ci, \
        ".ci/run no longer runs README.md's test command: keep the two in sync"


def test_readme_first_command_answers_as_described(tmp_path: Path) -> None:
    """The first command after its installation step, from the checkout (the venv running this suite)."""
    install = _setup_commands()[0]
    question = install.rsplit("&& ", 1)[1]
    assert question.startswith(".venv/bin/mp-policy eval ")
    argv = [str(Path(sys.executable).parent / "mp-policy"), *question.split()[1:]]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MP_POLICY_QUOTA_REFRESH": "0"})
    assert done.returncode == 0, done.stderr
    assert "— fail :429" in done.stdout and "error: rate_limit (rotates)" in done.stdout
    assert done.stdout.count("target: ") == 2 and "candidates (in order):" in done.stdout


def _links(page: Path) -> list[tuple[int, str]]:
    found = []
    in_fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            found.extend((number, m["target"]) for m in _LINK.finditer(line))
    return found


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    anchors = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_somewhere(page: Path) -> None:
    broken = []
    for number, target in _links(page):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ...
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if not file.exists():
            broken.append(f"{page.name}:{number}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{page.name}:{number}: {target} (no heading #{anchor} in {name})")
    assert not broken, "\n".join(broken)


def test_the_readme_lists_every_reference_page() -> None:
    listed = {target.partition("#")[0] for _, target in _links(ROOT / "README.md")}
    pages_here = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert not pages_here - listed, f"reference pages missing from README.md's contents: {pages_here - listed}"


def test_install_lines_install_from_a_checkout_or_a_wheel() -> None:
    """mp-policy is not on a package index: ``pip install 'mp-policy[redis]'`` would find nothing."""
    wrong = []
    for page in [*pages(), ROOT / "policies" / "demo" / "events.example.yaml"]:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"pip install\s+(?:-\S+\s+)*['\"]?mp[-_]policy(?:\[|['\"\s`]|$)", line):
                wrong.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "install lines that name an index package:\n" + "\n".join(wrong)
