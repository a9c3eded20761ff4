"""Protocol 1 parsing and argument checks: every bad input is a located ProtocolError, never a crash."""

from __future__ import annotations

import json

import pytest

from policy_engine.common.line_framing import TooLong
from policy_engine.serve.protocol import (
    ERROR_CODES,
    Args,
    ProtocolError,
    RequestError,
    encode,
    error_answer,
    ok_answer,
    parse_line,
)


def _error(line: bytes | TooLong) -> tuple[object, ProtocolError]:
    try:
        parse_line(line)
    except RequestError as exc:
        return exc.id, exc.error
    except ProtocolError as exc:
        return None, exc
    raise AssertionError("no error")


def test_a_good_request_keeps_its_id_op_and_arguments() -> None:
    request = parse_line(b'{"id": "a-1", "op": "select", "pool": "claude", "model": "m"}')
    assert (request.id, request.op) == ("a-1", "select")
    assert request.args.string("pool") == "claude" and request.args.string("model") == "m"


@pytest.mark.parametrize(("line", "code", "ident", "words"), [
    (b"not json", "bad-request", None, "not JSON"),
    (b"[1, 2]", "bad-request", None, "not an array"),
    (b'"text"', "bad-request", None, "not a string"),
    (b'{"op": "hello"}', "bad-request", None, "has no id"),
    (b'{"id": null, "op": "hello"}', "bad-request", None, "has no id"),
    (b'{"id": {"a": 1}, "op": "hello"}', "bad-request", None, "an object as its id"),
    (b'{"id": [1], "op": "hello"}', "bad-request", None, "an array as its id"),
    (b'{"id": 7}', "bad-request", 7, "no op"),
    (b'{"id": 7, "op": 3}', "bad-request", 7, "op must be a string"),
    (b'{"id": 7, "op": "launch"}', "unknown-op", 7, "unknown op 'launch'"),
    (b'{"id": NaN, "op": "hello"}', "bad-request", None, "not JSON"),
    (b'{"id": 1e400, "op": "hello"}', "bad-request", None, "a number beyond a double as its id"),
    (b'{"id": 1, "op": "hello"' + b"[" * 100_000, "bad-request", None, "not JSON"),
    (b'{"id": "\xff\xfe", "op": "hello"}', "bad-request", None, "not UTF-8"),
    (TooLong(3_000_000), "bad-request", None, "3000000 bytes"),
])
def test_bad_lines_give_coded_errors_with_a_hint(line: bytes | TooLong, code: str, ident: object, words: str) -> None:
    got_id, error = _error(line)
    assert error.code == code and got_id == ident
    assert words in error.message, error.message
    assert error.hint


def test_deeply_nested_json_is_a_bad_request_not_a_crash() -> None:
    _, error = _error(b'{"id": 1, "op": "select", "body": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    assert error.code == "bad-request"


def test_scalar_ids_of_every_kind_are_kept() -> None:
    for raw, ident in ((b"0", 0), (b"-3.5", -3.5), (b"true", True), (b'""', ""), (b"12345678901234567890",
                                                                                 12345678901234567890)):
        assert parse_line(b'{"id": ' + raw + b', "op": "hello"}').id == ident


def test_argument_types_are_checked_and_named() -> None:
    args = Args("fail", {"turn": 5, "status": "429", "headers": {"a": {"b": 1}}, "explain": "yes", "code": [1],
                         "ok": "x", "n": 42.0, "far": 700})
    cases = [
        (lambda: args.string("turn"), "'turn' must be a string, not a number"),
        (lambda: args.integer("status"), "'status' must be an integer, not a string"),
        (lambda: args.headers(), "header 'a' in 'headers' must be a string, not an object"),
        (lambda: args.boolean("explain"), "'explain' must be true or false, not a string"),
        (lambda: args.scalar_text("code"), "'code' must be a string or a number, not an array"),
        (lambda: args.string("missing", required=True), "'missing' is required"),
        (lambda: args.integer("far", low=100, high=599), "'far' is 700; it must be between 100 and 599"),
    ]
    for call, message in cases:
        with pytest.raises(ProtocolError) as info:
            call()
        assert info.value.code == "bad-request" and message in info.value.message and info.value.hint
        assert info.value.message.startswith("fail: ")
    assert args.string("ok") == "x" and args.integer("n") == 42 and args.string("absent") is None


def test_a_string_with_a_lone_surrogate_is_a_bad_request_naming_it() -> None:
    """JSON lets "\\ud800" through (JavaScript strings hold such halves); no name or model is made of one."""
    request = parse_line(b'{"id": 1, "op": "fail", "provider": "anthropic", "model": "\\ud800", "pool": "caf\xc3\xa9"}')
    with pytest.raises(ProtocolError) as info:
        request.args.string("model")
    assert info.value.code == "bad-request" and "'model' holds a lone surrogate" in info.value.message
    assert request.args.string("pool") == "caf\u00e9"  # other non-ASCII text is text


def test_headers_accept_numbers_as_text() -> None:
    assert Args("fail", {"headers": {"retry-after": 30, "x": "y"}}).headers() == {"retry-after": "30", "x": "y"}
    with pytest.raises(ProtocolError, match="must be an object"):
        Args("fail", {"headers": ["retry-after: 30"]}).headers()


def test_answers_are_one_compact_line_with_warnings_only_when_there_are_some() -> None:
    line = encode(ok_answer(3, {"turn": "t"}, []))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"id": 3, "ok": True, "result": {"turn": "t"}}
    err = json.loads(encode(error_answer(None, ProtocolError("not-found", "no such pool", "a hint"), ["w"])))
    assert err == {"id": None, "ok": False, "error": {"code": "not-found", "message": "no such pool", "hint": "a hint"},
                   "warnings": ["w"]}


def test_every_error_code_is_documented() -> None:
    assert set(ERROR_CODES) >= {"bad-request", "unknown-op", "unsupported-protocol", "not-found", "bad-route",
                                "invalid-policy", "state-error", "internal"}
    assert all(ERROR_CODES.values())
