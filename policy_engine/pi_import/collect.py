"""Collecting the differences found while converting one pi file, with the line of each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy_engine.pi_import.model import Difference, DifferenceKind
from policy_engine.policy.document import LoadedDocument

__all__ = ["Collector", "JsonPath"]

JsonPath = tuple[str | int, ...]


class Collector:
    """Collects the differences found in one pi file, each with the line of its path."""

    def __init__(self, doc: LoadedDocument, label: str) -> None:
        self.doc = doc
        self.label = label
        self.items: list[Difference] = []

    def add(self, code: str, kind: DifferenceKind, path: JsonPath, message: str) -> None:
        """Record a difference at ``path`` (a JSON path in the pi file)."""
        where = self.doc.position(path)
        self.items.append(Difference(code=code, message=message, kind=kind, file=self.label, path=tuple(path),
                                     line=where[0] if where else None))

    def drop_unknown(self, item: Mapping[str, Any], allowed: Sequence[str], path: JsonPath, what: str) -> None:
        """Report every key of ``item`` that is not in ``allowed`` as left out."""
        for key in item:
            if key not in allowed:
                self.add("unknown-key", "dropped", (*path, key),
                         f"{what}: pi-multi-pass ignores the key {key!r} and mp-policy does not know it; left out")
