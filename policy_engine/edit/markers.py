"""Style markers for new values: whether a new mapping or list is written on one line or one item a line.

The edit operations wrap the values they add in these markers (a subscription is a
:class:`FlowMap`, a pool a :class:`BlockMap` with :class:`FlowList` members). The YAML and JSON
writers read the markers where nothing in the file says otherwise; the markers are plain
``dict`` and ``list`` subclasses, so the values stay ordinary data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BlockList", "BlockMap", "FlowList", "FlowMap", "is_block_value"]


class FlowMap(dict):  # type: ignore[type-arg]
    """A new mapping to be written in flow style (``{pool: a, model: b}``, one line)."""


class BlockMap(dict):  # type: ignore[type-arg]
    """A new mapping to be written in block style (one key per line)."""


class FlowList(list):  # type: ignore[type-arg]
    """A new list to be written in flow style (``[a, b]``, one line)."""


class BlockList(list):  # type: ignore[type-arg]
    """A new list to be written in block style (one item per line)."""


def is_block_value(value: Any) -> bool:
    """Whether a new value is written one item a line when nothing else decides.

    Block: a non-empty mapping that is not a :class:`FlowMap`; a non-empty list that is not a
    :class:`FlowList` and is a :class:`BlockList` or holds collections. Everything else is flow.
    """
    if isinstance(value, Mapping):
        return bool(value) and not isinstance(value, FlowMap)
    if isinstance(value, list | tuple):
        if not value or isinstance(value, FlowList):
            return False
        return isinstance(value, BlockList) or any(isinstance(v, Mapping | list | tuple) for v in value)
    return False
