"""The LLM ledger: `llm_calls` (every gateway call, billed or not) and `llm_failures` (windows a
tier gave no verdict on). Days are [start, end) ISO ranges of the call's `ts`."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlite_utils

from pipelines.store.db import table_between, upsert


def spent_between(
    db: sqlite_utils.Database, start: str, end: str, tiers: Sequence[int] | None = None
) -> float:
    """USD recorded in `llm_calls` with start <= ts < end (only `tiers`' calls when given; a call
    from before tiers counts as tier 1's)."""
    sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE ts >= ? AND ts < ?"
    params: list = [start, end]
    if tiers is not None:
        sql += f" AND COALESCE(tier, 1) IN ({', '.join('?' * len(tiers))})"
        params += list(tiers)
    return float(db.execute(sql, params).fetchone()[0])


def spent_and_calls_between(db: sqlite_utils.Database, start: str, end: str) -> tuple[float, int]:
    """(USD spent, calls made) recorded in `llm_calls` with start <= ts < end."""
    spent, calls = db.execute(
        "SELECT COALESCE(SUM(cost_usd), 0), COUNT(*) FROM llm_calls WHERE ts >= ? AND ts < ?", [start, end]
    ).fetchone()
    return spent, calls


def insert_call(db: sqlite_utils.Database, row: dict) -> None:
    """Append one `llm_calls` row (its id is assigned by SQLite)."""
    db["llm_calls"].insert(row)


def upsert_failures(db: sqlite_utils.Database, rows: list[dict]) -> None:
    """Record `llm_failures` rows (one per window, prompt version and run)."""
    if rows:
        upsert(db, "llm_failures", rows)


def calls_between(db: sqlite_utils.Database, start: str, end: str) -> pd.DataFrame:
    """Every column of the `llm_calls` rows with start <= ts < end."""
    return table_between(db, "llm_calls", "ts", start, end)


def call_costs(db: sqlite_utils.Database) -> list[tuple]:
    """(model, window_ids JSON, cost_usd, status, tier (NULL as 1)) of every call."""
    sql = "SELECT model, window_ids, cost_usd, status, coalesce(tier, 1) FROM llm_calls"
    return db.execute(sql).fetchall()


def ok_totals(db: sqlite_utils.Database) -> tuple[int, int | None, float | None]:
    """(calls, prompt tokens, USD) of the calls with status ok."""
    return db.execute(
        "SELECT COUNT(*), SUM(prompt_tokens), SUM(cost_usd) FROM llm_calls WHERE status = 'ok'"
    ).fetchone()


def ok_by_tier(db: sqlite_utils.Database) -> list[tuple[int, float, int]]:
    """(tier (NULL as 1), USD, windows sent) of the calls with status ok, per tier."""
    return db.execute(
        "SELECT COALESCE(tier, 1), SUM(cost_usd), SUM(batch_size) FROM llm_calls WHERE status = 'ok'"
        " GROUP BY 1"
    ).fetchall()
