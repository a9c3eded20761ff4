"""mp-policy-weighted: the ``weighted`` pool strategy for mp-policy.

Installed, it registers itself through the ``mp_policy`` entry-point group; a pool then uses it
with ``strategy: weighted`` and ``options: {weights: {...}, defaultWeight: 1, seed: 0}``.
"""

from __future__ import annotations

from mp_policy_weighted.strategy import (
    OPTIONS_SCHEMA,
    OptionProblem,
    Weighted,
    WeightedPlan,
    decision_ms,
    parse_options,
)

__all__ = ["OPTIONS_SCHEMA", "OptionProblem", "Weighted", "WeightedPlan", "decision_ms", "parse_options"]
