"""Error adapters: the exceptions and responses of provider SDKs as :meth:`Engine.fail` arguments.

An agent that calls a provider through an SDK gets the failure as an exception (or, with a raw
HTTP client, as a response). :func:`read_error` and :func:`read_response` turn it into a
:class:`FailureReport`: status, headers, body, type, code and message, the fields
:meth:`~policy_engine.Engine.fail` classifies. :func:`read_headers` reads the headers of a
successful response for :meth:`~policy_engine.Engine.succeed` (passive quota capture).

Recognised, without importing any SDK (a class is only looked up when its package is already
imported, so an object of it can exist at all):

* ``openai`` and ``anthropic``: ``APIStatusError`` and its subclasses (``RateLimitError``,
  ``InternalServerError``, ``OverloadedError`` …): the status, the headers and the JSON body of
  ``exc.response``, the SDK's ``type`` and ``code``; their ``with_raw_response`` results for
  :func:`read_headers`. Any other SDK generated in the same shape (an integer ``status_code`` of
  400-599 on the exception and a ``response`` with headers, like ``litellm``'s exceptions) reads
  the same way.
* ``httpx`` (and ``httpx2``, which the current ``openai``/``anthropic`` SDKs use):
  ``HTTPStatusError`` and ``Response``.
* ``requests``: ``HTTPError`` (with its ``response``) and ``Response``.
* Network errors: the SDKs' ``APIConnectionError`` / ``APITimeoutError``, ``httpx``'s
  ``TransportError`` (connect, read, timeouts, a dropped connection), ``requests``'
  ``ConnectionError`` / ``Timeout`` and the built-in ``ConnectionError`` / ``TimeoutError``.
  They carry no HTTP status and are **not** rate limits: they are reported with
  ``type: network_error`` (``code: timeout`` or ``connection_error``), which the classifier
  files as ``other``, so by default they do not move the turn (the caller's own retry is the
  usual answer to a blip). A policy that wants failover on them says so with an error rule,
  e.g. ``errorRules: [{type: network_error, kind: overloaded}]``.

Anything else (a ``KeyError`` in the caller's code) is not a provider error: :func:`read_error`
returns ``None`` and the account is not blamed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from policy_engine.common.records import dataclass

__all__ = ["NETWORK_ERROR_TYPE", "FailureReport", "read_error", "read_failure", "read_headers", "read_response"]

#: The ``type`` a network error is reported with (``errorRules`` can match it).
NETWORK_ERROR_TYPE = "network_error"

_MAX_TEXT = 4000  # characters of a non-JSON body kept as the message
_CONNECTION_CLASSES = frozenset({"APIConnectionError", "APITimeoutError"})  # openai, anthropic and their kin


@dataclass(frozen=True)
class FailureReport:
    """One failure as :meth:`Engine.fail` wants it, and where it was read from.

    ``network`` is true for an error without an HTTP response (connection refused or dropped,
    timeout). :meth:`fail_arguments` gives the keyword arguments of ``Engine.fail``.
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    type: str | None = None
    code: str | None = None
    message: str = ""
    network: bool = False
    source: str = ""

    def fail_arguments(self) -> dict[str, Any]:
        """``status``, ``headers``, ``body``, ``type``, ``code`` and ``message`` for ``Engine.fail``."""
        return {"status": self.status, "headers": dict(self.headers), "body": self.body, "type": self.type,
                "code": self.code, "message": self.message}


def _classes(module: str, *names: str) -> tuple[type, ...]:
    """The classes ``module.name`` that exist, looked up only if ``module`` is already imported."""
    found: list[type] = []
    loaded = sys.modules.get(module)
    if loaded is None:
        return ()
    for name in names:
        obj: Any = loaded
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type):
            found.append(obj)
    return tuple(found)


def _source(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def _lower_headers(headers: Any) -> dict[str, str]:
    """Headers (a mapping, or an object with ``items()``) with lower-case names; ``{}`` if unreadable."""
    if headers is None:
        return {}
    try:
        items = headers.items()
        return {str(name).lower(): str(value) for name, value in items}
    except (AttributeError, TypeError, ValueError):
        return {}


def _body_bytes(response: Any) -> bytes | str | None:
    """The body of an HTTP response object that has already been read (``None`` if it was not)."""
    inner = getattr(response, "http_response", None)  # openai/anthropic raw responses wrap an httpx response
    target = inner if inner is not None else response
    for attribute in ("content", "text"):
        try:
            value = getattr(target, attribute, None)
        except Exception:  # e.g. httpx.ResponseNotRead on a streamed response
            value = None
        if isinstance(value, bytes | str):
            return value
    return None


def _parse_body(raw: bytes | str | None) -> Any:
    """The JSON document of a body, else (also for JSON nested too deeply to parse) its text (capped),
    else ``None``."""
    if raw is None or raw in (b"", ""):
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text[:_MAX_TEXT]


def _body_message(body: Any) -> str:
    """The error message inside a provider body (``error.message``, ``message``, ``detail``), or ``""``."""
    if isinstance(body, str):
        return body
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    for key in ("message", "detail", "error_description"):
        if isinstance(body.get(key), str):
            return body[key]
    return ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_response(response: Any) -> FailureReport | None:
    """A failing HTTP response (``httpx``/``httpx2``/``requests`` ``Response``, an SDK raw response).

    ``None`` when ``response`` has no integer ``status_code``. The body is read only if the
    response was read already (a streamed response that was not is reported without a body).
    """
    status = getattr(response, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    body = _parse_body(_body_bytes(response))
    message = _body_message(body) or f"HTTP {status}"
    return FailureReport(status=status, headers=_lower_headers(getattr(response, "headers", None)), body=body,
                         message=message, source=_source(response))


def _network_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _CONNECTION_CLASSES:
        return True
    known = (*_classes("httpx", "TransportError"), *_classes("httpx2", "TransportError"),
             *_classes("requests", "exceptions.ConnectionError", "exceptions.Timeout"), ConnectionError, TimeoutError)
    return isinstance(exc, known)


def _status_error(exc: BaseException) -> FailureReport | None:
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool):
        status = getattr(response, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        return None
    headers = _lower_headers(getattr(response, "headers", None))
    if not headers:  # litellm keeps the provider's headers beside a synthetic response
        headers = _lower_headers(getattr(exc, "litellm_response_headers", None))
    body = _parse_body(_body_bytes(response)) if response is not None else None
    if body is None:
        body = getattr(exc, "body", None)
    message = getattr(exc, "message", None)
    if not isinstance(message, str) or not message:
        message = str(exc) or _body_message(body)
    code = _text(getattr(exc, "code", None)) or _text(getattr(exc, "error_code", None))
    return FailureReport(status=status, headers=headers, body=body, type=_text(getattr(exc, "type", None)),
                         code=code, message=message, source=_source(exc))


def _network_cause(exc: BaseException) -> BaseException | None:
    """A network error this exception was raised from (``__cause__`` / ``__context__``), if any."""
    seen = {id(exc)}
    current = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen and len(seen) < 10:
        if _network_error(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def read_error(exc: BaseException) -> FailureReport | None:
    """The :class:`FailureReport` of a provider SDK or HTTP client exception; ``None`` for anything else.

    Network errors come first: ``litellm`` reports a dropped connection as an ``APIConnectionError``
    or an ``InternalServerError`` with a made-up status 500, raised from the ``httpx`` transport
    error; an exception with status 500 (or none) raised from a network error is one.
    """
    network = exc if _network_error(exc) else None
    if network is None and getattr(exc, "status_code", None) in (None, 500):
        network = _network_cause(exc)
    if network is not None:
        timeout = any("Timeout" in cls.__name__ for cls in type(network).__mro__)
        return FailureReport(type=NETWORK_ERROR_TYPE, code="timeout" if timeout else "connection_error",
                             message=f"network error ({type(exc).__name__}): {exc}", network=True,
                             source=_source(exc))
    return _status_error(exc)


def read_failure(failure: Any) -> FailureReport:
    """Whatever a caller reports as a failure: an exception, a response, or a mapping of ``fail`` fields.

    An exception no adapter knows is taken at its word (the caller says it is a provider error):
    its text is the message.
    """
    if isinstance(failure, BaseException):
        report = read_error(failure)
        return report if report is not None else FailureReport(message=str(failure) or type(failure).__name__,
                                                               source=_source(failure))
    if isinstance(failure, Mapping):
        known = {k: failure[k] for k in ("status", "headers", "body", "type", "code", "message") if k in failure}
        known["headers"] = _lower_headers(known.get("headers"))
        known["message"] = str(known.get("message") or "")
        return FailureReport(**known, source="mapping")
    report = read_response(failure)
    if report is None:
        raise TypeError(f"cannot read a failure from {type(failure).__name__}: give an exception, a response "
                        "with a status_code, or a mapping of fail fields")
    return report


def read_headers(response: Any) -> dict[str, str] | None:
    """The headers of a successful response, lower-cased, for :meth:`Engine.succeed`; ``None`` if it has none.

    Reads a mapping of headers, anything with ``headers`` (``httpx``/``requests`` responses, the
    ``with_raw_response`` results of ``openai``/``anthropic``), and ``litellm`` responses
    (``_hidden_params["additional_headers"]``, the provider's headers it documents there). A parsed
    SDK object (``ChatCompletion``, ``Message``) carries no headers: use ``with_raw_response`` to
    capture them.
    """
    if response is None:
        return None
    if isinstance(response, Mapping):
        return _lower_headers(response) or None
    headers = getattr(response, "headers", None)
    if headers is not None and not callable(headers):
        return _lower_headers(headers) or None
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, Mapping) and isinstance(hidden.get("additional_headers"), Mapping):
        out: dict[str, str] = {}
        for name, value in hidden["additional_headers"].items():
            key = str(name).lower()
            if key.startswith("llm_provider-"):
                out[key.removeprefix("llm_provider-")] = str(value)
            elif not key.startswith("x-litellm-"):
                out.setdefault(key, str(value))
        return out or None
    return None
