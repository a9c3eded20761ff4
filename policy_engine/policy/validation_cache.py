"""A cache of validation results, so an unchanged policy is not validated (nor jsonschema imported) again.

Results are keyed by the document's text, its name, the document kind, the shipped schemas and the
source of the validating modules, and kept in memory and on disk: ``$MP_POLICY_CACHE_DIR``, else
``$XDG_CACHE_HOME/mp-policy``, else ``~/.cache/mp-policy``. Set ``MP_POLICY_NO_CACHE=1`` to turn it
off. A cache that cannot be read or written is simply not used; an entry is read through the bounded
reader (a regular file of at most :data:`~policy_engine.common.bounded_read.VALIDATION_CACHE` bytes).
Each folder of the cache (``validation/``, and ``parsed/`` of the parse cache) is bounded: when a
write takes it over :data:`MAX_ENTRIES` entries, :func:`prune` deletes the oldest written.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import cache
from pathlib import Path

from policy_engine.common.bounded_read import VALIDATION_CACHE, FileReadError, read_bounded
from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.digests import sha256
from policy_engine.policy.document import LoadedDocument

__all__ = ["MAX_ENTRIES", "cache_dir", "prune", "sources_digest", "validate_cached", "write_entry"]

#: Entries one cache folder keeps; a write that takes it over this prunes it to three quarters.
MAX_ENTRIES = 1000
#: A temporary file of a write older than this (seconds) was left by a process that died: it goes too.
_STALE_TEMPORARY = 3600.0

_MEMORY: dict[str, list[Diagnostic]] = {}
_SCHEMAS = ("policy.schema.json", "project.schema.json", "test.schema.json")


def cache_dir() -> Path | None:
    """Where cached results live, or None when caching is off."""
    if os.environ.get("MP_POLICY_NO_CACHE"):
        return None
    if os.environ.get("MP_POLICY_CACHE_DIR"):
        return Path(os.environ["MP_POLICY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mp-policy"


#: The modules whose code validation runs, relative to the package folder: a change in any of them
#: invalidates the cache (``classify/rule_patterns.py`` checks the ``errorRules`` patterns). A test walks
#: validation's imports and fails when one is missing here.
_DIAGNOSTIC_SOURCES = (
    "policy/validation.py",
    "policy/schema_validator.py",
    "policy/schema_messages.py",
    "policy/domain_checks.py",
    "policy/days.py",
    "common/suggestions.py",
    "policy/loader.py",
    "policy/parse_cache.py",
    "policy/validation_cache.py",
    "policy/document.py",
    "policy/yaml_reader.py",
    "policy/json_reader.py",
    "policy/pi_tolerance.py",
    "common/diagnostics.py",
    "common/records.py",
    "common/bounded_read.py",
    "common/digests.py",
    "common/json_finite.py",
    "common/terminal_text.py",
    "common/durations.py",
    "common/timezones.py",
    "classify/rule_patterns.py",
)


@cache
def sources_digest() -> str:
    """A digest of the shipped schemas and of every module that reads or validates a policy: the part of
    the key both on-disk caches (validation results, parsed documents) share, computed once a process."""
    digest = sha256()
    for name in _SCHEMAS:
        digest.update(_schema_bytes(name))
    # The checks in the code evolve too: key on the sources of the modules that produce diagnostics.
    package = Path(__file__).parent.parent  # policy_engine/
    for module in _DIAGNOSTIC_SOURCES:
        digest.update(package.joinpath(module).read_bytes())
    return digest.hexdigest()


def _schema_bytes(name: str) -> bytes:
    """A shipped schema file, read from the package folder (importlib.resources, a costly import, only
    when the package is not a folder, e.g. in a zip)."""
    import policy_engine.schemas as package

    for folder in package.__path__:
        path = Path(folder, name)
        if path.is_file():
            return path.read_bytes()
    from importlib.resources import files

    return files("policy_engine.schemas").joinpath(name).read_bytes()


def _key(doc: LoadedDocument, kind: str) -> str:
    text = json.dumps([sources_digest(), kind, doc.source, list(doc.root), doc.digest])
    return sha256(text.encode()).hexdigest()


def _to_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps([{"code": d.code, "message": d.message, "severity": d.severity, "file": d.file,
                        "line": d.line, "col": d.col, "path": list(d.path), "hint": d.hint} for d in diagnostics])


def _from_json(text: str) -> list[Diagnostic]:
    return [Diagnostic(code=d["code"], message=d["message"], severity=d["severity"], file=d["file"],
                       line=d["line"], col=d["col"], path=tuple(d["path"]), hint=d["hint"])
            for d in json.loads(text)]


def validate_cached(doc: LoadedDocument, kind: str) -> list[Diagnostic]:
    """:func:`policy_engine.policy.validation.validate_document`, remembered for documents read from text."""
    if not doc.digest or os.environ.get("MP_POLICY_NO_CACHE"):
        from policy_engine.policy.validation import validate_document

        return validate_document(doc, kind)  # type: ignore[arg-type]
    key = _key(doc, kind)
    if key in _MEMORY:
        return list(_MEMORY[key])
    folder = cache_dir()
    path = folder / "validation" / f"{key}.json" if folder else None
    if path is not None:
        try:
            found = _from_json(read_bounded(path, VALIDATION_CACHE).decode("utf-8"))
        except (FileReadError, ValueError, KeyError, TypeError, RecursionError):
            found = None
        if found is not None:
            _MEMORY[key] = found
            return list(found)
    from policy_engine.policy.validation import validate_document

    found = validate_document(doc, kind)  # type: ignore[arg-type]
    _MEMORY[key] = found
    if path is not None:
        write_entry(path, _to_json(found))
    return list(found)


def write_entry(path: Path, text: str) -> None:
    """Write one cache entry atomically (a temporary file beside it, then a rename), then bound its folder
    (:func:`prune`). An entry the bounded reader would refuse is not written; errors are swallowed (a
    cache that cannot be written is simply not used)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > VALIDATION_CACHE.max_bytes:
        return
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    prune(path.parent)


def prune(folder: Path, keep: int | None = None) -> int:
    """Bound a cache folder: over ``keep`` entries (default :data:`MAX_ENTRIES`), delete the oldest
    written down to three quarters of it (so a prune does not follow every write), and temporary files
    older than an hour. Returns how many files went; never raises (a cache that cannot be pruned is
    left as it is)."""
    import time

    limit = MAX_ENTRIES if keep is None else keep
    entries: list[tuple[int, str]] = []
    stale: list[str] = []
    stale_before = time.time_ns() - int(_STALE_TEMPORARY * 1e9)
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                try:
                    written = item.stat(follow_symlinks=False).st_mtime_ns
                except OSError:
                    continue
                if item.name.endswith(".json"):
                    entries.append((written, item.path))
                elif item.name.endswith(".tmp") and written < stale_before:
                    stale.append(item.path)
    except OSError:
        return 0
    doomed = stale
    if len(entries) > limit:
        entries.sort()
        doomed = doomed + [path for _, path in entries[: len(entries) - limit * 3 // 4]]
    removed = 0
    for path in doomed:
        try:
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed
