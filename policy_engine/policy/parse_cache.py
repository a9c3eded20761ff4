"""A cache of parsed policy files, so an unchanged file is not parsed again (nor PyYAML imported).

:func:`~policy_engine.policy.loader.load_file` keeps what it parsed (the data, the position of every
value and key, the source text of non-string scalars) as JSON in the cache folder of
:mod:`~policy_engine.policy.validation_cache` (``parsed/``), keyed by the file's text, whether it is
read as strict JSON (a ``*.json`` name), the source of the reading modules (the validation cache's
:func:`~policy_engine.policy.validation_cache.sources_digest`) and the installed PyYAML.
Only documents that parsed without a problem are kept; ``MP_POLICY_NO_CACHE=1`` turns the cache off.
The folder is bounded as the validation results are (:func:`~policy_engine.policy.validation_cache.prune`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import VALIDATION_CACHE, FileReadError, read_bounded
from policy_engine.common.digests import sha256
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.validation_cache import cache_dir, sources_digest, write_entry

__all__ = ["cached_parse"]

_FORMAT = 1


@cache
def _readers_digest() -> str:
    """The validation cache's digest of the reading and validating modules (a superset of the readers),
    and the installed PyYAML."""
    return sha256(f"{sources_digest()} {_yaml_stamp()}".encode()).hexdigest()


def _yaml_stamp() -> str:
    """The installed PyYAML (where, size and time of its files), without importing it."""
    from importlib.util import find_spec

    spec = find_spec("yaml")
    if spec is None or spec.origin is None:
        return "no yaml"
    folder = Path(spec.origin).parent
    try:
        stamps = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    except OSError:
        return "yaml unreadable"
    return repr((str(folder), stamps))


def cached_parse(text: str, source: str, parse: Callable[[str, str], LoadedDocument]) -> LoadedDocument:
    """``parse(text, source)`` (:func:`~policy_engine.policy.loader.load_text`), remembered on disk."""
    folder = cache_dir()
    if folder is None:
        return parse(text, source)
    digest = sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    key = sha256(f"{_FORMAT} {_readers_digest()} {source.lower().endswith('.json')} {digest}".encode())
    path = folder / "parsed" / f"{key.hexdigest()}.json"
    try:
        found = _from_json(read_bounded(path, VALIDATION_CACHE).decode("utf-8"), source, digest[:16])
    except (FileReadError, ValueError, KeyError, TypeError, RecursionError):
        found = None
    if found is not None:
        return found
    doc = parse(text, source)
    with contextlib.suppress(TypeError, ValueError):  # data JSON cannot hold is simply not kept
        stored = _to_json(doc)
        # JSON would turn a key that is not a string (YAML's ``1:``, ``true:``) into one, and cannot hold
        # NaN as a value equal to itself: a document that does not come back equal is not kept.
        if json.loads(stored)["data"] == doc.data:
            write_entry(path, stored)
    return doc


def _to_json(doc: LoadedDocument) -> str:
    return json.dumps({
        "format": _FORMAT,
        "data": doc.data,
        "positions": [[list(p), line, col] for p, (line, col) in doc.positions.items()],
        "key_positions": [[list(p), line, col] for p, (line, col) in doc.key_positions.items()],
        "scalar_text": [[list(p), text] for p, text in doc.scalar_text.items()],
    })


def _from_json(text: str, source: str, digest: str) -> LoadedDocument | None:
    found: dict[str, Any] = json.loads(text)
    if found["format"] != _FORMAT:
        return None
    return LoadedDocument(
        data=found["data"],
        source=source,
        positions={tuple(p): (line, col) for p, line, col in found["positions"]},
        key_positions={tuple(p): (line, col) for p, line, col in found["key_positions"]},
        scalar_text={tuple(p): str(text) for p, text in found["scalar_text"]},
        digest=digest,
    )
