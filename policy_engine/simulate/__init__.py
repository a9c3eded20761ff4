"""Simulating a policy over time: which account and model each route uses, minute by minute.

The pieces, in the order a simulation uses them:

* :mod:`~policy_engine.simulate.events` — the event script (rate limits, quota burn, logins at
  given times), checked with ``file:line:col`` diagnostics;
* :mod:`~policy_engine.simulate.routes` — the routes to follow (``chain:main``, ``pool:codex@gpt-5``);
* :mod:`~policy_engine.simulate.world` — the simulated world: a private in-memory state, a clock,
  and every change in time order;
* :mod:`~policy_engine.simulate.run` — the simulation itself (:func:`simulate`), with a fast path
  that evaluates a route only when something concerning it changed;
* :mod:`~policy_engine.simulate.timeline`, :mod:`~policy_engine.simulate.export`,
  :mod:`~policy_engine.simulate.plot` — text, JSON/CSV and a chart (matplotlib, optional).

>>> result = simulate(engine, default_routes(engine.graph), start=monday, period=timedelta(days=7))  # doctest: +SKIP
>>> print(render_timeline(result))                                                                # doctest: +SKIP
"""

from policy_engine.simulate.event_reader import load_events
from policy_engine.simulate.events import EventScript
from policy_engine.simulate.routes import RouteSpec, default_routes, parse_route
from policy_engine.simulate.run import Outcome, Run, SimulationResult, simulate
from policy_engine.simulate.timeline import render_timeline

__all__ = [
    "EventScript",
    "Outcome",
    "RouteSpec",
    "Run",
    "SimulationResult",
    "default_routes",
    "load_events",
    "parse_route",
    "render_timeline",
    "simulate",
]
