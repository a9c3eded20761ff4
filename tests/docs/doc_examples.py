"""Reading the examples out of README.md and docs/*.md, and running them the way a reader would.

A page's fenced blocks are read in order. ``sh``/``bash`` blocks run in bash and ``python`` blocks in this
interpreter; other languages are shown, not run. HTML comments right before a block (only blank lines
between) say more about it, one per comment:

``<!-- example: skip: REASON -->``
    the block is not run (it installs something, starts pi, needs a real provider...); the reason is required.
``<!-- example: exit N -->``
    the block's last command exits ``N`` (the block then runs without ``set -e``).
``<!-- example: output -->``
    (before a ``text`` block) the stdout of the block run just before, as shown. ``...`` alone on a line
    stands for any number of lines, ``...`` inside a line for any text.
``<!-- example: file PATH -->``
    the block's text is a file the reader saves as PATH (relative to the working directory); it is
    written there before the blocks after it run.
``<!-- example: continues -->``
    (before a ``python`` block) the block runs after the page's previous ``python`` block, in one program.

Each page runs in a session of its own: a fresh temporary working directory holding copies of
``policies/`` and ``examples/``, with ``HOME`` and ``PI_CODING_AGENT_DIR`` in it (so no ``~/.pi/agent``
is needed or touched) and the running venv's ``bin`` first on ``PATH`` (``mp-policy``, ``python``). There
is no ``.venv`` in it: a block that installs is marked ``skip`` and could not reach the suite's own venv.
Shell blocks share the session like one terminal: exported variables and the current directory carry
over from one block to the next.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGUAGES = {"sh": "sh", "bash": "sh", "python": "python"}
BLOCK_TIMEOUT = 180  # generous: a busy 2-core machine; a block that hangs fails after this
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,})(?P<lang>[\w+-]*)\s*$")
_MARK = re.compile(r"^<!--\s*example:\s*(?P<what>.*?)\s*-->\s*$")
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass
class Block:
    """One fenced block of a page, with what its comments say about it."""

    page: Path
    line: int  # the fence's line (1-based)
    lang: str
    text: str
    skip: str | None = None
    exit: int = 0
    output: bool = False
    file: str | None = None
    continues: bool = False
    marks: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """``page:line`` for messages."""
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def runs(self) -> bool:
        """Whether the block is run (a shell or Python block, not skipped, not a file)."""
        return self.lang in RUN_LANGUAGES and self.skip is None and self.file is None


def read_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, with its marks (a malformed mark is an error naming its line)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    marks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        mark = _MARK.match(line.strip())
        fence = _FENCE.match(line)
        if mark:
            marks.append((i + 1, mark["what"]))
        elif fence:
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence["fence"]):
                body.append(lines[j][len(fence["indent"]):])
                j += 1
            block = Block(page, i + 1, fence["lang"].lower(), "\n".join(body) + "\n")
            for at, what in marks:
                _apply_mark(block, at, what)
            blocks.append(block)
            marks = []
            i = j
        elif line.strip():
            marks = []  # a mark belongs to the block right after it
        i += 1
    return blocks


def _apply_mark(block: Block, line: int, what: str) -> None:
    where = f"{block.page.relative_to(ROOT).as_posix()}:{line}"
    block.marks.append(what)
    if what.startswith("skip:") and what[5:].strip():
        block.skip = what[5:].strip()
    elif re.fullmatch(r"exit \d+", what):
        block.exit = int(what.split()[1])
    elif what == "output":
        block.output = True
    elif what.startswith("file ") and what[5:].strip():
        block.file = what[5:].strip()
    elif what == "continues":
        block.continues = True
    else:
        raise ValueError(f"{where}: unknown example mark {what!r} (skip: REASON, exit N, output, file PATH, "
                         "continues)")


def output_matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected`` up to trailing spaces, with ``...`` as a wildcard (see above)."""
    pattern = ""
    for line in expected.rstrip("\n").split("\n"):
        line = line.rstrip()
        if line.strip() == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.split("...")) + r"[ \t]*\n"
    normal = "\n".join(row.rstrip() for row in actual.rstrip("\n").split("\n")) + "\n"
    return re.fullmatch(pattern, normal) is not None


@dataclass
class Result:
    """What a block did."""

    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        """Exit code and both streams, for assertion messages."""
        return f"exit {self.returncode}\n--- stdout:\n{self.stdout}--- stderr:\n{self.stderr}"


class Session:
    """A reader's terminal for one page: a scratch directory, a private HOME and agent directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.work = base / "work"
        self.home = base / "home"
        self.state = base / "session"
        for folder in (self.work, self.home, self.state, base / "agent"):
            folder.mkdir(parents=True)
        for name in ("policies", "examples"):
            shutil.copytree(ROOT / name, self.work / name,
                            ignore=shutil.ignore_patterns("__pycache__", "mp-policy-state.db*"))
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            HOME=str(self.home),
            PI_CODING_AGENT_DIR=str(base / "agent"),
            MP_POLICY_QUOTA_REFRESH="0",  # no background check of a real provider's quota
            LITELLM_LOCAL_MODEL_COST_MAP="True",  # LiteLLM would fetch its price map when imported
            PYTHONDONTWRITEBYTECODE="1",
        )
        (self.state / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        (self.state / "cwd").write_text(str(self.work))
        self.python_program = ""

    def write_file(self, block: Block) -> None:
        """Save a ``file PATH`` block where the reader is (the session's current directory)."""
        assert block.file is not None
        name = block.file
        target = self.home / name[2:] if name.startswith("~/") else Path(self.cwd) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")

    @property
    def cwd(self) -> str:
        """The session's current directory (a block may ``cd``)."""
        return (self.state / "cwd").read_text().strip()

    def run(self, block: Block) -> Result:
        """Run one block; the shell's exports and directory carry over to the next block."""
        if RUN_LANGUAGES[block.lang] == "sh":
            strict = "set -eo pipefail" if block.exit == 0 else ""
            script = (f"source {shlex.quote(str(self.state / 'env'))}\n"
                      f"cd \"$(cat {shlex.quote(str(self.state / 'cwd'))})\"\n"
                      f"trap 'status=$?; export -p > {shlex.quote(str(self.state / 'env'))}; "
                      f"pwd > {shlex.quote(str(self.state / 'cwd'))}; exit $status' EXIT\n"
                      f"{strict}\n{block.text}")
            argv = ["bash", "-c", script]
        else:
            program = (self.python_program + "\n" if block.continues else "") + block.text
            self.python_program = program
            argv = [sys.executable, "-c", program]
        return self._spawn(argv)

    def _spawn(self, argv: list[str]) -> Result:
        env = {}
        for line in (self.state / "env").read_text().splitlines():  # the shell's exports, also for Python
            match = re.match(r"(?:export|declare -x) (\w+)=(.*)$", line)
            if match:
                env[match[1]] = shlex.split(match[2])[0] if match[2] else ""
        out, err = self.base / "stdout", self.base / "stderr"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(argv, cwd=self.cwd, env=env, stdout=stdout, stderr=stderr,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                returncode = proc.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                returncode = -9
            finally:  # whatever the block left running in the background goes with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return Result(returncode, out.read_text(errors="replace"), err.read_text(errors="replace"))


def pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
