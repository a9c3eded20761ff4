"""``weighted``: a deterministic weighted random order of a pool's eligible members.

Each decision draws a weighted random permutation (Efraimidis–Spirakis): every eligible member
gets the key ``u ** (1 / w)`` — computed as ``log(u) / w``, which sorts the same and cannot
underflow — where ``w`` is the member's weight and ``u`` in (0, 1) comes from a BLAKE2b hash of
(seed, pool name, member, decision time in milliseconds). Members are tried in descending key
order (ties keep rotation order). The first member is ``m`` with probability ``w(m) / sum(w)``
over the eligible members, and each later place follows the same law among the members left, so
load spreads in proportion to the weights. No random state is kept: the same policy, seed and
clock give the same order on every machine, which keeps policy tests reproducible.

The phase (``select``/``fail``) and the current provider are left out of the hash on purpose: a
``fail`` at the same instant as its ``select`` continues down the same permutation, and one at a
later instant draws afresh among the members left; both follow the weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from policy_engine.hookspecs import hookimpl
from policy_engine.strategies.base import StrategyContext, StrategyResult

try:  # mp-policy's records (after 0.2.0): the same dataclasses, cheaper to define at every start
    from policy_engine.common.records import dataclass
except ImportError:  # mp-policy 0.2.0
    from dataclasses import dataclass

try:  # CPython's own BLAKE2, the very function hashlib gives, without hashlib loading OpenSSL at every start
    from _blake2 import blake2b
except ImportError:  # another interpreter
    from hashlib import blake2b

if TYPE_CHECKING:
    from policy_engine.graph import CompiledPool

__all__ = [
    "OPTIONS_SCHEMA",
    "OptionProblem",
    "Weighted",
    "WeightedPlan",
    "decision_ms",
    "mp_policy_strategies",
    "parse_options",
]

OPTIONS_SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "weighted strategy options",
    "description": (
        "Options of the 'weighted' pool strategy: each decision orders the eligible members as a weighted random "
        "permutation, deterministic for a given seed and decision time, so load spreads in proportion to the "
        "weights."
    ),
    "type": "object",
    "properties": {
        "weights": {
            "title": "Weights",
            "description": (
                "Member name -> relative weight (a number greater than 0); members left out get defaultWeight. "
                "A weight of 0 is not allowed: to stop using a member, remove it from the pool's members "
                "(or disable the whole pool with enabled: false)."
            ),
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
        },
        "defaultWeight": {
            "title": "Default weight",
            "description": "The weight of members not named in weights (a number greater than 0).",
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 1,
        },
        "seed": {
            "title": "Seed",
            "description": "Any integer; a different seed gives a different (equally weighted) sequence of orders.",
            "type": "integer",
            "default": 0,
        },
    },
    "additionalProperties": False,
}

_KEYS = tuple(OPTIONS_SCHEMA["properties"])
_PERSON = b"mp-weighted/v1"  # BLAKE2b personalisation: changing it (or the hashed fields) changes every order
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TWO_POW_MINUS_53 = 2.0**-53


@dataclass(frozen=True, slots=True)
class WeightedPlan:
    """A pool's parsed options: explicit weights, the default weight and the seed.

    ``unusable`` names members whose written weight could not be used, and ``default_weight`` is
    ``None`` when ``defaultWeight`` could not be used. Neither happens in a policy that compiled
    with a core that validates ``pools[].options`` against the strategy's schema.
    """

    weights: Mapping[str, float]
    default_weight: float | None = 1.0
    seed: int = 0
    unusable: frozenset[str] = frozenset()

    def weight(self, member: str) -> float | None:
        """The weight of ``member`` (``None`` if it has no usable weight)."""
        if member in self.unusable:
            return None
        return self.weights.get(member, self.default_weight)


def decision_ms(now: datetime) -> int:
    """Milliseconds since the Unix epoch, in exact integer arithmetic (a naive time is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - _EPOCH) // _MS


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    import difflib  # only on the error path

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class OptionProblem:
    """One problem in a pool's options: where (``weights.work``), what, and whether the schema catches it too.

    ``in_schema`` problems are reported by the core, which validates ``pools[].options`` against
    :data:`OPTIONS_SCHEMA` with JSON paths; ``prepare`` raises only for the others (what a JSON
    Schema cannot express), so no mistake is reported twice.
    """

    where: str
    message: str
    in_schema: bool

    def __str__(self) -> str:
        return f"options.{self.where}: {self.message}" if self.where else f"options: {self.message}"


def _positive(value: Any) -> tuple[float | None, str, bool]:
    """``(weight, "", True)`` for a finite number > 0, else ``(None, why, whether the schema rejects it too)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"must be a number greater than 0, got {_describe(value)}", True
    if value == 0:
        return None, ("must be greater than 0 (a weight of 0 is not allowed: to stop using a member, remove it "
                      "from the pool's members)"), True
    if value < 0:
        return None, f"must be a number greater than 0, got {_describe(value)}", True
    try:
        weight = float(value)
    except OverflowError:
        return None, "must be a finite number greater than 0, got a number too large for a float", False
    if not math.isfinite(weight):  # YAML .inf / .nan: a JSON Schema "number" lets them through
        return None, f"must be a finite number greater than 0, got {_describe(weight)}", False
    return weight, "", True


def parse_options(options: Any, members: Sequence[str] | None = None) -> tuple[WeightedPlan, list[OptionProblem]]:
    """Read a pool's ``options`` into a plan, with every problem found (none when they are valid).

    Finds what :data:`OPTIONS_SCHEMA` rejects (``in_schema``), and also weights that are not
    finite (YAML ``.inf``, ``.nan``, integers too large for a float) and, when ``members`` is
    given, weights naming a member the pool does not list. The plan keeps what could be used: a
    bad weight marks its member unusable, a bad default weight leaves ``default_weight`` as
    ``None``, a bad seed is read as 0.
    """
    problems: list[OptionProblem] = []
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        return WeightedPlan({}), [OptionProblem("", f"must be a mapping, got {_describe(options)}", True)]
    for key in options:
        if key not in _KEYS:
            hint = _did_you_mean(str(key), _KEYS) or f" (known options: {', '.join(_KEYS)})"
            problems.append(OptionProblem("", f"unknown option {key!r}{hint}", True))

    weights: dict[str, float] = {}
    unusable: set[str] = set()
    raw_weights = options.get("weights", {})
    if not isinstance(raw_weights, Mapping):
        problems.append(OptionProblem("weights", f"must be a mapping of member name to weight, got "
                                                 f"{_describe(raw_weights)}", True))
        raw_weights = {}
    for member, value in raw_weights.items():
        if not isinstance(member, str) or not member:
            problems.append(OptionProblem("weights", f"{member!r} is not a member name", True))
            continue
        weight, why, in_schema = _positive(value)
        if weight is None:
            unusable.add(member)
            problems.append(OptionProblem(f"weights.{member}", why, in_schema))
        else:
            weights[member] = weight
        if members is not None and member not in members:
            hint = _did_you_mean(member, members) or f" (members: {', '.join(members) or 'none'})"
            problems.append(OptionProblem("weights", f"{member!r} is not a member of the pool{hint}",
                                          False))

    default_weight: float | None = 1.0
    if "defaultWeight" in options:
        default_weight, why, in_schema = _positive(options["defaultWeight"])
        if default_weight is None:
            problems.append(OptionProblem("defaultWeight", why, in_schema))

    seed = 0
    raw_seed = options.get("seed", 0)
    if isinstance(raw_seed, int) and not isinstance(raw_seed, bool):
        seed = raw_seed
    elif isinstance(raw_seed, float) and raw_seed.is_integer():  # JSON Schema counts 3.0 as an integer
        seed = int(raw_seed)
    else:
        problems.append(OptionProblem("seed", f"must be an integer, got {_describe(raw_seed)}", True))

    plan = WeightedPlan(weights=weights, default_weight=default_weight, seed=seed, unusable=frozenset(unusable))
    return plan, problems


class Weighted:
    """Order the eligible members as a weighted random permutation, deterministic per seed and instant.

    Options (``pools[].options``, see :data:`OPTIONS_SCHEMA`): ``weights`` (member -> number > 0),
    ``defaultWeight`` (for members without a weight, default 1) and ``seed`` (integer, default 0).
    Never passes a member over; falls back to rotation order only when no eligible member has a
    usable weight.
    """

    name = "weighted"
    options_schema: Mapping[str, Any] | None = OPTIONS_SCHEMA
    skips_members = False  # never passes a member over, so a named provider needs no strategy check
    keeps_order = False  # reorders: the evaluator must call it

    def prepare(self, pool: CompiledPool) -> WeightedPlan:
        """Read the pool's options (quick, no I/O).

        Raises ``ValueError`` naming every problem a JSON Schema cannot express: weights naming a
        non-member (with a did-you-mean), weights that are not finite. What :data:`OPTIONS_SCHEMA`
        rejects is reported by the core's options validation, with its JSON path, so not twice.
        """
        plan, problems = parse_options(pool.options, pool.written_members)
        beyond_schema = [str(p) for p in problems if not p.in_schema]
        if beyond_schema:
            raise ValueError("; ".join(beyond_schema))
        return plan

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Sort the eligible members by their weighted random key for this decision's instant."""
        members = ctx.members
        if not members:
            return StrategyResult(ordered=members, note="weighted: no eligible member")
        plan = ctx.pool.prepared
        if not isinstance(plan, WeightedPlan):  # prepare did not run: read the options leniently
            plan = parse_options(ctx.pool.options)[0]
        prefix = f"{plan.seed}\x00{ctx.pool.name}\x00{decision_ms(ctx.now)}\x00".encode("utf-8", "surrogatepass")
        hasher = blake2b(prefix, digest_size=8, person=_PERSON)
        keyed: list[tuple[float, int, str, float]] = []
        unusable: list[str] = []
        weights, default, bad, log = plan.weights, plan.default_weight, plan.unusable, math.log
        for position, member in enumerate(members):
            weight = None if member in bad else weights.get(member, default)  # = plan.weight(member), inlined
            if weight is None:
                unusable.append(member)
                continue
            h = hasher.copy()
            h.update(member.encode("utf-8", "surrogatepass"))
            u = ((int.from_bytes(h.digest(), "big") >> 11) + 0.5) * _TWO_POW_MINUS_53  # in (0, 1)
            keyed.append((-log(u) / weight, position, member, weight))  # smallest first = largest u ** (1 / w)
        if not keyed:
            return StrategyResult(ordered=members, fallback=True,
                                  note=f"weighted: no usable weight for {', '.join(members)}; rotation order")
        keyed.sort()
        ordered = [member for _, _, member, _ in keyed] + unusable
        first, first_weight = keyed[0][2], keyed[0][3]
        note = f"weighted: {first} (w={first_weight:g}) first of {len(members)}"
        if unusable:
            note += f"; no usable weight, tried last: {', '.join(unusable)}"
        return StrategyResult(ordered=ordered, note=note)

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """Weighting never excludes a member: always usable."""
        return at


@hookimpl
def mp_policy_strategies() -> list[Weighted]:
    """Register ``weighted``."""
    return [Weighted()]
