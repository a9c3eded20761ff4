"""Re-export: the SDK error adapters live in :mod:`policy_engine.engine.sdk_errors` (the documented path stays)."""

from __future__ import annotations

from policy_engine.engine.sdk_errors import (
    NETWORK_ERROR_TYPE,
    FailureReport,
    read_error,
    read_failure,
    read_headers,
    read_response,
)

__all__ = ["NETWORK_ERROR_TYPE", "FailureReport", "read_error", "read_failure", "read_headers", "read_response"]
