"""Credentials: which accounts are logged in, read from pi's ``auth.json`` (never written).

``auth.json`` maps a provider name to a credential (``{"type": "oauth", "access": ...}`` or
``{"type": "api_key", "key": ...}``). Each provider family reads its own entries
(:attr:`policy_engine.providers.families.ProviderSpec.read_credential`, a plugin hook); routing only uses
the *presence* of a credential, and no token ever appears in an error or an explanation.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from policy_engine.common.bounded_read import AUTH, FileReadError, ReadProblem, read_bounded
from policy_engine.common.records import dataclass
from policy_engine.common.timezones import SUPPORTED_YEARS, supported_epoch
from policy_engine.providers.families import Credential, CredentialReader, base_of, read_credential

__all__ = ["AuthFile", "AuthSource", "StaticAuth", "as_auth_source"]

@runtime_checkable
class AuthSource(Protocol):
    """Answers whether an account has stored credentials."""

    def has(self, provider: str) -> bool:
        """True when ``provider`` has a credential."""
        ...

    def providers(self) -> frozenset[str]:
        """Every provider with a credential."""
        ...


@dataclass(frozen=True)
class StaticAuth:
    """A fixed set of logged-in providers (tests, embedding)."""

    names: frozenset[str]

    def has(self, provider: str) -> bool:
        """True when ``provider`` is in the set."""
        return provider in self.names

    def providers(self) -> frozenset[str]:
        """The set itself."""
        return self.names


@dataclass
class AuthFile:
    """pi's ``auth.json``; unreadable files count as "no credentials" with a warning.

    The file is read through :func:`~policy_engine.common.bounded_read.read_bounded` (a regular file of at
    most :data:`~policy_engine.common.bounded_read.AUTH` bytes: a FIFO, a device, a directory or a symlink
    loop gives a warning, never a hang); JSON nested too deeply is a warning too, and a token
    expiry that is no real time (``NaN``, ``Infinity``, 2^63 ms) counts as unknown, with a warning.

    Read on first use and again when the file changes (checked at most once per
    ``recheck`` seconds), so a long-lived engine sees a new login.
    """

    path: Path
    warnings: list[str] = field(default_factory=list)
    recheck: float = 1.0
    readers: Mapping[str, CredentialReader] = field(default_factory=dict)  # base provider -> reader
    _names: frozenset[str] | None = None
    _creds: dict[str, Credential] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None
    _checked: float = 0.0

    def _changed(self) -> bool:
        now = time.monotonic()
        if now - self._checked < self.recheck:
            return False
        self._checked = now
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def _load(self) -> frozenset[str]:
        if self._names is not None and not self._changed():
            return self._names
        if self._names is None:
            self._changed()  # remember the file's current stamp
        self.warnings.clear()
        self._creds.clear()
        names: set[str] = set()
        data = self._read()
        for name, entry in data.items():
            base = base_of(str(name), self.readers) if self.readers else None
            reader = self.readers.get(base, read_credential) if base else read_credential
            try:
                cred = reader(entry)
            except Exception as exc:  # a provider plugin's reader must not break routing
                self.warnings.append(f"{self.path}: cannot read the credential of {name!s} "
                                     f"({type(exc).__name__}); it counts as not logged in")
                cred = None
            if cred is not None:
                names.add(str(name))
                self._creds[str(name)] = self._checked_expiry(str(name), cred)
        self._names = frozenset(names)
        return self._names

    def _read(self) -> dict[str, object]:
        """The file's object through the bounded reader; ``{}`` with a warning when it cannot be used.

        Never echoes the content (it holds tokens): only positions, sizes and kinds of problems.
        """
        try:
            raw = read_bounded(self.path, AUTH)
        except FileReadError as exc:
            if exc.problem is not ReadProblem.MISSING or os.path.islink(self.path):
                self.warnings.append(f"{self.path}: cannot read credentials: {exc.reason}; "
                                     "no account counts as logged in")
            return {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.warnings.append(f"{self.path}: not UTF-8 text; no account counts as logged in")
            return {}
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.warnings.append(f"{self.path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
                                 "no account counts as logged in")
            return {}
        except RecursionError:
            self.warnings.append(f"{self.path}: nested too deeply to be pi's auth.json; no account counts as logged in")
            return {}
        if not isinstance(data, dict):
            self.warnings.append(f"{self.path}: expected a JSON object of provider -> credential")
            return {}
        return data

    def _checked_expiry(self, name: str, cred: Credential) -> Credential:
        """``cred`` with an expiry outside the supported years (2^63 ms, NaN, Infinity) dropped, with a warning."""
        if cred.expires_at is None or supported_epoch(cred.expires_at) is not None:
            return cred
        low, high = SUPPORTED_YEARS
        self.warnings.append(f"{self.path}: the token expiry of {name} (at $.{name}.expires) is not a time between "
                             f"{low} and {high}; its expiry counts as unknown")
        return replace(cred, expires_at=None)

    def has(self, provider: str) -> bool:
        """True when ``auth.json`` holds a credential for ``provider``."""
        return provider in self._load()

    def providers(self) -> frozenset[str]:
        """Every provider with a stored credential."""
        return self._load()

    def expires_at(self, provider: str) -> float | None:
        """The OAuth access-token expiry (epoch seconds) when stored; never the token itself."""
        cred = self.credential(provider)
        return cred.expires_at if cred else None

    def credential(self, provider: str) -> Credential | None:
        """The credential of ``provider`` as its family reads it (for quota checkers; never print it)."""
        self._load()
        return self._creds.get(provider)


def as_auth_source(auth: AuthSource | Iterable[str] | None, agent_dir: Path,
                   readers: Mapping[str, CredentialReader] | None = None) -> AuthSource:
    """Turn what a caller passed (a source, a collection of names, or None) into an :class:`AuthSource`.

    ``readers`` (base provider -> credential reader, from the plugins) decide what counts as a login.
    """
    if auth is None:
        return AuthFile(agent_dir / "auth.json", readers=dict(readers or {}))
    if isinstance(auth, AuthSource):
        return auth
    if isinstance(auth, str):
        return StaticAuth(frozenset([auth]))
    if isinstance(auth, Collection | Iterable):
        return StaticAuth(frozenset(auth))
    raise TypeError(f"auth must be an AuthSource or a collection of provider names, not {type(auth).__name__}")
