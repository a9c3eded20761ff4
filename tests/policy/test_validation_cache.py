"""The validation cache: an unchanged document is not validated again, a changed one always is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from child_process import run_child

from policy_engine.policy import validation, validation_cache
from policy_engine.policy.loader import load_file

POLICY = "pools:\n  - {name: p, baseProvider: anthropic, members: [anthropic]}\n"
BROKEN = "pools:\n  - {name: p, baseProvider: anthropic, membrs: [anthropic]}\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MP_POLICY_CACHE_DIR", str(folder))
    monkeypatch.delenv("MP_POLICY_NO_CACHE", raising=False)
    validation_cache._MEMORY.clear()
    return folder


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = validation.validate_document

    def counting(doc, kind):  # type: ignore[no-untyped-def]
        calls.append(doc.source)
        return real(doc, kind)

    monkeypatch.setattr(validation, "validate_document", counting)
    return calls


def test_a_second_process_reuses_the_result_from_disk(cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    calls = _count_calls(monkeypatch)
    first = validation_cache.validate_cached(load_file(path), "policy")
    assert [d.code for d in first] == ["required", "unknown-key"]
    assert len(calls) == 1 and list((cache / "validation").glob("*.json"))
    validation_cache._MEMORY.clear()  # as a fresh process would start
    again = validation_cache.validate_cached(load_file(path), "policy")
    assert len(calls) == 1
    assert again == first and (again[1].line, again[1].col) == (first[1].line, first[1].col)


def test_an_edit_is_validated_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text(POLICY, encoding="utf-8")
    calls = _count_calls(monkeypatch)
    assert validation_cache.validate_cached(load_file(path), "policy") == []
    path.write_text(BROKEN, encoding="utf-8")
    assert validation_cache.validate_cached(load_file(path), "policy")
    path.write_text("# a comment moves every line\n" + BROKEN, encoding="utf-8")
    moved = validation_cache.validate_cached(load_file(path), "policy")
    assert len(calls) == 3
    assert moved[0].line == 3


def test_a_corrupt_cache_entry_is_ignored(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    expected = validation_cache.validate_cached(load_file(path), "policy")
    for entry in (cache / "validation").glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    validation_cache._MEMORY.clear()
    assert validation_cache.validate_cached(load_file(path), "policy") == expected


def test_the_cache_can_be_turned_off(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_POLICY_NO_CACHE", "1")
    path = tmp_path / "multi-pass.yaml"
    path.write_text(POLICY, encoding="utf-8")
    calls = _count_calls(monkeypatch)
    validation_cache.validate_cached(load_file(path), "policy")
    validation_cache.validate_cached(load_file(path), "policy")
    assert len(calls) == 2
    assert not cache.exists()


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("MP_POLICY_CACHE_DIR", str(blocker))
    validation_cache._MEMORY.clear()
    path = tmp_path / "multi-pass.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert validation_cache.validate_cached(load_file(path), "policy")


def test_a_fifo_in_place_of_a_cache_entry_is_ignored_not_waited_on(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    entry = cache / "validation" / f"{validation_cache._key(load_file(path), 'policy')}.json"
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)
    codes = run_child("""
        import json, sys
        from policy_engine.policy.loader import load_file
        from policy_engine.policy.validation_cache import validate_cached
        print(json.dumps([d.code for d in validate_cached(load_file(sys.argv[1]), "policy")]))
        """, str(path))  # the child inherits MP_POLICY_CACHE_DIR
    assert codes == ["required", "unknown-key"]
    assert entry.is_file()  # the result replaced the FIFO


def _package_imports(module_file: Path, package_root: Path) -> set[str]:
    """The ``policy_engine`` modules ``module_file`` imports at run time (not under ``TYPE_CHECKING``)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(module_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("policy_engine"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found.update(n for n in [node.module, *names] if _module_file(n, package_root) is not None)
    return found


def _module_file(name: str, package_root: Path) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (package_root / relative.with_suffix(".py"), package_root / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_cache_key_covers_every_module_that_validation_runs() -> None:
    # A change in any module validation reaches must invalidate cached results: walk its imports.
    root = Path(validation_cache.__file__).resolve().parent.parent
    listed = set(validation_cache._DIAGNOSTIC_SOURCES)
    assert all((root / path).is_file() for path in listed), listed
    reached: set[str] = set()
    todo = ["policy_engine.policy.validation", "policy_engine.policy.loader"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(_package_imports(_module_file(name, root), root))
    files = {_module_file(name, root).relative_to(root).as_posix() for name in reached}
    assert files - {"__init__.py", "common/__init__.py", "policy/__init__.py", "classify/__init__.py"} <= listed


def test_a_cache_folder_is_pruned_to_its_newest_entries(tmp_path: Path) -> None:
    folder = tmp_path / "validation"
    folder.mkdir()
    for i in range(10):
        entry = folder / f"{i:02d}.json"
        entry.write_text("[]", encoding="utf-8")
        os.utime(entry, ns=(1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_000 + i))  # 00 is the oldest
    dead = folder / "x.json.123.tmp"  # left by a process that died mid-write
    dead.write_text("{", encoding="utf-8")
    os.utime(dead, (1_700_000_000, 1_700_000_000))
    live = folder / "y.json.456.tmp"  # being written now
    live.write_text("{", encoding="utf-8")
    assert validation_cache.prune(folder, keep=10) == 1  # not over the bound: only the dead temporary
    assert validation_cache.prune(folder, keep=8) == 4  # over it: down to three quarters (6), oldest first
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:02d}.json" for i in range(4, 10)] + ["y.json.456.tmp"]
    assert validation_cache.prune(tmp_path / "missing") == 0


def test_writes_keep_both_cache_folders_bounded(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation_cache, "MAX_ENTRIES", 4)
    path = tmp_path / "multi-pass.yaml"
    for i in range(12):  # twelve edits: twelve texts to validate and parse
        path.write_text(f"# edit {i}\n" + POLICY, encoding="utf-8")
        assert validation_cache.validate_cached(load_file(path), "policy") == []
        assert len(list((cache / "validation").iterdir())) <= 4
        assert len(list((cache / "parsed").iterdir())) <= 4
    validation_cache._MEMORY.clear()
    calls = _count_calls(monkeypatch)
    assert validation_cache.validate_cached(load_file(path), "policy") == [] and calls == []  # the newest stays
