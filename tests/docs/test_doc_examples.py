"""Every shell and Python example of README.md and docs/*.md runs as written, on a fresh agent directory.

See ``doc_examples`` for how a page marks what a block is (skipped with a reason, an expected exit code,
the output it shows, a file to save). Each page is one test: its blocks run in order in one session, as
a reader would type them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_examples import ROOT, Block, Session, output_matches, pages, read_blocks

#: What a run example must never do to the machine running the suite.
_INSTALLS = re.compile(r"\bpip install\b|-m venv\b|\bnpm install\b|\bapt(-get)? install\b")


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_examples_of_a_page_run_as_written(page: Path, tmp_path: Path) -> None:
    blocks = read_blocks(page)
    session = Session(tmp_path)
    failures: list[str] = []
    last: tuple[Block, str] | None = None  # the last block run and its stdout
    for block in blocks:
        if block.file is not None:
            session.write_file(block)
            continue
        if block.output:
            assert last is not None, f"{block.where}: an output block with no example run before it"
            ran, stdout = last
            if not output_matches(block.text, stdout):
                failures.append(f"{block.where}: the output of {ran.where} differs\n--- shown:\n{block.text}"
                                f"--- actual:\n{stdout}")
            continue
        if not block.runs:
            continue
        result = session.run(block)
        last = (block, result.stdout)
        if result.returncode != block.exit:
            failures.append(f"{block.where}: expected exit {block.exit}\n{block.text}\n{result.describe()}")
    assert not failures, "\n\n".join(failures)


def test_every_page_marks_its_blocks_consistently() -> None:
    runnable = 0
    for page in pages():
        blocks = read_blocks(page)  # an unknown mark raises, naming its line
        previous: Block | None = None
        for block in blocks:
            assert not block.output or (previous is not None and previous.runs), \
                f"{block.where}: an output block must follow a block that runs"
            assert not block.continues or block.lang == "python", f"{block.where}: 'continues' is for python blocks"
            assert not (block.runs and _INSTALLS.search(block.text)), \
                f"{block.where}: a block that installs must be marked <!-- example: skip: REASON -->"
            runnable += block.runs
            previous = block
    assert runnable >= 20, f"only {runnable} runnable examples in README.md and docs/"


def test_output_matching_wildcards() -> None:
    assert output_matches("turn ... ok\n...\nend\n", "turn 1a2b ok\nmore\nlines\nend  \n\n")
    assert output_matches("a\n...\nb\n", "a\nb\n")
    assert not output_matches("a\nb\n", "a\nc\n")
    assert not output_matches("a\n", "a\nextra\n")
