"""Reading pi-multi-pass's JSON files: strict JSON with positions, and a check that it is a pi config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from policy_engine.common.diagnostics import PolicyError
from policy_engine.pi_import.model import PiImportError, SourceKind
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import load_file

__all__ = ["PI_KEYS", "read_pi_file"]

#: The keys pi-multi-pass 1.3.0 reads, per file kind.
PI_KEYS: Mapping[SourceKind, tuple[str, ...]] = {
    "policy": ("subscriptions", "pools", "chains", "presets"),
    "project": ("allowedSubs", "pools", "chains"),
}


def read_pi_file(path: Path, kind: SourceKind) -> LoadedDocument:
    """Read ``path`` as pi reads it (``JSON.parse``), keeping every value's line; check it is a pi config.

    Raises :class:`PiImportError` for a missing file, a YAML file, JSON that does not parse (with
    its line and column) and a document that is not a pi-multi-pass config.
    """
    shown = str(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise PiImportError("this is already a YAML policy; mp-policy reads it as it is", file=shown,
                            hint="import reads pi-multi-pass's multi-pass.json; check a YAML policy with "
                            "`mp-policy validate`")
    if path.suffix.lower() != ".json":
        raise PiImportError("expected a pi-multi-pass JSON file (multi-pass.json)", file=shown,
                            hint="pi-multi-pass keeps its configuration in <agentDir>/multi-pass.json and "
                            "<project>/.pi/multi-pass.json")
    try:
        doc = load_file(path)
    except PolicyError as exc:
        first = exc.errors[0] if exc.errors else exc.diagnostics[0]
        hint = first.hint
        if first.code == "file-not-found":
            hint = "give the file as FILE, or the agent directory with --agent-dir (default: $PI_CODING_AGENT_DIR, " \
                   "else ~/.pi/agent)"
        raise PiImportError(f"{first.code}: {first.message}", file=shown, line=first.line, col=first.col,
                            hint=hint) from None
    _check_shape(doc, kind, shown)
    return doc


def _check_shape(doc: LoadedDocument, kind: SourceKind, shown: str) -> None:
    data = doc.data
    expected = ", ".join(PI_KEYS[kind])
    if not isinstance(data, Mapping):
        what = {list: "a list", str: "a string", type(None): "empty"}.get(type(data), type(data).__name__)
        root = doc.position(())
        line = root[0] if root else None
        raise PiImportError(f"not a pi-multi-pass config: the document is {what}, not an object with {expected}",
                            file=shown, line=line)
    if not data:
        return  # {}: pi-multi-pass writes it for an empty project config, and it means "nothing set"
    if any(_looks_right(key, data[key]) for key in data):
        return
    hint = f"a pi-multi-pass {'project ' if kind == 'project' else ''}config has {expected}"
    if all(isinstance(v, Mapping) and v.get("type") in ("oauth", "api_key") for v in data.values()):
        hint = "this looks like pi's auth.json (credentials); the routing config is multi-pass.json next to it"
    found = ", ".join(sorted(map(str, data))[:6])
    raise PiImportError(f"not a pi-multi-pass config: none of its keys ({found}) is one of {expected}",
                        file=shown, line=1, hint=hint)


def _looks_right(key: str, value: object) -> bool:
    """A key of a pi config (any value: pi reads a wrong one as empty), or of mp-policy with a fitting value."""
    if key in ("subscriptions", "pools", "chains", "presets", "allowedSubs"):
        return True
    if key == "errorRules":
        return isinstance(value, list)
    if key == "settings":
        return isinstance(value, Mapping)
    return key == "version" and value == 1
