"""A generated policy of thousands of pools: the input of the runaway test and of ``benchmarks/bench_scale.py``.

The test only checks that every command goes through it without hanging; the benchmark measures the
same policy, so its figures are about what the test runs.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["FAMILIES", "PER_FAMILY", "write_large_policy"]

FAMILIES = ("anthropic", "openai-codex", "github-copilot", "google-gemini-cli")
#: Accounts per family (the base account and subscriptions 2 to 40): 160 accounts in all.
PER_FAMILY = 40


def write_large_policy(agent: Path, pools: int = 10_000) -> None:
    """``agent/multi-pass.yaml``: ``pools`` round-robin pools of two members each over 160 accounts of four
    families, 100 chains of 20 entries and 100 presets of 10; and an ``auth.json`` logging in every account."""
    lines = ["version: 1", "settings: {timezone: Europe/Vienna}", "subscriptions:"]
    lines += [f"- {{provider: {f}, index: {i}}}" for f in FAMILIES for i in range(2, PER_FAMILY + 1)]
    lines.append("pools:")
    for p in range(pools):
        family = FAMILIES[p % 4]
        first, second = 2 + (p // 4) % (PER_FAMILY - 1), 2 + (p // 4 + 1) % (PER_FAMILY - 1)
        lines.append(f"- {{name: p{p}, baseProvider: {family}, members: [{family}-{first}, {family}-{second}]}}")
    lines.append("chains:")
    for c in range(100):
        entries = ", ".join(f"{{pool: p{(c * 20 + j) % pools}, model: m{j}}}" for j in range(20))
        lines.append(f"- {{name: c{c}, entries: [{entries}]}}")
    lines.append("presets:")
    for c in range(100):
        entries = ", ".join(f"{{provider: {FAMILIES[j % 4]}-{2 + j}, model: m{j}}}" for j in range(10))
        lines.append(f"- {{name: s{c}, entries: [{entries}]}}")
    agent.mkdir(parents=True, exist_ok=True)
    (agent / "multi-pass.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    auth = {(f if i == 1 else f"{f}-{i}"): {"type": "api_key", "key": "k"} for f in FAMILIES
            for i in range(1, PER_FAMILY + 1)}
    (agent / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
