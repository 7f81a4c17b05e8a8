"""The store's tables: columns with SQLite types, natural primary keys, not-null columns, indexes.

All tables are created up front with explicit primary keys (natural keys) so every write is an
idempotent upsert. Timestamps are ISO 8601 UTC text (see `pipelines.core.timeutil`). docs/schema.md
is generated from SCHEMA (`make docs`; tests/docs/test_schema.py fails when it drifts). A schema
change needs a step in `pipelines.store.migrations` too (schema version in `PRAGMA user_version`).
"""

from __future__ import annotations

from pipelines.store.schema_backtests import BACKTEST_TRADES, BACKTESTS
from pipelines.store.schema_windows import WINDOWS

# name -> (columns with SQLite types, primary key, not-null columns)
SCHEMA: dict[str, tuple[dict[str, type], tuple[str, ...], set[str]]] = {
    "tickers": (
        {
            "exchange": str,
            "symbol": str,
            "ts": str,  # minute, UTC
            "mark_price": float,
            "index_price": float,
            "last_price": float,
            "funding_rate": float,
            "predicted_funding_rate": float,
            "funding_timestamp": str,
            "open_interest": float,
            "stated_rate": float,  # a settled rate the feed states in this minute (OKX settFundingRate)
            "stated_time": str,  # the funding time it was settled at (OKX prevFundingTime)
        },
        ("exchange", "symbol", "ts"),
        {"exchange", "symbol", "ts"},
    ),
    "funding": (
        {
            "exchange": str,
            "symbol": str,
            "funding_time": str,
            "rate": float,  # settled rate, fraction per period
            "predicted_rate": float,  # last predicted rate before settlement
            "interval_hours": float,
            "apr": float,  # rate * 8760 / interval_hours, fraction
            "stated_rate": float,  # the settled rate as the venue's feed states it, where it does
            "predicted_kind": str,  # settled | estimate | forecast (pipelines.core.columns.PREDICTED_KINDS)
            "evidence": str,  # data | stated | hint (pipelines.core.columns.EVIDENCE)
            "warning": str,  # ambiguous evidence, or evidence against the configuration
        },
        ("exchange", "symbol", "funding_time"),
        {"exchange", "symbol", "funding_time", "rate", "interval_hours", "apr"},
    ),
    "extracted": (
        {
            "exchange": str,
            "symbol": str,
            "day": str,  # YYYY-MM-DD
            "source": str,  # replay | datasets
            "messages": int,
            "rows": int,  # minute rows loaded
            "loaded_at": str,
        },
        ("exchange", "symbol", "day"),
        {"exchange", "symbol", "day", "source"},
    ),
    "windows": WINDOWS,
    "verdicts": (
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "risk": str,  # LOW | MEDIUM | HIGH
            "action": str,  # HOLD | WATCH | OPEN_ARB
            "confidence": float,  # 0..1
            "rationale": str,
            "alert": str,
            "model": str,  # gateway model id, or "rules"
            "tier": int,  # the tier whose verdict this is (the last that gave one)
            "models": str,  # JSON list: the model of every tier that judged the window, in order
            "feature_hash": str,
            "run_id": str,
            "created_at": str,
        },
        ("pair", "window_end", "prompt_version"),
        {"pair", "window_end", "prompt_version", "risk", "action", "confidence", "model", "feature_hash"},
    ),
    "verdict_tiers": (  # every tier's verdict on a window; `verdicts` holds the last tier's
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "tier": int,  # 1 = triage (every flagged window), 2.. = escalations
            "model": str,
            "risk": str,
            "action": str,
            "confidence": float,
            "rationale": str,
            "alert": str,
            "feature_hash": str,
            "run_id": str,
            "created_at": str,
        },
        ("pair", "window_end", "prompt_version", "tier"),
        {"pair", "window_end", "prompt_version", "tier", "model", "risk", "action", "confidence"}
        | {"feature_hash"},
    ),
    "llm_calls": (
        {
            "id": int,
            "ts": str,
            "run_id": str,
            "model": str,
            "batch_size": int,
            "window_ids": str,  # JSON list of "PAIR@window_end"
            "prompt_tokens": int,
            "completion_tokens": int,
            "cost_usd": float,
            "latency_ms": float,
            "status": str,  # ok | invalid | error | skipped
            "error": str,
            "usage_estimated": int,  # 1 when the reply had no usage and tokens were estimated
            "tier": int,  # the analyzer tier the call was made for (NULL before tiers: tier 1)
            "gateway_cost_usd": float,  # the cost the gateway reported in `usage`, NULL when none
        },
        ("id",),
        {"ts", "model", "batch_size", "status"},
    ),
    "llm_failures": (
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "run_id": str,
            "model": str,
            "reason": str,  # invalid verdict, gateway error, or "budget: ..." when skipped
            "ts": str,
            "tier": int,  # the tier that gave no verdict (NULL before tiers: tier 1)
        },
        ("pair", "window_end", "prompt_version", "run_id"),
        {"pair", "window_end", "prompt_version", "run_id", "reason", "ts"},
    ),
    "runs": (
        {
            "run_id": str,
            "job": str,  # funding_cycle | backfill | analyze | cost_report ...
            "pair": str,  # display text: the pair, or a range run's pairs comma-joined (see run_pairs)
            "window_start": str,
            "window_end": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | done | failed | pending | interrupted (found dead by a later run)
            "counts": str,  # JSON object
            "error": str,
            "pid": int,  # process that ran it, with `host`: tells a killed run from a live one
            "host": str,
        },
        ("run_id",),
        {"run_id", "job", "started_at", "status"},
    ),
    "run_pairs": (  # the pairs a run covers, one row each (runs.pair is their display text)
        {"run_id": str, "pair": str},
        ("run_id", "pair"),
        {"run_id", "pair"},
    ),
    "reports": (
        {
            "id": int,
            "created_at": str,
            "report_date": str,
            "period_start": str,
            "period_end": str,
            "subject": str,
            "status": str,  # pending (being delivered) | sent | outboxed
            "recipients": str,
            "eml_path": str,
            "sent_at": str,
            "error": str,
            "message_id": str,  # set once at composition; a message is sent at most once
            "attempts": int,  # SMTP attempts so far
            "cost_usd": float,  # LLM cost of the report day, USD
        },
        ("id",),
        {"created_at", "report_date", "status"},
    ),
    "backtests": BACKTESTS,  # one run of `arbdb backtest`
    "backtest_trades": BACKTEST_TRADES,
}

INDEXES = {
    "tickers": [("ts",)],
    "funding": [("funding_time",)],
    "llm_calls": [("ts",), ("run_id",)],
    "runs": [("job", "window_end")],
    "run_pairs": [("pair",)],
}
