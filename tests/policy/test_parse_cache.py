"""The parse cache: a file read again gives the very document a fresh parse gives, and PyYAML is not needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.common.diagnostics import PolicyError
from policy_engine.policy import loader, parse_cache
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import load_file

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(p for folder in ("policies", "examples", "tests/fixtures") for p in (REPO / folder).rglob("*")
               if p.suffix in (".yaml", ".yml", ".json"))
ODD = """\
# values of every kind, a YAML 1.1 boolean and unicode
settings: {cooldown: 5m, flag: off, big: 123456789012345678901234567890, ratio: 0.1, none: null}
pools:
  - name: "caf\\u00e9 \\U0001F600"
    members: [anthropic, "anthropic-2"]
    weights: {anthropic: 1.5e3, anthropic-2: -0.0}
  - {name: b, list: [[1, 2], {deep: [true, ~]}]}
"""


def _typed(value: Any) -> Any:
    """``value`` with the type of every part spelled out (so 1 and 1.0 and True differ)."""
    if isinstance(value, dict):
        return ["dict", [(k, _typed(v)) for k, v in value.items()]]
    if isinstance(value, list):
        return ["list", [_typed(v) for v in value]]
    return [type(value).__name__, repr(value)]


def _same(a: LoadedDocument, b: LoadedDocument) -> None:
    assert _typed(a.data) == _typed(b.data)
    assert list(a.positions.items()) == list(b.positions.items())
    assert list(a.key_positions.items()) == list(b.key_positions.items())
    assert dict(a.scalar_text) == dict(b.scalar_text)
    assert (a.source, a.root, a.path, a.digest) == (b.source, b.root, b.path, b.digest)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MP_POLICY_CACHE_DIR", str(folder))
    monkeypatch.delenv("MP_POLICY_NO_CACHE", raising=False)
    return folder


def _load_twice(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LoadedDocument, LoadedDocument]:
    fresh = load_file(path)
    monkeypatch.setattr(loader, "_parse_text", _no_parse)
    try:
        cached = load_file(path)
    finally:
        monkeypatch.undo()
    return fresh, cached


def _no_parse(text: str, source: str) -> LoadedDocument:
    raise AssertionError(f"{source} parsed again")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_file_comes_back_from_the_cache_as_parsed(path: Path, cache: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        load_file(path)
    except PolicyError:  # a fixture that does not parse on purpose: it is never kept, and parses again
        with pytest.raises(PolicyError):
            load_file(path)
        assert not (cache / "parsed").exists() or not list((cache / "parsed").iterdir())
        return
    monkeypatch.setenv("MP_POLICY_CACHE_DIR", str(cache))
    fresh, cached = _load_twice(path, monkeypatch)
    _same(fresh, cached)


def test_values_of_every_kind_survive_the_cache(tmp_path: Path, cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(ODD, encoding="utf-8")
    fresh, cached = _load_twice(path, monkeypatch)
    _same(fresh, cached)
    assert cached.data["settings"]["flag"] is False and cached.scalar_text[("settings", "flag")] == "off"
    assert cached.data["pools"][0]["name"] == "caf\u00e9 \U0001F600"
    assert (cache / "parsed").is_dir()
    strict = tmp_path / "odd.json"  # strict JSON with a lone surrogate escape (read by json, placed by libyaml)
    strict.write_text('{"pools": [{"name": "x\\udc80", "members": ["a"]}], "n": 1.0}', encoding="utf-8")
    fresh, cached = _load_twice(strict, monkeypatch)
    _same(fresh, cached)
    assert cached.data["pools"][0]["name"] == "x\udc80"


def test_a_changed_file_a_json_name_or_a_broken_file_is_parsed_again(tmp_path: Path, cache: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pools: []\n", encoding="utf-8")
    load_file(path)
    path.write_text("pools: [ ]\n", encoding="utf-8")
    monkeypatch.setattr(loader, "_parse_text", _no_parse)
    with pytest.raises(AssertionError, match="parsed again"):
        load_file(path)
    monkeypatch.undo()
    monkeypatch.setenv("MP_POLICY_CACHE_DIR", str(cache))
    same_text = tmp_path / "p.json"
    same_text.write_text("pools: [ ]\n", encoding="utf-8")  # YAML text under a JSON name: strict JSON refuses it
    with pytest.raises(PolicyError):
        load_file(same_text)
    with pytest.raises(PolicyError):
        load_file(same_text)  # a failed parse is never kept
    assert len(list((cache / "parsed").iterdir())) == 1


def test_no_cache_or_an_unreadable_entry_parses(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pools: []\n", encoding="utf-8")
    load_file(path)
    (entry,) = (cache / "parsed").iterdir()
    entry.write_text(json.dumps({"format": 1, "data": None}), encoding="utf-8")
    assert load_file(path).data == {"pools": []}  # a broken entry is a miss (and is written again)
    assert load_file(path).data == {"pools": []}
    monkeypatch.setenv("MP_POLICY_NO_CACHE", "1")
    calls: list[str] = []
    monkeypatch.setattr(parse_cache, "cache_dir", lambda: calls.append("asked") or None)
    assert load_file(path).data == {"pools": []}
    assert calls == ["asked"]


def test_a_document_json_would_change_is_not_kept(tmp_path: Path, cache: Path) -> None:
    """A document that would not come back from JSON equal (NaN is not equal to itself) is parsed every
    time. (Keys that are not strings, which JSON would turn into strings, are refused by the reader.)"""
    path = tmp_path / "p.yaml"
    path.write_text("settings: {ratio: .nan}\n", encoding="utf-8")
    assert load_file(path).data["settings"]["ratio"] != load_file(path).data["settings"]["ratio"]  # NaN, twice
    assert not (cache / "parsed").exists() or not list((cache / "parsed").iterdir())
