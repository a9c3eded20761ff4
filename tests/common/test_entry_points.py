"""Entry points found once by importlib.metadata, then from the cache while nothing installed changes."""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import pytest

from policy_engine.common.entry_points import KEPT_ANSWERS, CachedEntryPoint, find_entry_points, scan

GROUP = "mp_policy_test_group"


def _install(site: Path, dist: str, version: str, entry_points: str) -> Path:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    importlib.invalidate_caches()
    return info


def _found(cache: Path) -> list[tuple[str, str, str | None, str | None, bool]]:
    return [(ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version, isinstance(ep, CachedEntryPoint))
            for ep in find_entry_points(GROUP, cache)]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_no_distribution_declaring_the_group_finds_nothing_and_writes_nothing(site: Path, tmp_path: Path) -> None:
    _install(site, "other-dist", "1.0", "[console_scripts]\nx = y:z\n")
    cache = tmp_path / "cache" / "ep.json"
    assert scan(GROUP) is None
    assert find_entry_points(GROUP, cache) == []
    assert not cache.exists()


def test_the_second_call_answers_from_the_cache_with_what_importlib_metadata_said(site: Path, tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a.module:Thing.attr\n")
    cache = tmp_path / "cache" / "ep.json"
    assert _found(cache) == [("alpha", "plug_a.module:Thing.attr", "plug-a", "1.0", False)]
    assert cache.exists()
    assert _found(cache) == [("alpha", "plug_a.module:Thing.attr", "plug-a", "1.0", True)]
    module = types.ModuleType("plug_a.module")
    module.Thing = types.SimpleNamespace(attr="loaded")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "plug_a", types.ModuleType("plug_a"))
    monkeypatch.setitem(sys.modules, "plug_a.module", module)
    (cached,) = find_entry_points(GROUP, cache)
    assert isinstance(cached, CachedEntryPoint) and cached.load() == "loaded"


def test_installing_editing_and_upgrading_a_distribution_is_seen_at_once(site: Path, tmp_path: Path) -> None:
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    cache = tmp_path / "cache" / "ep.json"
    _found(cache)
    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", True)]
    _install(site, "plug-b", "2.0", f"[{GROUP}]\nbeta = plug_b:hooks\n")  # a newly installed plugin
    assert sorted(_found(cache)) == [("alpha", "plug_a", "plug-a", "1.0", False),
                                     ("beta", "plug_b:hooks", "plug-b", "2.0", False)]
    info = _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a.v2\n")  # its entry point edited
    assert ("alpha", "plug_a.v2", "plug-a", "1.0", False) in _found(cache)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-a\nVersion: 1.0.post1\n")  # same folder
    importlib.invalidate_caches()
    assert ("alpha", "plug_a.v2", "plug-a", "1.0.post1", False) in _found(cache)
    assert ("alpha", "plug_a.v2", "plug-a", "1.0.post1", True) in _found(cache)


def test_removing_the_last_plugin_finds_nothing(site: Path, tmp_path: Path) -> None:
    info = _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    cache = tmp_path / "cache" / "ep.json"
    _found(cache)
    (info / "entry_points.txt").unlink()
    (info / "METADATA").unlink()
    info.rmdir()
    importlib.invalidate_caches()
    assert find_entry_points(GROUP, cache) == []


@pytest.mark.parametrize("backport", [False, True], ids=["stdlib", "importlib_metadata on sys.meta_path"])
def test_a_value_importlib_cannot_load_is_never_cached(site: Path, tmp_path: Path, backport: bool) -> None:
    """Found (loading it fails later, with the plugin named), never cached; also when the
    ``importlib_metadata`` backport is imported (it puts its finder on ``sys.meta_path``, and its entry
    points check their values eagerly, so listing them would raise)."""
    if backport:
        pytest.importorskip("importlib_metadata")  # (installed with the test extras, through litellm)
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nodd = not a module path!\n")
    _install(site, "plug-b", "1.0", f"[{GROUP}]\nbeta = plug_b\n")
    cache = tmp_path / "cache" / "ep.json"
    assert sorted(ep.value for ep in find_entry_points(GROUP, cache)) == ["not a module path!", "plug_b"]
    assert not cache.exists()


def test_an_unreadable_cache_or_no_cache_asks_importlib_metadata(site: Path, tmp_path: Path) -> None:
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    cache = tmp_path / "cache" / "ep.json"
    cache.parent.mkdir()
    cache.write_text("{not json")
    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", False)]
    assert _found(None) == [("alpha", "plug_a", "plug-a", "1.0", False)]  # type: ignore[arg-type]


def test_a_folder_without_distributions_on_the_path_changes_nothing(site: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    cache = tmp_path / "cache" / "ep.json"
    _found(cache)
    plain = tmp_path / "somewhere"  # e.g. the current directory of `python -m policy_engine.cli`
    plain.mkdir()
    monkeypatch.syspath_prepend(str(plain))
    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", True)]
    _install(plain, "plug-c", "3.0", f"[{GROUP}]\ngamma = plug_c\n")  # until it holds one
    assert ("gamma", "plug_c", "plug-c", "3.0", False) in _found(cache)


def test_two_installations_sharing_the_cache_are_each_answered_from_it(site: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipx install and a project's environment alternate: after one look each, neither asks importlib again."""
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    other = tmp_path / "other-site"
    _install(other, "plug-b", "2.0", f"[{GROUP}]\nbeta = plug_b\n")
    cache = tmp_path / "cache" / "ep.json"
    plain_path = list(sys.path)
    other_path = [str(other), *(p for p in plain_path if p != str(site))]

    def switch(path: list[str]) -> None:
        monkeypatch.setattr(sys, "path", path)
        importlib.invalidate_caches()

    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", False)]
    switch(other_path)
    assert _found(cache) == [("beta", "plug_b", "plug-b", "2.0", False)]
    for _ in range(2):
        switch(plain_path)
        assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", True)]
        switch(other_path)
        assert _found(cache) == [("beta", "plug_b", "plug-b", "2.0", True)]


def test_the_cache_keeps_the_newest_answers_only(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "ep.json"
    info = _install(site, "plug-a", "1.0", "")
    for n in range(KEPT_ANSWERS + 2):
        (info / "entry_points.txt").write_text(f"[{GROUP}]\nalpha = plug_a.v{n}\n")
        assert _found(cache)[0][1:] == (f"plug_a.v{n}", "plug-a", "1.0", False)
    answers = json.loads(cache.read_text())["answers"]
    assert len(answers) == KEPT_ANSWERS
    assert [a["entry_points"][0][1] for a in answers] == [f"plug_a.v{n}" for n in range(KEPT_ANSWERS + 1, 1, -1)]
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nalpha = plug_a.v5\n")  # an older answer, still kept
    assert _found(cache)[0][1:] == ("plug_a.v5", "plug-a", "1.0", True)
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nalpha = plug_a.v0\n")  # dropped: asked again
    assert _found(cache)[0][1:] == ("plug_a.v0", "plug-a", "1.0", False)


def test_a_cache_file_of_the_previous_format_is_asked_again_and_replaced(site: Path, tmp_path: Path) -> None:
    _install(site, "plug-a", "1.0", f"[{GROUP}]\nalpha = plug_a\n")
    cache = tmp_path / "cache" / "ep.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({"format": 1, "group": GROUP, "fingerprint": scan(GROUP),
                                 "entry_points": [["alpha", "stale", False, None, None]]}))
    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", False)]
    assert _found(cache) == [("alpha", "plug_a", "plug-a", "1.0", True)]
