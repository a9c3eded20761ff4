"""Importing a pi-multi-pass set-up: its JSON files become commented mp-policy YAML, with a report.

>>> report = plan_import(agent_dir=Path("~/.pi/agent"), project=Path("."))   # doctest: +SKIP
>>> [d.to_dict() for d in report.differences]                                  # doctest: +SKIP
>>> write_import(report)                                                       # doctest: +SKIP

Modules: :mod:`~policy_engine.pi_import.reading` (strict JSON with positions, "is this a pi
config?"), :mod:`~policy_engine.pi_import.convert` and :mod:`~policy_engine.pi_import.schedules`
(values mp-policy rejects rewritten to what pi did with them, collected by
:mod:`~policy_engine.pi_import.collect`), :mod:`~policy_engine.pi_import.behaviour` (what acts
differently for this set-up, DESIGN §10), :mod:`~policy_engine.pi_import.describe` and
:mod:`~policy_engine.pi_import.emit` (the commented YAML), :mod:`~policy_engine.pi_import.importer`
(the whole run), :mod:`~policy_engine.pi_import.model` (the report's types).
"""

from __future__ import annotations

from policy_engine.pi_import.importer import InvalidResult, OutputExists, plan_import, write_import
from policy_engine.pi_import.model import Difference, ImportedFile, ImportReport, PiImportError

__all__ = [
    "Difference",
    "ImportReport",
    "ImportedFile",
    "InvalidResult",
    "OutputExists",
    "PiImportError",
    "plan_import",
    "write_import",
]
