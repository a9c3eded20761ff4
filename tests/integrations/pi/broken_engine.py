"""A broken stand-in for ``mp-policy serve --stdio``, started by the pi extension through ``MP_POLICY_CMD``.

``python broken_engine.py MODE serve --stdio ...`` behaves as MODE says: ``crash`` exits (code 3) on its
first request, ``hang`` reads requests and never answers, ``garbage`` answers every request with a line
that is not JSON, ``exit`` exits at once. Each request line is appended to ``$BROKEN_ENGINE_LOG`` when set,
so a test can tell that the extension did talk to it.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    """Run the broken engine named by the first argument."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "crash"
    log = os.environ.get("BROKEN_ENGINE_LOG")
    if mode == "exit":
        return 4
    for line in sys.stdin:
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(line)
        if mode == "crash":
            return 3
        if mode == "garbage":
            sys.stdout.write("Traceback (most recent call last): not an answer\n")
            sys.stdout.flush()
        if mode == "hang":
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
