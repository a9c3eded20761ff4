"""End-to-end tests of ``mp-policy schema`` and ``mp-policy state show|clear`` on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cli_support import CORP, DEMO, STATE_FILE, Cli, Run, file_signature, make_cooldown_state
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# -- schema ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas(cli: Cli) -> dict[str, Run]:
    """``mp-policy schema KIND`` for every kind, and without a kind."""
    kinds = ["policy", "project", "test", ""]
    runs = cli.many([(("schema", *([k] if k else [])), {}) for k in kinds])
    return dict(zip(kinds, runs, strict=True))


@pytest.mark.parametrize("kind", ["policy", "project", "test"])
def test_schema_is_a_draft_2020_12_json_schema(schemas: dict[str, Run], kind: str) -> None:
    run = schemas[kind]
    assert run.returncode == 0, run.describe()
    schema = run.json()
    assert schema["$schema"] == DRAFT_2020_12
    jsonschema.Draft202012Validator.check_schema(schema)
    assert run.stderr == ""


def test_schema_defaults_to_the_policy(schemas: dict[str, Run]) -> None:
    assert schemas[""].json() == schemas["policy"].json()


def _validator(schemas: dict[str, Run], kind: str) -> jsonschema.Draft202012Validator:
    """A validator for ``kind`` that resolves references to the other printed schemas by their ``$id``."""
    registry: Registry = Registry()
    for k in ("policy", "project", "test"):
        schema = schemas[k].json()
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return jsonschema.Draft202012Validator(schemas[kind].json(), registry=registry)


@pytest.mark.parametrize(("kind", "document"), [
    ("policy", DEMO / "multi-pass.yaml"),
    ("project", CORP / ".pi" / "multi-pass.yaml"),
    ("test", DEMO / "multi-pass.test.yaml"),
    ("test", CORP / "corp.test.yaml"),
])
def test_the_demo_documents_match_the_printed_schemas(schemas: dict[str, Run], kind: str, document: Path) -> None:
    data = yaml.safe_load(document.read_text(encoding="utf-8"))
    errors = list(_validator(schemas, kind).iter_errors(data))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize(("kind", "document"), [
    ("project", CORP / ".pi" / "multi-pass.yaml"),
    ("test", DEMO / "multi-pass.test.yaml"),
])
def test_each_printed_schema_works_on_its_own(schemas: dict[str, Run], kind: str, document: Path) -> None:
    def no_network(uri: str) -> Resource:
        raise NoSuchResource(ref=uri)

    data = yaml.safe_load(document.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schemas[kind].json(), registry=Registry(retrieve=no_network))
    assert list(validator.iter_errors(data)) == []


def test_the_policy_schema_rejects_a_typo(schemas: dict[str, Run]) -> None:
    validator = jsonschema.Draft202012Validator(schemas["policy"].json())
    assert list(validator.iter_errors({"setings": {}}))


def test_an_unknown_schema_kind_is_a_usage_error(cli: Cli) -> None:
    run = cli("schema", "bogus")
    assert run.returncode == 2, run.describe()
    assert run.stdout == "" and "bogus" in run.stderr


# -- state -----------------------------------------------------------------------------------------


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    """A real SQLite state file: anthropic cooling down, the claude cursor on anthropic-2, one turn."""
    db = tmp_path / "state.db"
    make_cooldown_state(db)
    return db


def url(db: Path) -> str:
    """The sqlite URL of ``db``."""
    return f"sqlite:///{db}"


def show_json(cli: Cli, db: Path) -> dict[str, Any]:
    """``state show --format json`` on ``db``."""
    run = cli("state", "show", "--state", url(db), "--format", "json")
    assert run.returncode == 0, run.describe()
    data: dict[str, Any] = run.json()
    return data


def test_state_show_text_and_json(cli: Cli, state_db: Path) -> None:
    before = file_signature(state_db)
    text, js = cli.many([(("state", "show", "--state", url(state_db)), {}),
                         (("state", "show", "--state", url(state_db), "--format", "json"), {})])
    assert text.returncode == 0, text.describe()
    lines = text.stdout.splitlines()
    assert lines[0] == f"store: sqlite://{state_db}"
    cooldowns = lines.index("cooldowns:")
    assert lines[cooldowns + 1].startswith("  anthropic: provider=anthropic, until=2026-11-24T10:30:00+00:00")
    assert "  claude: anthropic-2" in lines
    assert "quota: (none)" in lines and "log:" in lines  # the decision trace of the select and the fail
    data = js.json()
    assert data["cooldowns"]["anthropic"]["until"] == "2026-11-24T10:30:00+00:00"
    assert data["cooldowns"]["anthropic"]["reason"].startswith("rate_limit")
    assert data["cursors"] == {"claude": "anthropic-2"}
    assert len(data["turns"]) == 1 and data["quota"] == {}
    assert [e["op"] for e in data["log"]] == ["select", "fail"]
    assert Path(data["path"]) == state_db
    assert file_signature(state_db) == before  # show only reads


def test_state_clear_only_cooldowns_then_everything(cli: Cli, state_db: Path) -> None:
    run = cli("state", "clear", "--only", "cooldowns", "--state", url(state_db))
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == f"cleared cooldowns in sqlite://{state_db}"
    data = show_json(cli, state_db)
    assert data["cooldowns"] == {} and data["cursors"] == {"claude": "anthropic-2"} and data["turns"]
    run = cli("state", "clear", "--state", url(state_db), "--format", "json")
    assert run.returncode == 0, run.describe()
    assert run.json()["cleared"] == ["cooldowns", "cursors", "turns", "quota", "log"]
    data = show_json(cli, state_db)
    assert (data["cooldowns"], data["cursors"], data["turns"], data["quota"], data["log"]) == ({}, {}, {}, {}, [])


def test_state_clear_json_names_the_parts(cli: Cli, state_db: Path) -> None:
    run = cli("state", "clear", "--only", "cursors", "--only", "turns", "--state", url(state_db), "--format", "json")
    assert run.returncode == 0, run.describe()
    assert run.json() == {"store": f"sqlite://{state_db}", "cleared": ["cursors", "turns"]}
    data = show_json(cli, state_db)
    assert data["cursors"] == {} and data["turns"] == {} and "anthropic" in data["cooldowns"]


def test_state_clear_rejects_unknown_parts(cli: Cli, state_db: Path) -> None:
    run = cli("state", "clear", "--only", "everything", "--state", url(state_db))
    assert run.returncode == 2, run.describe()
    assert "'everything' is not one of" in run.stderr
    assert show_json(cli, state_db)["cooldowns"]  # nothing was cleared


def test_state_show_on_a_missing_store_is_empty_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "not" / "yet" / "state.db"
    text, js = cli.many([(("state", "show", "--state", url(db)), {}),
                         (("state", "show", "--state", url(db), "--format", "json"), {})])
    assert text.returncode == 0, text.describe()
    assert text.stdout.splitlines()[1] == (f"{db} does not exist: nothing has been recorded yet (the engine "
                                           "creates it at the first decision that writes state)")
    data = js.json()
    assert data["exists"] is False
    assert data["cooldowns"] == {} and data["cursors"] == {} and data["turns"] == {}
    assert not (tmp_path / "not").exists()


def test_state_show_finds_the_store_by_env_and_by_agent_dir(cli: Cli, agent: Path) -> None:
    make_cooldown_state(agent / STATE_FILE)
    by_env, by_agent, by_pi_env = cli.many([
        (("state", "show", "--format", "json"), {"env": {"MP_POLICY_STATE": url(agent / STATE_FILE)}}),
        (("state", "show", "--agent-dir", agent, "--format", "json"), {}),
        (("state", "show", "--format", "json"), {"env": {"PI_CODING_AGENT_DIR": str(agent)}}),
    ])
    for run in (by_env, by_agent, by_pi_env):
        assert run.returncode == 0, run.describe()
        assert "anthropic" in run.json()["cooldowns"], run.describe()


def test_state_on_a_corrupt_file_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_text("garbage", encoding="utf-8")
    show, clear = cli.many([(("state", "show", "--state", url(db)), {}),
                            (("state", "clear", "--state", url(db)), {})])
    for run in (show, clear):
        assert run.returncode == 1, run.describe()
        assert "corrupt or not a database" in run.stderr and "hint:" in run.stderr
        assert run.stdout == ""
    assert db.read_text(encoding="utf-8") == "garbage"


def test_state_urls_with_passwords_are_redacted(cli: Cli) -> None:
    run = cli("state", "show", "--state", "redis://user:hunter2pass@localhost:1/0")
    assert run.returncode != 0, run.describe()
    assert "hunter2pass" not in run.output
    assert "***" in run.stderr


def test_state_show_with_an_unusable_url_is_a_usage_error(cli: Cli) -> None:
    run = cli("state", "show", "--state", "bogus")
    assert run.returncode == 2, run.describe()


def test_state_json_is_json_even_for_odd_values(cli: Cli, state_db: Path) -> None:
    data = show_json(cli, state_db)
    json.dumps(data)  # round-trips
    (turn,) = data["turns"].values()
    assert turn["data"]["attempted"] == ["anthropic"]


def test_state_commands_use_the_store_the_policy_names(cli: Cli, tmp_path: Path) -> None:
    """settings.state is honoured by state show/clear as by eval (the cooldown can be cleared)."""
    from datetime import UTC, datetime

    from policy_engine.engine import Engine

    custom = tmp_path / "custom.db"
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(
        f"settings: {{state: 'sqlite:///{custom}'}}\n"
        "subscriptions: [{provider: anthropic, index: 2}]\n"
        "pools: [{name: c, baseProvider: anthropic, members: [anthropic, anthropic-2]}]\n", encoding="utf-8")
    engine = Engine.load(agent_dir=agent, project=agent, auth={"anthropic", "anthropic-2"},
                         clock=lambda: datetime.now(UTC))
    engine.fail(provider="anthropic", status=429)
    engine.close()
    shown = cli("state", "show", "--agent-dir", agent, "--project", agent, "--format", "json")
    assert shown.returncode == 0, shown.describe()
    assert "anthropic" in shown.json()["cooldowns"]
    cleared = cli("state", "clear", "--only", "cooldowns", "--agent-dir", agent, "--project", agent)
    assert cleared.returncode == 0 and str(custom) in cleared.stdout, cleared.describe()
    again = cli("state", "show", "--agent-dir", agent, "--project", agent, "--format", "json")
    assert again.json()["cooldowns"] == {}
    assert not (agent / "mp-policy-state.db").exists()
