"""An agent turn with the OpenAI SDK and mp-policy failover, against any OpenAI-compatible base URL.

Each account of the policy is one API key: ``<ACCOUNT>_API_KEY`` in the environment, the account
name upper-cased with ``-`` as ``_`` (``openai-codex-2`` → ``OPENAI_CODEX_2_API_KEY``); accounts
without a key count as logged out. ``<ACCOUNT>_BASE_URL`` overrides ``--base-url`` per account.
The SDK's own retries are off (``max_retries=0``): the policy decides where a retry goes.

    python examples/openai_failover.py --base-url http://127.0.0.1:8765/v1 "Say hello"

Exit status: 0 with an answer, 1 when no account is left (it says when to retry) or a provider
error does not rotate, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import openai

from policy_engine import AttemptsExhausted, Engine


def account_env(account: str, suffix: str) -> str:
    """The environment variable of one account's setting: ``openai-codex-2`` → ``OPENAI_CODEX_2_<suffix>``."""
    return f"{account.upper().replace('-', '_')}_{suffix}"


def main(argv: list[str] | None = None) -> int:
    """Run one turn of the chain and print the answer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt", help="what to ask")
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"))
    parser.add_argument("--policy", default=str(Path(__file__).with_name("openai-failover.yaml")))
    parser.add_argument("--chain", default="main")
    parser.add_argument("--state", default=None, help="state store URL (default: mp-policy's SQLite file)")
    args = parser.parse_args(argv)

    keys = {name[: -len("_API_KEY")].lower().replace("_", "-"): value for name, value in os.environ.items()
            if name.endswith("_API_KEY") and value}  # OPENAI_CODEX_2_API_KEY → openai-codex-2
    engine = Engine.load(policy=args.policy, state=args.state, search_project=False, auth=set(keys))
    clients = {a: openai.OpenAI(api_key=key, base_url=os.environ.get(account_env(a, "BASE_URL"), args.base_url),
                                max_retries=0) for a, key in keys.items()}
    messages = [{"role": "user", "content": args.prompt}]

    try:
        for attempt in engine.attempts(chain=args.chain, prompt=args.prompt):
            with attempt:
                reply = clients[attempt.provider].chat.completions.create(model=attempt.model, messages=messages)
            if attempt.error:  # the failure was reported and rotated: say where the policy goes next
                print(f"{attempt.provider} ({attempt.model}): {attempt.error.kind}, cooling down until "
                      f"{attempt.error.cooldown_until:%H:%M:%S}", file=sys.stderr)
    except AttemptsExhausted as exc:
        print(f"no account left: {exc}", file=sys.stderr)
        return 1
    except openai.APIError as exc:  # not a rotation kind (a bad request, a 401, a network error)
        print(f"{attempt.provider} failed and the policy does not rotate on it: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    print(f"[{attempt.provider} {attempt.model}] {reply.choices[0].message.content}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
