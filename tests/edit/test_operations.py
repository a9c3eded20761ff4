"""The edit operations: what each one writes, what it refuses, and what it reports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.edit import chain_edits, pool_edits, project_edits, subscription_edits
from policy_engine.edit import operations as ops
from policy_engine.edit.document import PolicyDocument
from policy_engine.engine import Engine
from policy_engine.policy.loader import load_text

REPO = Path(__file__).resolve().parents[2]
DEMO_TEXT = (REPO / "policies" / "demo" / "multi-pass.yaml").read_text(encoding="utf-8")
CORP_TEXT = (REPO / "policies" / "demo" / "projects" / "corp" / ".pi" / "multi-pass.yaml").read_text(encoding="utf-8")


def doc_of(tmp_path: Path, text: str = "", name: str = "multi-pass.yaml", kind: str = "policy") -> PolicyDocument:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if text:
        path.write_text(text, encoding="utf-8")
    return PolicyDocument.open(path, kind)  # type: ignore[arg-type]


def ctx(env: dict[str, str] | None = None, global_data: dict[str, Any] | None = None) -> ops.EditContext:
    return ops.EditContext.from_registry(env or {}, global_data)


def names(doc: PolicyDocument, section: str) -> list[str]:
    return [x["name"] for x in doc.data.get(section, [])]


def valid(doc: PolicyDocument, global_text: str | None = None) -> None:
    global_doc = load_text(global_text, "global.yaml") if global_text else None
    errors = [d.format() for d in doc.validate(global_doc=global_doc) if d.severity == "error"]
    assert errors == []


# -------------------------------------------------------------------------------- subscriptions


def test_new_accounts_get_the_smallest_free_index(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "subscriptions:\n  - {provider: openai-codex, index: 3}\n")
    first, changes = subscription_edits.add_subscription(doc, ctx(), "openai-codex", label="  work ")
    second, _ = subscription_edits.add_subscription(doc, ctx(), "openai-codex")
    third, _ = subscription_edits.add_subscription(doc, ctx(), "anthropic", label="   ")
    assert (first, second, third) == ("openai-codex-2", "openai-codex-4", "anthropic-2")
    assert doc.data["subscriptions"][1:] == [{"provider": "openai-codex", "index": 2, "label": "work"},
                                             {"provider": "openai-codex", "index": 4},
                                             {"provider": "anthropic", "index": 2}]
    assert changes.messages == ["added subscription openai-codex-2 (work): ChatGPT Plus/Pro (Codex) #2"]
    assert "/login" in changes.notes[0]
    valid(doc)


def test_indexes_multi_sub_uses_are_taken_too(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "subscriptions:\n  - {provider: openai-codex, index: 2}\n")
    name, _ = subscription_edits.add_subscription(doc, ctx({"MULTI_SUB": "openai-codex:2"}), "openai-codex")
    assert name == "openai-codex-4"  # openai-codex-3 comes from MULTI_SUB (pi-multi-pass counts it as used)


def test_an_explicit_index(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "subscriptions:\n  - {provider: anthropic, index: 2}\n")
    assert subscription_edits.add_subscription(doc, ctx(), "anthropic", index=7)[0] == "anthropic-7"
    with pytest.raises(ops.EditError, match="anthropic-2 already exists") as caught:
        subscription_edits.add_subscription(doc, ctx(), "anthropic", index=2)
    assert caught.value.hint == "the next free index of anthropic is 3"
    with pytest.raises(ops.EditError, match="number 2 or more"):
        subscription_edits.add_subscription(doc, ctx(), "anthropic", index=1)


@pytest.mark.parametrize(("provider", "message", "hint"), [
    ("antropic", "unknown provider 'antropic'", "did you mean 'anthropic'?"),
    ("openai-codex-2", "is an account name", "mp-policy subs add openai-codex"),
    ("acme", "unknown provider 'acme'", "known providers: amazon-bedrock, anthropic, azure-openai-responses"),
])
def test_unknown_providers_are_refused(tmp_path: Path, provider: str, message: str, hint: str) -> None:
    doc = doc_of(tmp_path)
    with pytest.raises(ops.EditError, match=message) as caught:
        subscription_edits.add_subscription(doc, ctx(), provider)
    assert hint in (caught.value.hint or "")
    assert not doc.changed


def test_a_project_cannot_declare_subscriptions(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, name=".pi/multi-pass.yaml", kind="project")
    with pytest.raises(ops.EditError, match="subscriptions are global"):
        subscription_edits.add_subscription(doc, ctx(), "anthropic")
    with pytest.raises(ops.EditError, match="subscriptions are global"):
        subscription_edits.remove_subscription(doc, ctx(), "anthropic-2")


def test_removing_an_account_removes_every_use_of_it(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    pool_edits.create_pool(doc, ctx(), "solo", provider="anthropic", members=["anthropic-2"])
    chain_edits.create_chain(doc, ctx(), "backup", ["solo:claude-opus-4", "gemini:gemini-2.5-pro"])
    chain_edits.create_preset(doc, ctx(), "work", ["anthropic-2:claude-sonnet-4-5"])
    chain_edits.create_preset(doc, ctx(), "mixed", ["anthropic-2:claude-sonnet-4-5", "openai-codex:gpt-5"])
    changes = subscription_edits.remove_subscription(doc, ctx(), "anthropic-2")
    assert changes.messages == [
        "removed subscription anthropic-2 (work)",
        "removed pool solo (it had no other member)",
        "pruned the chain entries that used pool solo: backup#0",
        "removed anthropic-2 from pool claude",
        "removed 1 entry using anthropic-2 from preset mixed",
        "removed preset work (all its entries used anthropic-2)",
    ]
    assert [s["provider"] + str(s["index"]) for s in doc.data["subscriptions"]] == ["openai-codex2", "openai-codex3"]
    assert doc.data["pools"][0]["members"] == ["anthropic"]
    assert names(doc, "pools") == ["claude", "codex", "gemini"]
    assert doc.data["chains"][1]["entries"] == [{"pool": "gemini", "model": "gemini-2.5-pro", "enabled": True}]
    assert names(doc, "presets") == ["coding-premium", "coding-budget", "mixed"]
    valid(doc)


def test_removing_an_account_drops_its_schedule(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    subscription_edits.remove_subscription(doc, ctx(), "openai-codex-3")
    codex = doc.data["pools"][1]
    assert codex["members"] == ["openai-codex", "openai-codex-2"]
    assert set(codex["memberSchedule"]) == {"openai-codex", "openai-codex-2"}
    assert "# Office hours on the first account" in doc.text


def test_an_account_can_be_removed_by_its_label(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    changes = subscription_edits.remove_subscription(doc, ctx(), "personal")
    assert changes.messages[0] == "removed subscription openai-codex-3 (personal)"
    with pytest.raises(ops.EditError, match="there is no subscription 'work'"):
        subscription_edits.remove_subscription(doc, ctx(), "work")  # two accounts are labelled work


@pytest.mark.parametrize(("name", "env", "message", "hint"), [
    ("anthropic", {}, "is a base account", "pool members POOL --remove anthropic"),
    ("anthropic-3", {"MULTI_SUB": "anthropic:2"}, "comes from MULTI_SUB", "MULTI_SUB environment variable"),
    ("openai-codex-5", {}, "there is no subscription 'openai-codex-5'", "did you mean"),
])
def test_accounts_that_cannot_be_removed(tmp_path: Path, name: str, env: dict[str, str], message: str,
                                         hint: str) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    with pytest.raises(ops.EditError, match=message) as caught:
        subscription_edits.remove_subscription(doc, ctx(env), name)
    assert hint in (caught.value.hint or "")
    assert not doc.changed


# ---------------------------------------------------------------------------------------- pools


def test_create_pool_writes_what_pi_multi_pass_writes(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "subscriptions:\n  - {provider: anthropic, index: 2}\n")
    changes = pool_edits.create_pool(doc, ctx(), "claude", provider="anthropic", members=["anthropic", "anthropic-2"])
    pool_edits.create_pool(doc, ctx(), "codex", provider="openai-codex", members=["openai-codex"],
                           strategy="quota-first", enabled=False)
    assert doc.data["pools"] == [
        {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"], "enabled": True},
        {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"], "enabled": False,
         "strategy": "quota-first"},
    ]
    assert changes.messages == ["created pool claude (anthropic: anthropic, anthropic-2; round-robin)"]
    assert "members: [anthropic, anthropic-2]" in doc.text
    valid(doc)


@pytest.mark.parametrize(("kwargs", "message", "hint"), [
    ({"members": []}, "Pool needs at least 1 member.", "--members"),
    ({"members": ["anthropic", "anthropic"]}, "listed twice", None),
    ({"members": ["acme-2"]}, "'acme-2' is not a known account", "mp-policy subs add"),
    ({"members": ["anthropc"]}, "'anthropc' is not a known account", "did you mean 'anthropic'?"),
    ({"provider": "antropic"}, "unknown provider", "did you mean 'anthropic'?"),
    ({"strategy": "round-robbin"}, "unknown strategy", "did you mean 'round-robin'?"),
    ({"strategy": "custom"}, "needs a selector script", "--selector-script"),
    ({"selector_script": "s.py"}, "only goes with --strategy custom", None),
    ({"name": "claude"}, "a pool named 'claude' already exists", None),
    ({"name": "  "}, "a pool needs a name", None),
])
def test_create_pool_refuses(tmp_path: Path, kwargs: dict[str, Any], message: str, hint: str | None) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    args: dict[str, Any] = {"name": "new", "provider": "anthropic", "members": ["anthropic"], **kwargs}
    with pytest.raises(ops.EditError, match=message) as caught:
        pool_edits.create_pool(doc, ctx(), args.pop("name"), **args)
    if hint:
        assert hint in (caught.value.hint or "")
    assert not doc.changed


def test_create_pool_notes_members_of_another_family(tmp_path: Path) -> None:
    doc = doc_of(tmp_path)
    changes = pool_edits.create_pool(doc, ctx(), "mixed", provider="anthropic", members=["anthropic", "openai-codex"])
    assert changes.notes == ["openai-codex is not an account of anthropic; a pool's members stand in for each "
                             "other with the same model"]


def test_remove_pool_prunes_chain_entries_and_empty_chains(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    chain_edits.create_chain(doc, ctx(), "codex-only", ["codex:gpt-5", "codex:gpt-5-mini"])
    changes = pool_edits.remove_pool(doc, ctx(), "codex")
    assert changes.messages == ["removed pool codex",
                                "pruned the chain entries that used pool codex: main#1, codex-only#0, codex-only#1",
                                "removed chain codex-only (all its entries used pool codex)"]
    assert [e["pool"] for e in doc.data["chains"][0]["entries"]] == ["claude", "gemini"]
    assert names(doc, "chains") == ["main"]
    valid(doc)


def test_rename_pool_rewrites_chain_entries(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    changes = pool_edits.rename_pool(doc, ctx(), "claude", "anthropic-pool")
    assert changes.messages == ["renamed pool claude to anthropic-pool", "updated 1 chain entry: main#0"]
    assert doc.data["chains"][0]["entries"][0]["pool"] == "anthropic-pool"
    assert "# Rotate between the two Claude accounts" in doc.text
    with pytest.raises(ops.EditError, match="a pool named 'codex' already exists"):
        pool_edits.rename_pool(doc, ctx(), "anthropic-pool", "codex")
    with pytest.raises(ops.EditError, match="there is no pool 'claude'") as caught:
        pool_edits.rename_pool(doc, ctx(), "claude", "x")
    assert caught.value.hint == "known pools: anthropic-pool, codex, gemini"
    valid(doc)


def test_toggle_flips_or_sets(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "pools:\n  - {name: a, baseProvider: anthropic, members: [anthropic]}\n")
    assert pool_edits.toggle_pool(doc, ctx(), "a").messages == ["disabled pool a"]  # absent counts as enabled
    assert doc.text == "pools:\n  - {name: a, baseProvider: anthropic, members: [anthropic], enabled: false}\n"
    assert pool_edits.toggle_pool(doc, ctx(), "a").messages == ["enabled pool a"]
    assert pool_edits.toggle_pool(doc, ctx(), "a", True).messages == ["pool a is already enabled"]
    assert pool_edits.toggle_pool(doc, ctx(), "a", False).messages == ["disabled pool a"]
    assert doc.data["pools"][0]["enabled"] is False


def test_pool_members_set_add_remove(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    assert pool_edits.set_pool_members(doc, ctx(), "codex", remove=["openai-codex-3"]).messages == [
        "pool codex members: openai-codex, openai-codex-2", "dropped the schedule of openai-codex-3"]
    pool_edits.set_pool_members(doc, ctx(), "codex", add=["openai-codex-3"])
    pool_edits.set_pool_members(doc, ctx(), "claude", members=["anthropic-2", "anthropic"])
    assert doc.data["pools"][1]["members"] == ["openai-codex", "openai-codex-2", "openai-codex-3"]
    assert doc.data["pools"][0]["members"] == ["anthropic-2", "anthropic"]
    with pytest.raises(ops.EditError, match=r"Pool needs at least 1 member\.") as caught:
        pool_edits.set_pool_members(doc, ctx(), "gemini", remove=["google-gemini-cli"])
    assert "mp-policy pool remove gemini" in (caught.value.hint or "")
    with pytest.raises(ops.EditError, match="already a member"):
        pool_edits.set_pool_members(doc, ctx(), "claude", add=["anthropic"])
    with pytest.raises(ops.EditError, match="not a member of pool claude"):
        pool_edits.set_pool_members(doc, ctx(), "claude", remove=["anthropic-3"])
    valid(doc)


#: A pool whose members are one a line with comments (pi-multi-pass writes them in flow style).
COMMENTED_MEMBERS = """\
subscriptions:
  - provider: anthropic
    index: 2
  - provider: anthropic
    index: 3
pools:
  - name: claude
    baseProvider: anthropic
    members:
      - anthropic     # first
      # the backup
      - anthropic-2   # second
chains:
  - name: main
    entries:
      - pool: claude
        model: claude-sonnet-4-5
"""


@pytest.mark.parametrize(("edit", "members"), [
    ({"add": ["anthropic-3"]},
     "      - anthropic     # first\n      # the backup\n      - anthropic-2   # second\n      - anthropic-3\n"),
    ({"remove": ["anthropic"]}, "      # the backup\n      - anthropic-2   # second\n"),
    ({"remove": ["anthropic-2"]}, "      - anthropic     # first\n"),
    ({"members": ["anthropic-2", "anthropic"]},
     "      # the backup\n      - anthropic-2   # second\n      - anthropic     # first\n"),
    ({"members": ["anthropic-2", "anthropic-3", "anthropic"]},
     "      # the backup\n      - anthropic-2   # second\n      - anthropic-3\n      - anthropic     # first\n"),
], ids=["add", "remove-first", "remove-last", "set-reordered", "set-with-a-new-one"])
def test_pool_members_keep_the_comments_of_the_members_they_keep(tmp_path: Path, edit: dict[str, Any],
                                                                   members: str) -> None:
    doc = doc_of(tmp_path, COMMENTED_MEMBERS)
    pool_edits.set_pool_members(doc, ctx(), "claude", **edit)
    old = "      - anthropic     # first\n      # the backup\n      - anthropic-2   # second\n"
    assert doc.text == COMMENTED_MEMBERS.replace(old, members)
    valid(doc)


def test_removing_an_account_keeps_the_comments_of_the_other_members(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, COMMENTED_MEMBERS)
    subscription_edits.remove_subscription(doc, ctx(), "anthropic-2")
    expected = COMMENTED_MEMBERS.replace("  - provider: anthropic\n    index: 2\n", "")
    assert doc.text == expected.replace("      # the backup\n      - anthropic-2   # second\n", "")
    valid(doc)


def test_pool_members_in_flow_style_keep_the_comment_after_them(tmp_path: Path) -> None:
    flow = COMMENTED_MEMBERS.replace(
        "members:\n      - anthropic     # first\n      # the backup\n      - anthropic-2   # second\n",
        "members: [anthropic, anthropic-2]  # note\n")
    doc = doc_of(tmp_path, flow)
    pool_edits.set_pool_members(doc, ctx(), "claude", members=["anthropic-2", "anthropic"])
    subscription_edits.remove_subscription(doc, ctx(), "anthropic-3")
    assert doc.text == flow.replace("[anthropic, anthropic-2]", "[anthropic-2, anthropic]").replace(
        "  - provider: anthropic\n    index: 3\n", "")


def test_pool_strategy(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    pool_edits.set_pool_strategy(doc, ctx(), "claude", "quota-first")
    assert doc.data["pools"][0]["strategy"] == "quota-first"
    changes = pool_edits.set_pool_strategy(doc, ctx(), "codex", "round-robin")
    assert "strategy" not in doc.data["pools"][1]  # round-robin is written by leaving the key out
    assert changes.notes == ["pool codex keeps its memberSchedule, which only the scheduled strategy uses"]
    with pytest.raises(ops.EditError, match="needs a selector script"):
        pool_edits.set_pool_strategy(doc, ctx(), "claude", "custom")
    pool_edits.set_pool_strategy(doc, ctx(), "claude", "custom", selector_script="selectors/claude.py")
    assert doc.data["pools"][0]["selectorScript"] == "selectors/claude.py"
    lines = doc.text.splitlines()
    assert lines.index("    strategy: custom") < lines.index("    selectorScript: selectors/claude.py")


def test_member_schedule(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "pools:\n  - name: codex\n    baseProvider: openai-codex\n"
                           "    members: [openai-codex, openai-codex-2]\n    strategy: scheduled\n")
    changes = pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex-2", role="preferred",
                                      windows=[{"hours": [17, 9]}])
    assert changes.messages == ["openai-codex-2 in pool codex: preferred in 17-9"]
    pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex", role="preferred",
                            windows=[{"hours": [9, 17], "days": ["mon", "tue"]}, {"days": ["sat"]}])
    assert doc.text.endswith(
        "    memberSchedule:\n"
        "      openai-codex: {role: preferred, windows: [{hours: [9, 17], days: [mon, tue]}, {days: [sat]}]}\n"
        "      openai-codex-2: {role: preferred, windows: [{hours: [17, 9]}]}\n")  # in member order
    pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex-2", role="overflow")
    assert doc.data["pools"][0]["memberSchedule"]["openai-codex-2"] == {"role": "overflow"}
    assert pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex", clear=True).messages == [
        "removed the schedule of openai-codex in pool codex (it is a default member now)"]
    with pytest.raises(ops.EditError, match="windows only apply to preferred members"):
        pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex", role="default",
                                       windows=[{"hours": [9, 17]}])
    with pytest.raises(ops.EditError, match="'openai-codex-3' is not a member") as caught:
        pool_edits.set_member_schedule(doc, ctx(), "codex", "openai-codex-3", role="overflow")
    assert caught.value.hint == "did you mean 'openai-codex'?"
    valid(doc)


def test_member_schedule_in_a_round_robin_pool_says_it_does_nothing_yet(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    changes = pool_edits.set_member_schedule(doc, ctx(), "claude", "anthropic", role="preferred")
    assert changes.messages == ["anthropic in pool claude: preferred (always active)"]
    assert changes.notes == ["pool claude uses round-robin; schedules only apply with "
                             "`mp-policy pool strategy claude scheduled`"]


# ------------------------------------------------------------------------------ chains, presets


def test_chains_create_toggle_remove(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    changes = chain_edits.create_chain(doc, ctx(), "night", ["codex:gpt-5", "gemini:models/gemini:2.5"])
    assert changes.messages == ["created chain night: codex:gpt-5 → gemini:models/gemini:2.5"]
    assert doc.data["chains"][1] == {"name": "night", "enabled": True, "entries": [
        {"pool": "codex", "model": "gpt-5", "enabled": True},
        {"pool": "gemini", "model": "models/gemini:2.5", "enabled": True}]}
    assert chain_edits.toggle_chain(doc, ctx(), "night", entry=1).messages == ["disabled chain night entry 1"]
    assert doc.data["chains"][1]["entries"][1]["enabled"] is False
    with pytest.raises(ops.EditError, match="has no entry 2"):
        chain_edits.toggle_chain(doc, ctx(), "night", entry=2)
    assert chain_edits.remove_chain(doc, ctx(), "night").messages == ["removed chain night"]
    assert doc.text == DEMO_TEXT


@pytest.mark.parametrize(("entries", "message", "hint"), [
    (["clade:claude-sonnet-4-5"], "there is no pool 'clade'", "did you mean 'claude'?"),
    (["claude"], "cannot read the entry 'claude'", "POOL:MODEL"),
    (["claude:"], "cannot read the entry", None),
    ([], "give at least one --entry", None),
])
def test_chain_create_refuses(tmp_path: Path, entries: list[str], message: str, hint: str | None) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    with pytest.raises(ops.EditError, match=message) as caught:
        chain_edits.create_chain(doc, ctx(), "x", entries)
    if hint:
        assert hint in (caught.value.hint or "")


def test_an_existing_name_needs_replace_and_keeps_its_place(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    with pytest.raises(ops.EditError, match="a chain named 'main' already exists") as caught:
        chain_edits.create_chain(doc, ctx(), "main", ["gemini:gemini-2.5-pro"])
    assert "--replace" in (caught.value.hint or "")
    chain_edits.create_chain(doc, ctx(), "main", ["gemini:gemini-2.5-pro"], replace=True)
    assert doc.data["chains"] == [{"name": "main", "enabled": True,
                                   "entries": [{"pool": "gemini", "model": "gemini-2.5-pro", "enabled": True}]}]
    assert "  # Claude first; when every Claude account is cooling down" in doc.text


def test_presets_create_toggle_remove(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, DEMO_TEXT)
    chain_edits.create_preset(doc, ctx(), "fast", ["google-gemini-cli:gemini-2.5-flash", "openai-codex-2:gpt-5-mini"],
                      enabled=False)
    assert doc.data["presets"][2] == {"name": "fast", "enabled": False, "entries": [
        {"provider": "google-gemini-cli", "model": "gemini-2.5-flash", "enabled": True},
        {"provider": "openai-codex-2", "model": "gpt-5-mini", "enabled": True}]}
    assert chain_edits.toggle_preset(doc, ctx(), "fast").messages == ["enabled preset fast"]
    assert chain_edits.toggle_preset(doc, ctx(), "coding-premium", False, entry=1).messages == [
        "disabled preset coding-premium entry 1"]
    with pytest.raises(ops.EditError, match="'openai-codex-9' is not a known account"):
        chain_edits.create_preset(doc, ctx(), "bad", ["openai-codex-9:gpt-5"])
    assert chain_edits.remove_preset(doc, ctx(), "fast").messages == ["removed preset fast"]
    with pytest.raises(ops.EditError, match="there is no preset 'fast'"):
        chain_edits.remove_preset(doc, ctx(), "fast")
    valid(doc)


# ------------------------------------------------------------------------------------- projects


def test_the_first_pool_edit_in_a_project_copies_the_global_pools(tmp_path: Path) -> None:
    global_data = load_text(DEMO_TEXT).data
    doc = doc_of(tmp_path, "allowedSubs: [openai-codex-2, anthropic-2]\n", ".pi/multi-pass.yaml", "project")
    changes = pool_edits.toggle_pool(doc, ctx(global_data=global_data), "gemini", False)
    assert changes.notes == ["the project had no pools of its own: copied the 3 global pools into it first "
                             "(a project's pools replace the global ones)"]
    assert names(doc, "pools") == ["claude", "codex", "gemini"]
    assert doc.data["pools"][2]["enabled"] is False
    assert doc.data["pools"][1]["memberSchedule"] == global_data["pools"][1]["memberSchedule"]
    valid(doc, DEMO_TEXT)


def test_removing_a_global_pool_in_a_project_copies_and_prunes_the_chains(tmp_path: Path) -> None:
    global_data = load_text(DEMO_TEXT).data
    doc = doc_of(tmp_path, "", ".pi/multi-pass.yaml", "project")
    context = ctx(global_data=global_data)
    pool_edits.remove_pool(doc, context, "claude")
    assert names(doc, "pools") == ["codex", "gemini"]
    assert [e["pool"] for e in doc.data["chains"][0]["entries"]] == ["codex", "gemini"]
    valid(doc, DEMO_TEXT)
    engine = Engine.from_documents(global_data, project=doc.data, auth={"openai-codex", "google-gemini-cli"},
                                   clock=lambda: datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("Europe/Vienna")))
    assert engine.select(chain="main").target.pool == "codex"  # type: ignore[union-attr]


def test_restrict_and_clear(tmp_path: Path) -> None:
    global_data = load_text(DEMO_TEXT).data
    doc = doc_of(tmp_path, CORP_TEXT, ".pi/multi-pass.yaml", "project")
    context = ctx(global_data=global_data)
    changes = project_edits.restrict_project(doc, context, ["openai-codex-2"])
    assert changes.messages == ["restricted the project to openai-codex-2"]
    assert changes.notes == ["pool work-claude has no allowed member: it is not used in this project"]
    project_edits.restrict_project(doc, context, ["anthropic-2", "openai-codex-2"], add=True)
    assert doc.data["allowedSubs"] == ["openai-codex-2", "anthropic-2"]
    assert doc.text == CORP_TEXT
    with pytest.raises(ops.EditError, match="'anthropic-5' is not a known account"):
        project_edits.restrict_project(doc, context, ["anthropic-5"])
    with pytest.raises(ops.EditError, match="name at least one account"):
        project_edits.restrict_project(doc, context, [" "])
    assert project_edits.clear_project(doc).messages == ["removed the project's restriction: every account may be used"]
    assert "allowedSubs" not in doc.data and "# A corporate project may only use" in doc.text
    assert project_edits.clear_project(doc).messages == ["the project has no restriction"]
    valid(doc, DEMO_TEXT)


def test_restrict_writes_a_new_overlay_first(tmp_path: Path) -> None:
    doc = doc_of(tmp_path, "", ".pi/multi-pass.yaml", "project")
    project_edits.restrict_project(doc, ctx(global_data=load_text(DEMO_TEXT).data),
                                   ["openai-codex-2", "openai-codex-2"])
    assert doc.text == "allowedSubs: [openai-codex-2]\n"
    policy = doc_of(tmp_path, DEMO_TEXT)
    with pytest.raises(ops.EditError, match="belongs in a project overlay"):
        project_edits.restrict_project(policy, ctx(), ["anthropic"])
