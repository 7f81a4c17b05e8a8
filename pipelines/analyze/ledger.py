"""The LLM ledger: every gateway call in `llm_calls`, windows without a verdict in `llm_failures`.

Cost of a call = prompt tokens x input price + completion tokens x output price, per million, from
`llm.prices[model]`. A failed HTTP attempt (429, 5xx, timeout, reset, 401) is billed 0: the gateway
returns no usage for it. The daily budget sums `cost_usd` over the UTC day of the call (per tier
when tiers have a `budget_share`). When the gateway reports its own cost in `usage`, it is kept
beside ours in `gateway_cost_usd`; the budget stays on configured prices, known before a call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlite_utils

from pipelines.analyze.client import Attempt, ChatResult
from pipelines.config.settings import LLM
from pipelines.core.errors import ConfigError
from pipelines.core.timeutil import day_start, to_iso
from pipelines.store import ledger

# Completion tokens one verdict takes (JSON keys, enums, 2-3 sentence rationale, alert line).
COMPLETION_TOKENS_PER_WINDOW = 110


def call_cost(llm: LLM, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD cost of a call to `model`, from the prices in config."""
    price = llm.prices.get(model)
    if price is None:
        raise ConfigError(f"llm.prices: model {model!r} has no price")
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def spent_on_day(db: sqlite_utils.Database, when: datetime, tiers: Sequence[int] | None = None) -> float:
    """USD recorded in `llm_calls` on the UTC day holding `when` (only `tiers`' calls when given;
    a call from before tiers counts as tier 1's)."""
    start = day_start(when)
    return ledger.spent_between(db, to_iso(start), to_iso(start + timedelta(days=1)), tiers)


def calls_on_day(db: sqlite_utils.Database, when: datetime) -> tuple[float, int]:
    """(USD spent, calls made) recorded in `llm_calls` on the UTC day holding `when`."""
    start = day_start(when)
    return ledger.spent_and_calls_between(db, to_iso(start), to_iso(start + timedelta(days=1)))


def record_attempts(
    db: sqlite_utils.Database, base: dict, attempts: Sequence[Attempt], status: str = "error"
) -> None:
    """One ledger row per failed HTTP attempt, billed 0."""
    for attempt in attempts:
        record_unbilled(db, base, status, attempt.error, attempt.latency_ms)


def record_unbilled(
    db: sqlite_utils.Database, base: dict, status: str, error: str | None, latency_ms: float = 0.0
) -> None:
    """A ledger row for a call that cost nothing: a failed attempt, or a batch skipped unsent."""
    ledger.insert_call(
        db,
        {
            **base,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "latency_ms": latency_ms,
            "status": status,
            "error": error,
            "usage_estimated": 0,
        },
    )


def record_result(
    db: sqlite_utils.Database, llm: LLM, base: dict, result: ChatResult, status: str, error: str | None
) -> float:
    """The ledger row of a call that got a completion; returns its cost."""
    cost = call_cost(llm, base["model"], result.prompt_tokens, result.completion_tokens)
    ledger.insert_call(
        db,
        {
            **base,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "cost_usd": cost,
            "latency_ms": result.latency_ms,
            "status": status,
            "error": error,
            "usage_estimated": int(result.usage_missing),
            "gateway_cost_usd": result.gateway_cost,
        },
    )
    return cost


def call_base(ts: datetime, run_id: str, model: str, ids: Sequence[str], tier: int | None = None) -> dict:
    """Columns shared by every ledger row of one request (its `tier` when given)."""
    base = {
        "ts": to_iso(ts),
        "run_id": run_id,
        "model": model,
        "batch_size": len(ids),
        "window_ids": json.dumps(list(ids)),
    }
    return base if tier is None else base | {"tier": tier}


def record_failures(
    db: sqlite_utils.Database,
    failures: dict[tuple[str, str], str],
    prompt_version: str,
    run_id: str,
    model: str,
    ts: datetime,
    tier: int = 1,
) -> None:
    """Windows `(pair, window_end)` that got no verdict from `tier` in this run, with the reason."""
    rows = [
        {
            "pair": pair,
            "window_end": end,
            "prompt_version": prompt_version,
            "run_id": run_id,
            "model": model,
            "reason": reason[:500],
            "ts": to_iso(ts),
            "tier": tier,
        }
        for (pair, end), reason in failures.items()
    ]
    ledger.upsert_failures(db, rows)
