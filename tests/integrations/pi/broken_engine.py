"""A broken stand-in for ``mp-policy serve``, started by the pi extension through ``MP_POLICY_CMD``.

``python broken_engine.py MODE serve --stdio ...`` (an engine per session) or ``python broken_engine.py
MODE serve --socket PATH ...`` (the kept engine, on a Unix socket) behaves as MODE says: ``crash`` exits
(code 3) on its first request, ``hang`` reads requests and never answers, ``garbage`` answers every
request with a line that is not JSON, ``exit`` exits at once (code 4, before listening). Each request
line is appended to ``$BROKEN_ENGINE_LOG`` when set, so a test can tell that the extension did talk to it.
A socket stand-in that hangs gives up after :data:`LIFETIME` seconds, in case nobody stops it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable

#: The longest a hanging stand-in lives (the tests stop it long before).
LIFETIME = 300.0


def _log(line: str) -> None:
    path = os.environ.get("BROKEN_ENGINE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line if line.endswith("\n") else line + "\n")


def _serve(mode: str, lines: Iterable[str], write: Callable[[str], None]) -> int | None:
    """Behave as ``mode`` for each request line; an exit code to exit with, or None when the input ended."""
    for line in lines:
        _log(line)
        if mode == "crash":
            return 3
        if mode == "garbage":
            write("Traceback (most recent call last): not an answer\n")
        if mode == "hang":
            time.sleep(LIFETIME)
            return 0
    return None


def _serve_socket(mode: str, path: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket file left by an earlier stand-in
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    listener.settimeout(LIFETIME)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return 0
        with conn, conn.makefile("r", encoding="utf-8") as reader:
            def write(text: str, conn: socket.socket = conn) -> None:
                conn.sendall(text.encode())

            code = _serve(mode, reader, write)
        if code is not None:
            return code  # the socket file stays behind, as after a crash


def main() -> int:
    """Run the broken engine named by the first argument."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "crash"
    if mode == "exit":
        return 4
    if "--socket" in sys.argv:
        return _serve_socket(mode, sys.argv[sys.argv.index("--socket") + 1])

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    code = _serve(mode, sys.stdin, write)
    return 0 if code is None else code


if __name__ == "__main__":
    sys.exit(main())
