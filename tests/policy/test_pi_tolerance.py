"""pi-multi-pass's tolerance for a ``multi-pass.json`` (DESIGN §3): what pi accepts is a warning there and an
error in YAML, the keys pi ignores are left out of the data, and the schedules read as pi reads them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from policy_engine.policy.loader import load_text
from policy_engine.policy.pi_tolerance import IMPORT_HINT, is_pi_day, without_ignored_keys
from policy_engine.policy.schedule import Schedule
from policy_engine.policy.validation import validate_document

TEXT = '{"pools": [{"name": "p", "baseProvider": "anthropic", "members": ["anthropic"], "why": 1,\n' \
       '  "memberSchedule": {"anthropic": {"role": "preferred", "windows": [{"hours": [9, 9], "days": ["Fri"]}]}}}]}'
VIENNA = ZoneInfo("Europe/Vienna")


def test_json_gets_warnings_yaml_gets_errors() -> None:
    json_doc = load_text(TEXT, "multi-pass.json")
    found = validate_document(json_doc, "policy")
    assert [(d.code, d.severity, d.line) for d in found] == [
        ("pi-ignored-key", "warning", 1), ("pi-empty-hours", "warning", 2), ("pi-day-case", "warning", 2)]
    assert all(d.hint == IMPORT_HINT for d in found)
    yaml_found = validate_document(load_text(TEXT, "multi-pass.yaml"), "policy")
    assert sorted((d.code, d.severity) for d in yaml_found) == [
        ("days", "error"), ("hours", "error"), ("unknown-key", "error")]
    stripped = without_ignored_keys(json_doc, found)
    assert "why" not in stripped.data["pools"][0] and "why" in json_doc.data["pools"][0]


def test_schedules_read_as_pi_reads_them() -> None:
    friday = datetime(2026, 4, 10, 10, 0, tzinfo=VIENNA)
    never = Schedule.from_windows([{"hours": [9, 9]}], VIENNA, pi_tolerant=True)
    assert never.state(friday) == (False, None) and never.next_opening(friday) is None
    upper = Schedule.from_windows([{"hours": [9, 17], "days": ["Fri", "Sunday?"]}], VIENNA, pi_tolerant=True)
    assert upper.state(friday).active
    nothing = Schedule.from_windows([{"days": ["Funday"]}], VIENNA, pi_tolerant=True)
    assert not nothing.state(friday).active
    assert is_pi_day("MON-fri") and not is_pi_day("monday")
