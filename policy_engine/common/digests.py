"""SHA-256 for the engine's content keys, without loading OpenSSL at every start.

:mod:`hashlib` loads OpenSSL (``_hashlib``) when imported, a few milliseconds of every command; the
keys the engine computes on each start (a policy's digest and revision, the cache keys) only need
SHA-256, which CPython also ships as a small module of its own. The digests are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["sha256"]

sha256: Callable[..., Any]
try:  # CPython 3.12+ (_sha2), then 3.11 (_sha256): the interpreter's own SHA-256
    from _sha2 import sha256  # type: ignore[import-not-found, no-redef]
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found, no-redef]
    except ImportError:  # an interpreter without them
        from hashlib import sha256  # type: ignore[no-redef]
