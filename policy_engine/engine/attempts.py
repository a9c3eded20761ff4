"""The failover loop: ``engine.attempts(...)`` yields targets until one works or none is left.

::

    for attempt in engine.attempts(chain="main"):
        with attempt:                  # reports the provider's exception, or the success, for you
            reply = clients[attempt.provider].chat.completions.create(model=attempt.model, messages=...)

What the loop does, turn by turn (DESIGN §4):

* The first iteration starts a turn (:meth:`Engine.select`, same arguments) and yields an
  :class:`Attempt` for its target: ``attempt.provider`` and ``attempt.model`` say which account
  and model to call (a chain entry's model when the route came through one).
* ``with attempt:`` reports what happened. A clean exit is a success (:meth:`Engine.succeed`;
  call ``attempt.succeed(raw_response)`` inside the block to hand over the response headers for
  quota capture). An exception that :mod:`policy_engine.engine.sdk_errors` recognises as a
  provider error is reported with :meth:`Engine.fail`, with its status, headers and body: if the
  engine rotates, the exception is swallowed and the next iteration follows the engine's
  decision; if not (a plain 400, a 401, a 500, a network blip), the caller's exception goes on
  unchanged and the loop ends with it. Any other exception (a bug in the caller's code,
  ``KeyboardInterrupt``) goes on unchanged too, and the account is not blamed.
* Without ``with``, call ``attempt.fail(exc_or_response)`` or ``attempt.succeed(...)`` yourself;
  the next iteration follows the same rules (a non-rotating failure re-raises the exception
  given to ``fail``, or raises :class:`AttemptRejected` when it was a response).
* When no target is left (at the start, or after the last rotating failure) the loop raises
  :class:`AttemptsExhausted`, chained to the last provider exception, with ``retry_after`` (when a
  new turn would find a target), the last Decision and the classified error.

The same on :class:`~policy_engine.AsyncEngine`: ``async for attempt in engine.attempts(...)`` and
``async with attempt:``. ``engine.attempts(...)`` is also a context manager (``with`` / ``async with``)
for code that wants the loop object (``.decision``, ``.history``, ``.turn``) after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from policy_engine.common.durations import format_duration
from policy_engine.engine.sdk_errors import FailureReport, read_error, read_failure, read_headers

if TYPE_CHECKING:
    from types import TracebackType

    from policy_engine.engine import AsyncEngine, Engine
    from policy_engine.evaluate.decision import Decision, ErrorOutcome, Target

__all__ = ["AsyncAttempt", "AsyncAttempts", "Attempt", "AttemptError", "AttemptRejected", "Attempts",
           "AttemptsExhausted"]

_PENDING, _SUCCEEDED, _FAILED, _ABANDONED = "pending", "succeeded", "failed", "abandoned"
_STOP = object()  # the loop is over (StopIteration / StopAsyncIteration)


class AttemptError(Exception):
    """The failover loop stopped without a success.

    ``decision`` is the engine's last Decision, ``error`` its classified error (``None`` when the
    turn found no target at its start), ``retry_after`` when a new turn on the same route would
    find a target (``None``: nothing predictable helps, e.g. missing credentials), ``attempts`` the
    attempts made, and ``exception`` the last provider exception (also the ``__cause__``).
    """

    def __init__(self, message: str, *, decision: Decision, attempts: tuple[BaseAttempt, ...],
                 exception: BaseException | None = None) -> None:
        super().__init__(message)
        self.decision = decision
        self.error: ErrorOutcome | None = decision.error
        self.retry_after: datetime | None = decision.retry_after
        self.attempts = attempts
        self.exception = exception

    def retry_after_seconds(self) -> float | None:
        """Seconds from the decision to ``retry_after`` (0 when a new turn can start at once), or ``None``."""
        if self.retry_after is None:
            return None
        return max(0.0, (self.retry_after - self.decision.at).total_seconds())


class AttemptsExhausted(AttemptError):
    """No target is left on the route: every eligible account failed, or none was eligible at the start."""


class AttemptRejected(AttemptError):
    """A failure reported as a response (not an exception) that does not rotate: the loop ends on it."""


def describe_end(decision: Decision, tried: Sequence[tuple[str, str]]) -> str:
    """The message of a loop that found no target: the attempts (account, what happened), why, when to retry."""
    if tried:
        head = f"no account left after {len(tried)} attempt(s): " + ", ".join(f"{p} ({what})" for p, what in tried)
    else:
        head = "no account is eligible on this route"
        reasons = sorted({f"{s.provider or s.pool}: {s.reason}" for s in decision.skipped})
        if reasons:
            head += f" ({'; '.join(reasons[:6])}{' …' if len(reasons) > 6 else ''})"
    if decision.retry_after is None:
        return head + "; nothing predictable will free one (check credentials and the policy)"
    wait = max(0.0, (decision.retry_after - decision.at).total_seconds())
    when = decision.retry_after.isoformat(timespec="seconds")
    return head + (f"; a new turn can start at once ({when})" if wait < 1 else
                   f"; retry after {when} (in {format_duration(timedelta(seconds=round(wait)))})")


class BaseAttempt:
    """What sync and async attempts share: the target, the state and the bookkeeping of an outcome."""

    def __init__(self, loop: _BaseAttempts, decision: Decision, number: int) -> None:
        assert decision.target is not None
        self._loop = loop
        self.decision = decision
        """The Decision that chose this attempt's target."""
        self.target: Target = decision.target
        self.number = number
        """1-based position in the turn."""
        self.state = _PENDING
        """``pending``, ``succeeded``, ``failed`` or ``abandoned`` (an exception no adapter knows left the block)."""
        self.outcome: Decision | None = None
        """The Decision of this attempt's failure (``None`` until it failed)."""
        self.exception: BaseException | None = None
        """The exception this attempt failed with, when it was one."""

    @property
    def provider(self) -> str:
        """The account to call."""
        return self.target.provider

    @property
    def model(self) -> str | None:
        """The model to ask for (the chain or preset entry's model when the route came through one)."""
        return self.target.model

    @property
    def turn(self) -> str:
        """The turn id."""
        return self.decision.turn

    @property
    def error(self) -> ErrorOutcome | None:
        """The classified error of this attempt's failure."""
        return self.outcome.error if self.outcome is not None else None

    def _check_pending(self, what: str) -> None:
        if self.state != _PENDING:
            raise RuntimeError(f"attempt {self.number} on {self.provider} was already {self.state}; "
                               f"it cannot {what} again")

    def _fail_arguments(self, failure: Any, fields: dict[str, Any]) -> dict[str, Any]:
        report = read_failure(failure) if failure is not None else FailureReport()
        arguments = report.fail_arguments()
        arguments.update({k: v for k, v in fields.items() if v is not None})
        return {"provider": self.provider, "model": self.model, "prompt": self._loop._request.get("prompt"),
                **arguments}

    def _failed(self, decision: Decision, failure: Any) -> Decision:
        self.state = _FAILED
        self.outcome = decision
        self.exception = failure if isinstance(failure, BaseException) else None
        return decision

    def _reportable(self, exc: BaseException) -> bool:
        """On leaving ``with`` by ``exc``: whether it is a provider error to report (else the account is not blamed)."""
        if self.state != _PENDING:
            return False  # reported inside the block already
        if isinstance(exc, Exception) and read_error(exc) is not None:
            return True
        self.state = _ABANDONED
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number} {self.provider} {self.model!r} {self.state}>"


class Attempt(BaseAttempt):
    """One try on one target; ``with attempt:`` reports its outcome (see the module docstring)."""

    _loop: Attempts

    def fail(self, failure: Any = None, /, **fields: Any) -> Decision:
        """Report this attempt's failure and return the engine's Decision.

        ``failure`` is an exception, a response (``httpx``/``requests``/SDK raw response) or a
        mapping of ``fail`` fields; keyword ``fields`` (``status``, ``message``, ``headers``,
        ``body``, ``type``, ``code``) override what was read from it.
        """
        self._check_pending("fail")
        decision = self._loop._engine.fail(self.turn, **self._fail_arguments(failure, fields))
        return self._failed(decision, failure)

    def succeed(self, response: Any = None, /, *, headers: dict[str, str] | None = None) -> None:
        """Report success; ``response`` (a raw response, a ``litellm`` response) or ``headers`` feed quota capture."""
        self._check_pending("succeed")
        self._loop._engine.succeed(self.turn, headers=headers or read_headers(response), provider=self.provider)
        self.state = _SUCCEEDED

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None:
            if self.state == _PENDING:
                self.succeed()
            return False
        if not self._reportable(exc):
            return False
        decision = self.fail(exc)
        return bool(decision.error and decision.error.rotate)


class AsyncAttempt(BaseAttempt):
    """One try on one target of an :class:`AsyncAttempts` loop; ``async with attempt:`` reports it."""

    _loop: AsyncAttempts

    async def fail(self, failure: Any = None, /, **fields: Any) -> Decision:
        """See :meth:`Attempt.fail`."""
        self._check_pending("fail")
        decision = await self._loop._engine.fail(self.turn, **self._fail_arguments(failure, fields))
        return self._failed(decision, failure)

    async def succeed(self, response: Any = None, /, *, headers: dict[str, str] | None = None) -> None:
        """See :meth:`Attempt.succeed`."""
        self._check_pending("succeed")
        await self._loop._engine.succeed(self.turn, headers=headers or read_headers(response),
                                         provider=self.provider)
        self.state = _SUCCEEDED

    async def __aenter__(self) -> AsyncAttempt:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if exc is None:
            if self.state == _PENDING:
                await self.succeed()
            return False
        if not self._reportable(exc):
            return False
        decision = await self.fail(exc)
        return bool(decision.error and decision.error.rotate)


_REQUEST_KEYS = ("provider", "pool", "chain", "preset", "model", "prompt", "turn", "explain")


class _BaseAttempts:
    """The state machine of one turn's loop, shared by :class:`Attempts` and :class:`AsyncAttempts`."""

    def __init__(self, engine: Any, request: dict[str, Any]) -> None:
        unknown = set(request) - set(_REQUEST_KEYS)
        if unknown:
            raise TypeError(f"attempts() got unexpected arguments: {', '.join(sorted(unknown))}")
        self._engine = engine
        self._request = {k: v for k, v in request.items() if v is not None}
        self.decision: Decision | None = None
        """The engine's latest Decision (``None`` before the first iteration)."""
        self.history: list[BaseAttempt] = []
        """The attempts made, in order."""
        self._over = False

    @property
    def turn(self) -> str | None:
        """The turn id (``None`` before the first iteration)."""
        return self.decision.turn if self.decision is not None else None

    @property
    def succeeded(self) -> BaseAttempt | None:
        """The attempt that succeeded, if one did."""
        last = self.history[-1] if self.history else None
        return last if last is not None and last.state == _SUCCEEDED else None

    def _following(self) -> Decision | object | None:
        """The Decision the next attempt follows, ``None`` to start the turn, or ``_STOP``; raises at the end."""
        if self._over:
            return _STOP
        if not self.history:
            return None
        last = self.history[-1]
        if last.state == _SUCCEEDED:
            self._over = True
            return _STOP
        if last.state != _FAILED or last.outcome is None:
            self._over = True
            raise RuntimeError(
                f"attempt {last.number} on {last.provider} was not reported: leave it through `with attempt:` "
                "or call attempt.fail(...) / attempt.succeed(...) before the next iteration"
                + (" (it ended with an exception that is not a provider error)" if last.state == _ABANDONED else ""))
        outcome = last.outcome
        if outcome.error is not None and not outcome.error.rotate:
            self._over = True
            self.decision = outcome
            if last.exception is not None:
                raise last.exception
            raise AttemptRejected(f"{last.provider} failed with a {outcome.error.kind} error that does not "
                                  f"rotate: {outcome.error.reason}", decision=outcome, attempts=tuple(self.history))
        return outcome

    def _next_attempt(self, decision: Decision, cls: type[BaseAttempt]) -> BaseAttempt:
        self.decision = decision
        if decision.target is None:
            self._over = True
            last = self.history[-1].exception if self.history else None
            tried = [(a.provider, a.error.kind if a.error else a.state) for a in self.history]
            raise AttemptsExhausted(describe_end(decision, tried), decision=decision,
                                    attempts=tuple(self.history), exception=last) from last
        attempt = cls(self, decision, len(self.history) + 1)
        self.history.append(attempt)
        return attempt


class Attempts(_BaseAttempts):
    """The failover loop of :meth:`Engine.attempts`: iterate it; each item is an :class:`Attempt`."""

    _engine: Engine

    def __init__(self, engine: Engine, **request: Any) -> None:
        super().__init__(engine, request)

    def __iter__(self) -> Attempts:
        return self

    def __next__(self) -> Attempt:
        following = self._following()
        if following is _STOP:
            raise StopIteration
        decision = following if following is not None else self._engine.select(**self._request)
        return self._next_attempt(decision, Attempt)  # type: ignore[arg-type,return-value]

    def __enter__(self) -> Attempts:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._over = True


class AsyncAttempts(_BaseAttempts):
    """The failover loop of :meth:`AsyncEngine.attempts`: ``async for attempt in ...``."""

    _engine: AsyncEngine

    def __init__(self, engine: AsyncEngine, **request: Any) -> None:
        super().__init__(engine, request)

    def __aiter__(self) -> AsyncAttempts:
        return self

    async def __anext__(self) -> AsyncAttempt:
        following = self._following()
        if following is _STOP:
            raise StopAsyncIteration
        decision = following if following is not None else await self._engine.select(**self._request)
        return self._next_attempt(decision, AsyncAttempt)  # type: ignore[arg-type,return-value]

    async def __aenter__(self) -> AsyncAttempts:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._over = True
