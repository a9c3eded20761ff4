"""Bounded line framing: bytes in, whole lines (or "that line was too long") out.

The one reader of JSON-lines streams from another process: the requests of ``mp-policy serve``
(:mod:`policy_engine.serve.transport`) and the replies of selector workers
(:mod:`policy_engine.sandbox.process`).

:class:`LineFramer` knows nothing about sockets or pipes: a reader feeds it the chunks it reads
and gets back complete lines. A line longer than the limit is never held whole: once the buffer
passes the limit without a newline, the framer drops what it holds (:attr:`LineFramer.overflowing`
is then true) and discards bytes until the next newline, then reports one :class:`TooLong` event
in the line's place. Memory stays bounded by the limit plus one chunk, whatever the other side sends.
"""

from __future__ import annotations

from policy_engine.common.records import dataclass

__all__ = ["MAX_LINE", "READ_CHUNK", "LineFramer", "TooLong"]

#: The longest line accepted by default, in bytes, without its newline (a serve request: DESIGN §5.1, 1 MiB).
MAX_LINE = 1 << 20
#: How much a reader reads at a time.
READ_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class TooLong:
    """A line over the limit was read and discarded; ``size`` is how many bytes it had."""

    size: int


class LineFramer:
    """Splits a byte stream into lines of at most ``limit`` bytes (newline excluded; ``\\r\\n`` accepted)."""

    __slots__ = ("_buffer", "_discarding", "_dropped", "limit")

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._discarding = False
        self._dropped = 0

    def feed(self, chunk: bytes) -> list[bytes | TooLong]:
        """The complete lines (and over-long line events) that ``chunk`` finishes, in order."""
        out: list[bytes | TooLong] = []
        start = 0
        size = len(chunk)
        while start < size:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._hold(chunk, start, size)
                break
            if self._discarding:
                out.append(TooLong(self._dropped + end - start))
                self._discarding = False
                self._dropped = 0
            elif len(self._buffer) + end - start > self.limit + 1:  # +1: a trailing \r is not content
                out.append(TooLong(len(self._buffer) + end - start))
                self._buffer.clear()
            else:
                line = bytes(self._buffer) + chunk[start:end] if self._buffer else chunk[start:end]
                self._buffer.clear()
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > self.limit:
                    out.append(TooLong(len(line)))
                else:
                    out.append(line)
            start = end + 1
        return out

    def _hold(self, chunk: bytes, start: int, end: int) -> None:
        """Keep an unfinished line, or count it as discarded once it is over the limit."""
        if self._discarding:
            self._dropped += end - start
            return
        self._buffer += chunk[start:end]
        if len(self._buffer) > self.limit + 1:
            self._dropped = len(self._buffer)
            self._buffer.clear()
            self._discarding = True

    def finish(self) -> list[bytes | TooLong]:
        """At end of input: the last line when it had no newline (an over-long one as :class:`TooLong`)."""
        if self._discarding:
            self._discarding = False
            dropped, self._dropped = self._dropped, 0
            return [TooLong(dropped)]
        if not self._buffer:
            return []
        line = bytes(self._buffer).removesuffix(b"\r")
        self._buffer.clear()
        return [TooLong(len(line))] if len(line) > self.limit else [line]

    @property
    def overflowing(self) -> bool:
        """Whether the line being read is already over the limit (its bytes are discarded until its newline)."""
        return self._discarding

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished line (at most ``limit`` + 1)."""
        return len(self._buffer)
