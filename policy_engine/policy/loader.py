"""Load policy, project and test files (YAML or JSON) with the source position of every value.

One parse: libyaml (PyYAML's C parser, or the pure-Python one) composes the node graph, and a small
builder turns the nodes into plain data (dict, list, str, int, float, bool, None) while it records
where each value and each mapping key stands, rejects duplicate and non-string keys, and stops
alias bombs before they expand. Timestamps are not converted (``at: 2026-04-06T10:30:00+02:00``
stays a string); YAML 1.1 booleans (``yes``/``no``/``on``/``off``) stay booleans, and their source
text is kept so that validation can say which word was read as a boolean.

A ``*.json`` file must be strict JSON, as pi-multi-pass reads it: :func:`json.loads` checks it
(and reports JSON's own line and column), then libyaml reads it again for the positions. Where
libyaml cannot (surrogate escapes: pairs, or a lone ``"\\udc80"``), the data comes from :mod:`json`
and the positions from the same text with those escapes written as ``"\\ufffd"``; duplicate keys are
still refused.

The YAML reader is :mod:`~policy_engine.policy.yaml_reader`, the JSON one
:mod:`~policy_engine.policy.json_reader`; both give a :class:`~policy_engine.policy.document.LoadedDocument`.

Files are read by :func:`policy_engine.common.bounded_read.read_bounded` (regular files only, capped per
kind of file): FIFOs, devices, directories, ``/proc`` files and symlink loops are refused with a
``file-unreadable`` diagnostic, never blocked on.

Problems are raised together as one :class:`~policy_engine.common.diagnostics.PolicyError`, with these
codes: ``file-not-found``, ``file-unreadable``, ``file-too-large``, ``parse-error``,
``duplicate-key``, ``non-string-key``, ``alias-limit``, ``nesting-limit``, ``multiple-documents``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import POLICY, FileKind, FileReadError, ReadProblem, read_bounded
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.digests import sha256
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.parse_cache import cached_parse

__all__ = ["DEFAULT_MAX_BYTES", "from_object", "load_file", "load_text", "read_error_diagnostic"]


#: The size cap of a policy file (that of :data:`policy_engine.common.bounded_read.POLICY`).
DEFAULT_MAX_BYTES = POLICY.max_bytes


# --- public entry points -------------------------------------------------------------------------


def load_file(path: str | Path, *, kind: FileKind = POLICY, max_bytes: int | None = None) -> LoadedDocument:
    """Read and parse a YAML or JSON file; raise :class:`PolicyError` with every problem found.

    The file is read by :func:`~policy_engine.common.bounded_read.read_bounded`: a regular file of at most
    ``max_bytes`` (default: the cap of ``kind``); FIFOs, devices, directories, pseudo files and
    symlink loops are refused with a ``file-unreadable`` diagnostic.
    """
    source = str(path)
    file_path = Path(path).expanduser()
    raw = _read_bytes(file_path, source, kind, max_bytes)
    text = _decode(raw, source)
    return replace(cached_parse(text, source, load_text), path=file_path.resolve())


def load_text(text: str, source: str = "<inline>") -> LoadedDocument:
    """Parse YAML (or JSON) text; ``source`` names it in diagnostics (a path or ``<inline>``).

    A source named ``*.json`` must be strict JSON (as pi-multi-pass reads it), checked by
    :mod:`json` before libyaml reads it again for the positions.
    """
    digest = sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return replace(_parse_text(text, source), digest=digest)


def _parse_text(text: str, source: str) -> LoadedDocument:
    # The readers import PyYAML, which a file found in the parse cache does without.
    import yaml

    from policy_engine.policy.json_reader import load_json
    from policy_engine.policy.yaml_reader import MultipleDocuments, build_document, compose, yaml_error

    if source.lower().endswith(".json"):
        return load_json(text, source)
    try:
        node = compose(text)
    except MultipleDocuments as exc:
        raise PolicyError([exc.diagnostic(source)]) from None
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in ("{", "["):
            try:
                return load_json(text, source)
            except PolicyError:
                pass
        raise PolicyError([yaml_error(exc, source, text)]) from None
    return build_document(node, source)


def from_object(obj: Any, source: str = "<inline>") -> LoadedDocument:
    """Wrap data that was not read from text (an API caller's dict); it has no positions."""
    return LoadedDocument(data=obj, source=source)


# --- reading -------------------------------------------------------------------------------------


def _read_bytes(path: Path, source: str, kind: FileKind, max_bytes: int | None) -> bytes:
    """The file's bytes through the bounded reader; a refusal becomes a located diagnostic."""
    try:
        return read_bounded(path, kind, max_bytes=max_bytes, source=source)
    except FileReadError as exc:
        raise PolicyError([read_error_diagnostic(exc)]) from None


def read_error_diagnostic(exc: FileReadError) -> Diagnostic:
    """The diagnostic of a file the bounded reader refused: ``file-not-found``, ``file-too-large`` or
    ``file-unreadable`` (a directory, FIFO, device, pseudo file, symlink loop, permission denied)."""
    code = _READ_CODES.get(exc.problem, "file-unreadable")
    message = f"no such file: {exc.path}" if exc.reason == "no such file" else f"{exc.path} {exc.reason}"
    if exc.problem is ReadProblem.UNREADABLE and exc.reason.startswith("cannot read it"):
        message = f"cannot read {exc.path}: {exc.reason.removeprefix('cannot read it: ')}"
    return Diagnostic(code=code, message=message, file=exc.path, hint=exc.hint)


_READ_CODES = {ReadProblem.MISSING: "file-not-found", ReadProblem.TOO_LARGE: "file-too-large"}


def _decode(raw: bytes, source: str) -> str:
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError(
            [
                Diagnostic(
                    code="parse-error",
                    message=f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                    file=source,
                    line=line,
                    col=col,
                    hint="save the file as UTF-8",
                )
            ]
        ) from None
