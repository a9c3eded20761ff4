"""Provider families (base providers) and the registry entry a plugin contributes for each."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from policy_engine.common.records import dataclass

if TYPE_CHECKING:
    from policy_engine.classify import ProviderRule

__all__ = ["Credential", "CredentialReader", "ProviderSpec", "base_of", "read_credential", "subscription_name"]

_INDEX_SUFFIX = re.compile(r"^(.*)-(\d+)$")


_SECRET_KEYS = ("access", "refresh", "key", "token", "id_token", "apiKey")


@dataclass(frozen=True)
class Credential:
    """One account's stored credential, as a provider family reads it from ``auth.json``.

    ``secret`` is the raw entry (tokens included); it is excluded from ``repr`` and must never be
    printed, logged or put in an error message. ``expires_at`` is epoch seconds.
    """

    kind: str
    expires_at: float | None = None
    account_id: str | None = None
    secret: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


#: Reads one ``auth.json`` entry; ``None`` means "not a usable credential" (the account is not logged in).
CredentialReader = Callable[[Any], "Credential | None"]


def read_credential(entry: Any) -> Credential | None:
    """pi's ``auth.json`` entry shapes: ``{"type": "oauth", "access", "refresh", "expires" (ms)}``,
    ``{"type": "api_key", "key"}``, or any object holding a non-empty token field."""
    if not isinstance(entry, Mapping):
        return None
    kind = entry.get("type")
    has_secret = any(isinstance(entry.get(k), str) and entry.get(k) for k in _SECRET_KEYS)
    if not has_secret and kind not in {"oauth", "api_key"}:
        return None
    expires = entry.get("expires")
    expires_at = float(expires) / 1000.0 if isinstance(expires, int | float) and not isinstance(expires, bool) else None
    account = entry.get("accountId") or entry.get("account_id")
    return Credential(kind=str(kind or "token"), expires_at=expires_at,
                      account_id=account if isinstance(account, str) else None, secret=entry)


@dataclass(frozen=True)
class ProviderSpec:
    """A provider family: base key (``anthropic``), display name, error rules, credentials, models.

    ``read_credential`` decides which ``auth.json`` entries of this family's accounts count as a
    login (default: :func:`read_credential`). ``models`` is the model catalogue when one is known
    (``None`` = unknown: no ``no-model`` skips for this family).
    """

    base: str
    display_name: str
    error_rules: Sequence[ProviderRule] = field(default_factory=tuple)
    models: frozenset[str] | None = None
    read_credential: CredentialReader = read_credential


def base_of(name: str, bases: frozenset[str] | set[str] | dict[str, object]) -> str | None:
    """The base provider of an account name (``openai-codex-2`` -> ``openai-codex``), or None."""
    if name in bases:
        return name
    match = _INDEX_SUFFIX.match(name)
    if match and match.group(1) in bases:
        return match.group(1)
    return None


def subscription_name(base: str, index: int) -> str:
    """The account name of an extra subscription: ``<base>-<index>``."""
    return f"{base}-{index}"
