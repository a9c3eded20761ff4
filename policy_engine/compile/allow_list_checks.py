"""Compile warnings about what a project's allow-list (``allowedSubs``) leaves empty (issue 15 item 4).

A pool with no allowed member, a chain whose every entry goes into such a pool, and a preset none of
whose entries has an allowed provider or an allowed pool sibling can never give a target in this
project: a request that names them gets ``target: null``. ``mp-policy validate`` says so up front.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from policy_engine.compile.graph import CompiledChain, CompiledPool, CompiledPreset

__all__ = ["EmptiedWarning", "emptied_by_allow_list"]


class EmptiedWarning(NamedTuple):
    """One warning: the section and index of what is emptied, and the message."""

    section: str
    name: str
    message: str


def emptied_by_allow_list(allowed: frozenset[str] | None, pools: Mapping[str, CompiledPool],
                          chains: Mapping[str, CompiledChain], presets: Mapping[str, CompiledPreset],
                          provider_pool: Mapping[str, str]) -> list[EmptiedWarning]:
    """The enabled pools, chains and presets that ``allowed`` leaves without any account."""
    if allowed is None:
        return []
    names = ", ".join(sorted(allowed))
    found: list[EmptiedWarning] = []
    for pool in pools.values():
        if pool.enabled and pool.dropped:
            found.append(EmptiedWarning("pools", pool.name,
                                        f"pool {pool.name!r}: none of its members is allowed in this project "
                                        f"(allowedSubs: {names}), so it gives no target here"))
    for chain in chains.values():
        live = [e for e in chain.entries if e.enabled]
        if chain.enabled and live and all(e.dropped for e in live):
            found.append(EmptiedWarning("chains", chain.name,
                                        f"chain {chain.name!r}: the project's allowedSubs ({names}) empties the pool "
                                        "of every entry, so it gives no target here"))
    for preset in presets.values():
        live = [e for e in preset.entries if e.enabled and e.provider]
        if preset.enabled and live and not any(_serves(e.provider or "", allowed, pools, provider_pool)
                                               for e in live):
            found.append(EmptiedWarning("presets", preset.name,
                                        f"preset {preset.name!r}: no entry's provider (nor a pool sibling of it) is "
                                        f"allowed by the project's allowedSubs ({names}), so it gives no target here"))
    return found


def _serves(provider: str, allowed: frozenset[str], pools: Mapping[str, CompiledPool],
            provider_pool: Mapping[str, str]) -> bool:
    if provider in allowed:
        return True
    pool = pools.get(provider_pool.get(provider, ""))
    return pool is not None and pool.enabled and bool(pool.members)
