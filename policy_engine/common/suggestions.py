"""Spelling suggestions for names users type: "did you mean ..."."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

__all__ = ["did_you_mean"]


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word`` (case, ``_`` and ``-`` ignored first), or None."""
    choices = list(options)

    def norm(text: str) -> str:
        return text.replace("_", "").replace("-", "").lower()

    for option in choices:
        if norm(option) == norm(word):
            return option
    by_norm = {norm(option): option for option in choices}
    close = difflib.get_close_matches(norm(word), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None
