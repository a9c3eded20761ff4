"""Hypothesis strategies for hostile set-ups: policies, overlays, ``auth.json``, test files, event scripts.

Each strategy first builds a *valid-looking* structure (pools of one family, chains and presets
that name them, real durations and times), so about half the set-ups get deep into the engine.
:func:`mutated` then replaces random parts with hostile values (huge or non-finite numbers,
control characters, NUL bytes, absurd durations and dates, wrong types, the strings that name
FIFOs, symlink loops and devices), and :func:`serialised` writes the result as YAML or JSON,
sometimes corrupted at the byte level (truncated, deeply nested, alias bombs, invalid UTF-8,
duplicate keys).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import strategies as st

__all__ = ["SetUp", "auth_files", "event_scripts", "mutated", "overlays", "policies", "serialised", "set_ups",
           "test_files"]

FAMILIES = {"anthropic": ["anthropic", "anthropic-2", "anthropic-3"],
            "openai-codex": ["openai-codex", "openai-codex-2"],
            "google-gemini-cli": ["google-gemini-cli"],
            "github-copilot": ["github-copilot", "github-copilot-2"]}
ACCOUNTS = [a for members in FAMILIES.values() for a in members]
MODELS = ["claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"]
DURATIONS = ["1s", "90s", "5m", "1h30m", "2d", "250ms", 300]
INSTANTS = ["2026-11-24T10:30:00+01:00", "2026-03-29T02:30:00+02:00", "2026-11-24T11:00:00+00:00"]
#: Files the runner creates in the agent directory: a FIFO, a symlink loop, a directory, real scripts.
SPECIAL_FILES = ["fifo.py", "fifo.yaml", "loop.js", "dir.py", "pick.py", "pick.js"]

# ---------------------------------------------------------------------------------- hostile values

_hostile_text = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "\x1b[31mred", "\x1b[2J", "\x07", "\r\n", "\u202eevil", "\udc80",
                     "../../etc/passwd", "/dev/zero", "/proc/self/mem", "~/x", "%s%n", "{0}", "${HOME}", "NaN",
                     "Infinity", "1e400", "x" * 5000, "naïve", "Main", "a b", *SPECIAL_FILES]),
    st.text(max_size=12),
)
_hostile_number = st.one_of(
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_hostile_duration = st.sampled_from(["0", "0s", "-5m", "999999999d", "1e400", "m", "5 m", "0ms", "36500d", "P1D",
                                     "9999999999999999999999s", "1h" * 400])
_hostile_instant = st.sampled_from([
    "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:00:00+00:00", "2026-02-30T10:00:00+00:00", "2026-11-24", "tomorrow", "2026-11-24T10:30",
])
_junk: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), _hostile_number, _hostile_text, _hostile_duration, _hostile_instant),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_hostile_text, inner, max_size=3)),
    max_leaves=6,
)

# ------------------------------------------------------------------------------------ clean values

_durations = st.sampled_from(DURATIONS)
_instants = st.sampled_from(INSTANTS)
_models = st.sampled_from(MODELS)
_accounts = st.sampled_from(ACCOUNTS)
_window = st.one_of(
    st.fixed_dictionaries({"hours": st.sampled_from([[9, 17], [22, 6], [0, 24]])},
                          optional={"days": st.sampled_from([["mon", "tue"], ["mon-fri"], ["sat", "sun"]])}),
    st.fixed_dictionaries({"cron": st.sampled_from(["0 9 * * *", "*/30 * * * *", "0 17 * * 1-5"]),
                           "duration": st.sampled_from(["1h", "8h", "16h"])}),
    st.fixed_dictionaries({"days": st.sampled_from([["mon"], ["sat", "sun"]])}),
)


@st.composite
def _pool(draw: st.DrawFn, name: str) -> dict[str, Any]:
    family = draw(st.sampled_from(sorted(FAMILIES)))
    members = draw(st.lists(st.sampled_from(FAMILIES[family]), min_size=1, max_size=3, unique=True))
    pool: dict[str, Any] = {"name": name, "baseProvider": family, "members": members}
    strategy = draw(st.sampled_from(["round-robin", "quota-first", "scheduled", "custom", None]))
    if strategy is not None:
        pool["strategy"] = strategy
    if strategy == "custom":
        pool["selectorScript"] = draw(st.sampled_from([*SPECIAL_FILES, "missing.py"]))
    if strategy == "scheduled":
        pool["memberSchedule"] = {m: {"role": draw(st.sampled_from(["preferred", "default", "overflow"])),
                                      "windows": draw(st.lists(_window, min_size=1, max_size=2))}
                                  for m in members[:2]}
    if draw(st.booleans()):
        pool["cooldown"] = draw(_durations)
    if draw(st.integers(0, 5)) == 0:
        pool["enabled"] = False
    return pool


@st.composite
def _policy(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["claude", "codex", "gem", "work", "spare"]), max_size=4, unique=True))
    pools = [draw(_pool(name)) for name in names]
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["settings"] = draw(st.fixed_dictionaries({}, optional={
            "cooldown": _durations, "timezone": st.sampled_from(["UTC", "Europe/Vienna", "America/New_York"]),
            "selectorTimeout": st.sampled_from(["100ms", "250ms", "1s"]), "turnTtl": st.sampled_from(["10m", "1h"]),
        }))
    subs = draw(st.lists(st.sampled_from([("anthropic", 2), ("anthropic", 3), ("openai-codex", 2),
                                          ("github-copilot", 2)]), max_size=4, unique=True))
    if subs:
        doc["subscriptions"] = [{"provider": p, "index": i} for p, i in subs]
    if pools:
        doc["pools"] = pools
        doc["chains"] = [{"name": "main", "entries": [
            {"pool": draw(st.sampled_from(names)), "model": draw(_models)} for _ in range(draw(st.integers(1, 3)))]}]
    doc["presets"] = [{"name": "p", "entries": [
        {"provider": draw(_accounts), "model": draw(_models)} for _ in range(draw(st.integers(1, 3)))]}]
    if draw(st.integers(0, 3)) == 0:
        doc["errorRules"] = [{"match": draw(st.sampled_from(["rate", "(a+)+$", "(.|.)*x$", "quota.*used"])),
                              "kind": draw(st.sampled_from(["rate_limit", "quota_exhausted", "auth"]))}]
    return doc


policies = _policy()
overlays = st.fixed_dictionaries({}, optional={
    "allowedSubs": st.lists(_accounts, max_size=3, unique=True),
    "settings": st.fixed_dictionaries({}, optional={"cooldown": _durations, "selectorTimeout": st.just("2s")}),
})
_credential = st.fixed_dictionaries(
    {"type": st.just("oauth"), "access": st.just("sk-ant-oat01-FUZZ-CANARY"), "refresh": st.just("rt-FUZZ-CANARY")},
    optional={"expires": st.sampled_from([4102444800000, 1700000000000])},
)
auth_files = st.dictionaries(_accounts, st.one_of(_credential, st.just({"type": "api_key", "key": "sk-FUZZ-CANARY"})),
                             max_size=6)
_step = st.one_of(
    st.builds(lambda route, name, model: {"select": {route: name, "model": model}},
              st.sampled_from(["pool", "chain", "preset"]), st.sampled_from(["claude", "main", "p", "codex"]),
              _models),
    st.builds(lambda status: {"fail": {"status": status, "message": "rate_limit_error"}},
              st.sampled_from([429, 400, 401, 503, 529])),
    st.builds(lambda d: {"advance": d}, _durations),
    st.just({"succeed": {}}),
)
test_files = st.fixed_dictionaries(
    {"policy": st.one_of(policies, st.just("multi-pass.yaml")),
     "given": st.fixed_dictionaries({"at": _instants, "auth": st.lists(_accounts, max_size=4, unique=True)}),
     "cases": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b"]),
                                              "steps": st.lists(_step, min_size=1, max_size=5)}),
                       min_size=1, max_size=2)},
    optional={"project": overlays},
)
_event = st.one_of(
    st.fixed_dictionaries({"at": st.sampled_from(["mon 10:30", "+2h", "tue 09:00"]),
                           "fail": st.fixed_dictionaries({"provider": _accounts, "status": st.sampled_from([429, 529]),
                                                          "retryAfter": _durations})},
                          optional={"every": st.sampled_from(["1d", "1h"]), "count": st.integers(1, 5)}),
    st.fixed_dictionaries({"at": st.just("+1h"), "burn": st.fixed_dictionaries(
        {"provider": _accounts, "perHour": st.integers(1, 50), "remaining": st.integers(0, 100)})}),
    st.builds(lambda account: {"at": "+3h", "logout": account}, _accounts),
)
event_scripts = st.fixed_dictionaries({"events": st.lists(_event, max_size=4)},
                                      optional={"period": st.sampled_from(["1d", "2d"]), "step": st.just("1h")})

# ---------------------------------------------------------------------------------------- mutation


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    """A value of ``base``, half the time with up to three random nodes replaced by hostile junk."""
    value = draw(base)
    if draw(st.booleans()):
        return value
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        value = _replace_somewhere(value, draw(_junk), draw(st.integers(min_value=0, max_value=10 ** 6)))
    return value


def _replace_somewhere(value: Any, junk: Any, seed: int) -> Any:
    """Replace the node chosen by ``seed`` (a walk that descends while ``seed`` says so) with ``junk``."""
    if seed % 4 == 0 or not isinstance(value, dict | list) or not value:
        return junk
    if isinstance(value, dict):
        keys = list(value)
        key = keys[seed % len(keys)]
        return {**value, key: _replace_somewhere(value[key], junk, seed // 4)}
    index = seed % len(value)
    return [*value[:index], _replace_somewhere(value[index], junk, seed // 4), *value[index + 1:]]


_CORRUPTIONS = ("none",) * 12 + ("truncate", "deep", "aliases", "bad-utf8", "duplicate", "bom", "tabs")


@st.composite
def serialised(draw: st.DrawFn, value: Any, *, json_only: bool = False) -> bytes:
    """``value`` as YAML or JSON bytes, sometimes corrupted at the byte level."""
    as_json = json_only or draw(st.booleans())
    try:
        if as_json:
            text = json.dumps(value, indent=draw(st.sampled_from([None, 2])), ensure_ascii=draw(st.booleans()))
        else:
            text = yaml.safe_dump(value, allow_unicode=draw(st.booleans()), sort_keys=False)
    except (ValueError, TypeError, yaml.YAMLError, RecursionError):
        text = repr(value)
    raw = text.encode("utf-8", "surrogatepass")
    corruption = draw(st.sampled_from(_CORRUPTIONS))
    if corruption == "truncate" and raw:
        raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
    elif corruption == "deep":
        depth = draw(st.sampled_from([1000, 100_000]))
        raw = b"[" * depth + b"]" * depth if as_json else b"a: " + b"[" * depth + b"]" * depth
    elif corruption == "aliases" and not as_json:
        lines = [b"a: &a [x, x, x, x, x, x, x, x, x, x]"]
        lines += [b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]" % ((98 + i,) * 2 + (97 + i,) * 8)
                  for i in range(8)]
        raw = b"\n".join(lines) + b"\npools: *i\n"
    elif corruption == "bad-utf8":
        raw = raw[: len(raw) // 2] + b"\xff\xfe\xc3" + raw[len(raw) // 2:]
    elif corruption == "duplicate" and not as_json:
        raw = b"pools: []\n" + raw
    elif corruption == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif corruption == "tabs":
        raw = raw.replace(b"  ", b"\t")
    return raw


class SetUp(dict[str, bytes]):
    """The files of one generated set-up: name (relative to the agent directory) → bytes."""


@st.composite
def set_ups(draw: st.DrawFn) -> SetUp:
    """An agent directory's worth of hostile files (policy, overlay, auth.json, a test file, an event script)."""
    files = SetUp()
    policy_name = draw(st.sampled_from(["multi-pass.yaml", "multi-pass.yaml", "multi-pass.json"]))
    files[policy_name] = draw(serialised(draw(mutated(policies)), json_only=policy_name.endswith(".json")))
    if draw(st.booleans()):
        files["project/.pi/multi-pass.yaml"] = draw(serialised(draw(mutated(overlays))))
    if draw(st.integers(0, 3)):
        files["auth.json"] = draw(serialised(draw(mutated(auth_files)), json_only=True))
    files["case.test.yaml"] = draw(serialised(draw(mutated(test_files))))
    files["events.yaml"] = draw(serialised(draw(mutated(event_scripts))))
    return files
