"""Reading an event script (``mp-policy simulate --events``): its YAML, checked key by key, as an
:class:`~policy_engine.simulate.events.EventScript` with located diagnostics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import EVENT_SCRIPT
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.durations import parse_duration
from policy_engine.common.suggestions import did_you_mean
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import load_file
from policy_engine.simulate.events import (
    Action,
    AuthAction,
    BurnAction,
    EventScript,
    FailAction,
    QuotaAction,
    ScriptEvent,
    TimeSpec,
    parse_time_spec,
)

__all__ = ["load_events", "parse_events"]

_TOP_KEYS = ("start", "period", "step", "auth", "quota", "routes", "events")
_EVENT_KEYS = ("at", "every", "count", "fail", "burn", "quota", "login", "logout")
_ACTIONS = ("fail", "burn", "quota", "login", "logout")
_FAIL_KEYS = ("provider", "status", "message", "type", "code", "headers", "body", "retryAfter")
_BURN_KEYS = ("provider", "perHour", "remaining", "for", "exhaust", "resetAfter")
_QUOTA_KEYS = ("provider", "remaining")


# -- parsing ---------------------------------------------------------------------------------------


class _Reader:
    """Reads the document, collecting every problem with its position."""

    def __init__(self, doc: LoadedDocument) -> None:
        self.doc = doc
        self.problems: list[Diagnostic] = []

    def error(self, code: str, message: str, path: Sequence[str | int], hint: str | None = None,
              at_key: bool = False) -> None:
        self.problems.append(self.doc.diagnostic(code, message, path, hint=hint, at_key=at_key))

    def mapping(self, value: Any, path: tuple[str | int, ...], what: str, keys: Sequence[str]) -> bool:
        if not isinstance(value, Mapping):
            self.error("type", f"{what} must be a mapping, got {_kind(value)}", path)
            return False
        for key in value:
            if key not in keys:
                close = did_you_mean(str(key), keys)
                self.error("unknown-key", f"unknown key {key!r} in {what}", (*path, key),
                           f"did you mean {close!r}?" if close else f"expected one of {', '.join(keys)}",
                           at_key=True)
        return True

    def duration(self, value: Any, path: tuple[str | int, ...], positive: bool = True) -> timedelta | None:
        try:
            found = parse_duration(value)
        except ValueError as exc:
            self.error("duration", str(exc), path, "durations are written 90s, 5m, 1h30m, 2d")
            return None
        if positive and found <= timedelta(0):
            self.error("duration", f"the duration must be more than 0, got {value!r}", path)
            return None
        return found

    def number(self, value: Any, path: tuple[str | int, ...], low: float, high: float | None, what: str
               ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.error("type", f"{what} must be a number, got {_kind(value)}", path)
            return None
        if value < low or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            self.error("range", f"{what} must be {bounds}, got {value!r}", path)
            return None
        return float(value)

    def text(self, value: Any, path: tuple[str | int, ...], what: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error("type", f"{what} must be a non-empty string, got {_kind(value)}", path,
                       "quote names that YAML reads otherwise: \"off\"" if isinstance(value, bool) else None)
            return None
        return value

    def names(self, value: Any, path: tuple[str | int, ...], what: str) -> tuple[str, ...] | None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.error("type", f"{what} must be an account name or a non-empty list of them, got {_kind(value)}",
                       path)
            return None
        out = []
        for i, item in enumerate(items):
            name = self.text(item, path if isinstance(value, str) else (*path, i), f"{what} item")
            if name is not None:
                out.append(name)
        return tuple(out) if len(out) == len(items) else None

    def time_spec(self, value: Any, path: tuple[str | int, ...]) -> TimeSpec | None:
        try:
            return parse_time_spec(value)
        except ValueError as exc:
            self.error("time", str(exc), path)
            return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def parse_events(doc: LoadedDocument) -> EventScript:
    """Check and read an event script document; raises :class:`PolicyError` with every problem."""
    reader = _Reader(doc)
    data = doc.data
    if data is None:
        data = {}
    if not reader.mapping(data, (), "the event script", _TOP_KEYS):
        raise PolicyError(reader.problems)
    start = reader.time_spec(data["start"], ("start",)) if "start" in data else None
    period = reader.duration(data["period"], ("period",)) if "period" in data else None
    step = reader.duration(data["step"], ("step",)) if "step" in data else None
    auth = None
    if "auth" in data:
        value = data["auth"]
        if value == []:
            auth = frozenset()
        else:
            names = reader.names(value, ("auth",), "auth")
            auth = frozenset(names) if names is not None else None
    quota: dict[str, float] = {}
    if "quota" in data:
        raw_quota = data["quota"]
        if not isinstance(raw_quota, Mapping):
            reader.error("type", f"quota must be a mapping of accounts to remaining percent, got {_kind(raw_quota)}",
                         ("quota",), "e.g. quota: {openai-codex: 80, openai-codex-2: 35}")
            raw_quota = {}
        for name, value in raw_quota.items():
            number = reader.number(value, ("quota", name), 0, 100, f"quota of {name}")
            if number is not None:
                quota[name] = number
    routes: tuple[str, ...] = ()
    if "routes" in data:
        found = reader.names(data["routes"], ("routes",), "routes")
        routes = found or ()
    events: list[ScriptEvent] = []
    raw_events = data.get("events", [])
    if raw_events is None:
        raw_events = []
    if not isinstance(raw_events, list):
        reader.error("type", f"events must be a list, got {_kind(raw_events)}", ("events",),
                     "write each event as a list item: - {at: tue 10:30, fail: {provider: anthropic}}")
    else:
        for i, raw in enumerate(raw_events):
            event = _event(reader, raw, i)
            if event is not None:
                events.append(event)
    if reader.problems:
        raise PolicyError(reader.problems)
    return EventScript(source=doc.source, start=start, period=period, step=step, auth=auth, quota=quota,
                       routes=routes, events=tuple(events), document=doc)


def _event(reader: _Reader, raw: Any, i: int) -> ScriptEvent | None:
    path: tuple[str | int, ...] = ("events", i)
    if not reader.mapping(raw, path, f"event {i}", _EVENT_KEYS):
        return None
    problems = len(reader.problems)
    if "at" not in raw:
        reader.error("required", f"event {i} has no 'at' (when it happens)", path,
                     "e.g. at: tue 10:30, at: +2h or at: 2026-11-24T10:30")
    at = reader.time_spec(raw["at"], (*path, "at")) if "at" in raw else None
    actions = [key for key in _ACTIONS if key in raw]
    if len(actions) != 1:
        what = "no action" if not actions else f"several actions ({', '.join(actions)})"
        reader.error("action", f"event {i} has {what}; give exactly one of {', '.join(_ACTIONS)}", path,
                     "write several events at the same time to do several things")
        return None
    every = reader.duration(raw["every"], (*path, "every")) if "every" in raw else None
    count = None
    if "count" in raw:
        value = raw["count"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            reader.error("type", f"count must be a whole number of at least 1, got {_kind(value)}", (*path, "count"))
        elif "every" not in raw:
            reader.error("count", "count only goes with every", (*path, "count"), "add every: 1d (or remove count)")
        else:
            count = value
    key = actions[0]
    action = _action(reader, key, raw[key], (*path, key))
    if at is None or action is None or len(reader.problems) > problems:
        return None
    line = reader.doc.position(path)
    origin = f"{reader.doc.source}:{line[0]}" if line else reader.doc.source
    return ScriptEvent(at=at, action=action, index=i, every=every, count=count, origin=origin)


def _action(reader: _Reader, key: str, value: Any, path: tuple[str | int, ...]) -> Action | None:
    if key in ("login", "logout"):
        names = reader.names(value, path, key)
        return AuthAction(names, key == "login") if names is not None else None
    keys = {"fail": _FAIL_KEYS, "burn": _BURN_KEYS, "quota": _QUOTA_KEYS}[key]
    if not reader.mapping(value, path, key, keys):
        return None
    problems = len(reader.problems)
    provider = reader.text(value.get("provider"), (*path, "provider"), f"{key}.provider") \
        if "provider" in value else None
    if "provider" not in value:
        reader.error("required", f"{key} needs a provider (the account it happens to)", path)
    if key == "fail":
        return _fail(reader, value, path, provider, problems)
    if key == "burn":
        return _burn(reader, value, path, provider, problems)
    remaining = None
    if "remaining" not in value:
        reader.error("required", "quota needs remaining (percent, 0 to 100)", path)
    else:
        remaining = reader.number(value["remaining"], (*path, "remaining"), 0, 100, "remaining")
    if provider is None or remaining is None or len(reader.problems) > problems:
        return None
    return QuotaAction(provider, remaining)


def _fail(reader: _Reader, value: Mapping[str, Any], path: tuple[str | int, ...], provider: str | None,
          problems: int) -> FailAction | None:
    status = 429
    if "status" in value:
        raw = value["status"]
        if isinstance(raw, bool) or not isinstance(raw, int) or not 100 <= raw <= 599:
            reader.error("status", f"status must be an HTTP status code (100-599), got {_kind(raw)}",
                         (*path, "status"))
        else:
            status = raw
    strings = {}
    for name in ("message", "type", "code"):
        if name in value:
            if not isinstance(value[name], str):
                reader.error("type", f"{name} must be a string, got {_kind(value[name])}", (*path, name))
            else:
                strings[name] = value[name]
    headers: dict[str, str] = {}
    if "headers" in value:
        raw_headers = value["headers"]
        if not isinstance(raw_headers, Mapping):
            reader.error("type", f"headers must be a mapping of header names to values, got {_kind(raw_headers)}",
                         (*path, "headers"))
        else:
            for name, text in raw_headers.items():
                if isinstance(text, bool) or not isinstance(text, str | int | float):
                    reader.error("type", f"header {name!r} must be a string or a number, got {_kind(text)}",
                                 (*path, "headers", name))
                else:
                    headers[str(name)] = str(text)
    retry = reader.duration(value["retryAfter"], (*path, "retryAfter")) if "retryAfter" in value else None
    if retry is not None:
        headers.setdefault("retry-after", str(math.ceil(retry.total_seconds())))
    if provider is None or len(reader.problems) > problems:
        return None
    return FailAction(provider, status, strings.get("message", ""), strings.get("type"), strings.get("code"),
                      headers, value.get("body"), retry)


def _burn(reader: _Reader, value: Mapping[str, Any], path: tuple[str | int, ...], provider: str | None,
          problems: int) -> BurnAction | None:
    rate = None
    if "perHour" not in value:
        reader.error("required", "burn needs perHour (percent of the quota used per hour)", path,
                     "e.g. burn: {provider: openai-codex, perHour: 12.5}")
    else:
        rate = reader.number(value["perHour"], (*path, "perHour"), 0, 100_000, "perHour")
    remaining = reader.number(value["remaining"], (*path, "remaining"), 0, 100, "remaining") \
        if "remaining" in value else None
    duration = reader.duration(value["for"], (*path, "for")) if "for" in value else None
    reset = reader.duration(value["resetAfter"], (*path, "resetAfter")) if "resetAfter" in value else None
    exhaust = True
    if "exhaust" in value:
        if not isinstance(value["exhaust"], bool):
            reader.error("type", f"exhaust must be true or false, got {_kind(value['exhaust'])}", (*path, "exhaust"))
        else:
            exhaust = value["exhaust"]
    if provider is None or rate is None or len(reader.problems) > problems:
        return None
    return BurnAction(provider, rate, remaining, duration, exhaust, reset)


def load_events(path: str | Path) -> EventScript:
    """Load and check an event script file; raises :class:`PolicyError` (file:line:col, JSON path, hint)."""
    return parse_events(load_file(path, kind=EVENT_SCRIPT))
