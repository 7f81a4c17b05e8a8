"""Verdicts: `verdicts` (each window's last tier's verdict) and `verdict_tiers` (every tier's).

The latest verdict of a window is one query (`pipelines.store.views.latest_verdicts_sql`), read here
by the report, the scorecard and the backtest, and by the `window_verdicts` view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import sqlite_utils

from pipelines.store.db import frame
from pipelines.store.schema import SCHEMA
from pipelines.store.views import latest_verdicts_sql

VERDICT_COLUMNS = tuple(SCHEMA["verdicts"][0])


def latest_verdicts(
    db: sqlite_utils.Database,
    start: str,
    end: str,
    pair: str | None = None,
    model: str | None = None,
    per_model: bool = False,
) -> pd.DataFrame:
    """The latest verdict of each window ending in (start, end] (ISO), of each window and model when
    `per_model`; only `pair`'s and `model`'s verdicts when given. Every `verdicts` column, ordered by
    window_end, pair, model."""
    where, params = " WHERE window_end > ? AND window_end <= ?", [start, end]
    for column, value in (("pair", pair), ("model", model)):
        if value is not None:
            where, params = f"{where} AND {column} = ?", [*params, value]
    columns = ", ".join(VERDICT_COLUMNS)
    sql = f"SELECT {columns} FROM ({latest_verdicts_sql(where, per_model)}) ORDER BY window_end, pair, model"
    return frame(db, sql, params)


def drop_stale(db: sqlite_utils.Database, windows: Iterable[tuple[str, str, str]]) -> None:
    """Delete the verdicts of windows (pair, window_end, features_hash) given other features."""
    db.conn.executemany(
        "DELETE FROM verdicts WHERE pair = ? AND window_end = ? AND feature_hash IS NOT ?", list(windows)
    )


def forget_later_tiers(db: sqlite_utils.Database, tier: int, records: Iterable[dict]) -> None:
    """Delete the `verdict_tiers` rows above `tier` of each record's window and prompt version that
    were given other features than the record's `feature_hash`."""
    db.conn.executemany(
        "DELETE FROM verdict_tiers WHERE pair = ? AND window_end = ? AND prompt_version = ? AND tier > ?"
        " AND feature_hash != ?",
        [(r["pair"], r["window_end"], r["prompt_version"], tier, r["feature_hash"]) for r in records],
    )


def tier_verdicts(
    db: sqlite_utils.Database, columns: Sequence[str], prompt_version: str, tier: int, first: str, last: str
) -> list[tuple]:
    """`columns` of tier `tier`'s stored verdicts for `prompt_version`, first <= window_end <= last."""
    return db.execute(
        f"SELECT {', '.join(columns)} FROM verdict_tiers WHERE prompt_version = ? AND tier = ?"
        " AND window_end >= ? AND window_end <= ?",
        [prompt_version, tier, first, last],
    ).fetchall()


def tier_judgements(db: sqlite_utils.Database, tier: int) -> list[tuple]:
    """(risk, action, confidence) of every stored verdict of tier `tier`."""
    return db.execute("SELECT risk, action, confidence FROM verdict_tiers WHERE tier = ?", [tier]).fetchall()


def current_tier_verdicts(db: sqlite_utils.Database, columns: Sequence[str], pair: str, start: str, end: str):
    """`columns` (of verdict_tiers) of `pair`'s tier verdicts on windows ending in (start, end] (ISO)
    that were given the window's current features."""
    return db.execute(
        f"SELECT {', '.join('t.' + c for c in columns)}"
        " FROM verdict_tiers t JOIN windows w ON w.pair = t.pair AND w.window_end = t.window_end"
        " AND w.features_hash = t.feature_hash"
        " WHERE t.pair = ? AND t.window_end > ? AND t.window_end <= ?",
        [pair, start, end],
    ).fetchall()
