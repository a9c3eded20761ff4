"""LineFramer: lines split across chunks, CRLF, over-long lines discarded in bounded memory, EOF."""

from __future__ import annotations

from policy_engine.common.line_framing import LineFramer, TooLong


def _feed_all(framer: LineFramer, chunks: list[bytes]) -> list[bytes | TooLong]:
    out: list[bytes | TooLong] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + framer.finish()


def test_lines_split_anywhere_come_out_whole_and_in_order() -> None:
    data = b'{"id":1}\n{"id":2}\r\n\n{"id":3}\n'
    for size in (1, 2, 3, 7, len(data)):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert _feed_all(LineFramer(), chunks) == [b'{"id":1}', b'{"id":2}', b"", b'{"id":3}']


def test_a_last_line_without_newline_is_given_at_eof() -> None:
    framer = LineFramer()
    assert framer.feed(b'{"id":1}\n{"id"') == [b'{"id":1}']
    assert framer.finish() == [b'{"id"']
    assert framer.finish() == []


def test_a_line_at_the_limit_passes_and_one_byte_more_is_too_long() -> None:
    framer = LineFramer(limit=10)
    assert framer.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    assert framer.feed(b"x" * 10 + b"\r\n") == [b"x" * 10]  # the \r is not content
    assert framer.feed(b"y" * 11 + b"\nok\n") == [TooLong(11), b"ok"]


def test_a_long_line_over_many_chunks_is_discarded_without_holding_it() -> None:
    framer = LineFramer(limit=1000)
    peak = 0
    out: list[bytes | TooLong] = []
    for _ in range(300):  # 300 kB with no newline
        out += framer.feed(b"z" * 1000)
        peak = max(peak, framer.pending)
    assert framer.overflowing
    out += framer.feed(b"zz\n" + b'{"id":2}\n')
    assert out == [TooLong(300_002), b'{"id":2}']
    assert peak <= 1001
    assert not framer.overflowing


def test_a_long_line_cut_by_eof_is_reported_once() -> None:
    framer = LineFramer(limit=4)
    assert framer.feed(b"abcdefgh") == []
    assert framer.finish() == [TooLong(8)]
    assert framer.feed(b"ok\n") == [b"ok"]
