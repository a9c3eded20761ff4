"""``mp-policy serve``: the engine as a long-running process for agents in any language (DESIGN §5.1).

One JSON object per line each way, over stdin/stdout (``--stdio``) or a Unix socket
(``--socket PATH``); lines are read with :mod:`policy_engine.common.line_framing` (1 MiB a line). Modules:

* :mod:`~policy_engine.serve.protocol` — requests, answers, error codes, argument checks;
* :mod:`~policy_engine.serve.engines` — one engine per project overlay on one store, reload on change;
* :mod:`~policy_engine.serve.history` — what ``explain`` answers;
* :mod:`~policy_engine.serve.server` — the ops;
* :mod:`~policy_engine.serve.transport` — stdio and socket loops, signals.
"""

from policy_engine.serve.protocol import ERROR_CODES, OPS, PROTOCOL

__all__ = ["ERROR_CODES", "OPS", "PROTOCOL"]
