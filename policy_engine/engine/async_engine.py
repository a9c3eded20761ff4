"""An asyncio façade over :class:`~policy_engine.engine.core.Engine`: the same calls, run off the event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from policy_engine.evaluate.decision import Decision

if TYPE_CHECKING:
    from policy_engine.engine.attempts import AsyncAttempts
    from policy_engine.engine.core import Engine

__all__ = ["AsyncEngine"]


class AsyncEngine:
    """An asyncio façade over :class:`Engine`: the same calls, run off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def select(self, *args: Any, **kwargs: Any) -> Decision:
        """See :meth:`Engine.select`."""
        import asyncio

        return await asyncio.to_thread(self.engine.select, *args, **kwargs)

    async def fail(self, *args: Any, **kwargs: Any) -> Decision:
        """See :meth:`Engine.fail`."""
        import asyncio

        return await asyncio.to_thread(self.engine.fail, *args, **kwargs)

    async def succeed(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`Engine.succeed`."""
        import asyncio

        await asyncio.to_thread(self.engine.succeed, *args, **kwargs)

    def attempts(self, provider: str | None = None, *, pool: str | None = None, chain: str | None = None,
                 preset: str | None = None, model: str | None = None, prompt: str | None = None,
                 turn: str | None = None, explain: bool = False) -> AsyncAttempts:
        """The failover loop for ``async for`` / ``async with``; see :meth:`Engine.attempts`."""
        from policy_engine.engine.attempts import AsyncAttempts

        return AsyncAttempts(self, provider=provider, pool=pool, chain=chain, preset=preset, model=model,
                             prompt=prompt, turn=turn, explain=explain)
