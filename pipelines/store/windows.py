"""The `windows` table: pair windows as the transform stores them, read by analyze, research, report.

Ranges are window ends in (start, end] (a window ending at a settlement belongs to it); datetimes
are compared as the store's ISO text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlite_utils

from pipelines.core.timeutil import to_iso
from pipelines.store.db import frame, table_between


def pair_windows(
    db: sqlite_utils.Database,
    pair: str,
    columns: Sequence[str],
    start: datetime,
    end: datetime,
    flagged_only: bool = False,
) -> list[tuple]:
    """`columns` of `pair`'s windows ending in (start, end] (only flagged ones when asked), oldest first."""
    sql = (
        f"SELECT {', '.join(columns)} FROM windows"
        " WHERE pair = ? AND window_end > ? AND window_end <= ?"
        + (" AND flagged = 1" if flagged_only else "")
        + " ORDER BY window_end"
    )
    return db.execute(sql, (pair, to_iso(start), to_iso(end))).fetchall()


def flagged_frame(db: sqlite_utils.Database, start: str, end: str, pairs: Sequence[str] = ()) -> pd.DataFrame:
    """Every column of the flagged windows ending in (start, end] (ISO), of `pairs` when given,
    oldest first."""
    sql = "SELECT * FROM windows WHERE flagged = 1 AND window_end > ? AND window_end <= ?"
    params: list = [start, end]
    if pairs:
        sql += f" AND pair IN ({', '.join('?' * len(pairs))})"
        params += list(pairs)
    return frame(db, sql + " ORDER BY window_end, pair", params)


def windows_between(db: sqlite_utils.Database, start: str, end: str) -> pd.DataFrame:
    """Every column of every window ending in (start, end] (ISO)."""
    return table_between(db, "windows", "window_end", start, end, closed_right=True)


def earlier_windows(db: sqlite_utils.Database, pair: str, before: str, limit: int) -> list[dict]:
    """`pair`'s `limit` windows ending before `before` (ISO), every column, newest first."""
    rows = db.execute(
        "SELECT * FROM windows WHERE pair = ? AND window_end < ? ORDER BY window_end DESC LIMIT ?",
        [pair, before, limit],
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, values, strict=True)) for values in rows.fetchall()]


def feature_hashes(db: sqlite_utils.Database, first: str, last: str) -> list[tuple[str, str, str]]:
    """(pair, window_end, features_hash) of every window with first <= window_end <= last (ISO)."""
    return db.execute(
        "SELECT pair, window_end, features_hash FROM windows WHERE window_end >= ? AND window_end <= ?",
        [first, last],
    ).fetchall()


def last_window_end(db: sqlite_utils.Database, pair: str, start: datetime, end: datetime) -> str | None:
    """The latest end (ISO) of `pair`'s windows ending in (start, end], or None."""
    row = db.execute(
        "SELECT max(window_end) FROM windows WHERE pair = ? AND window_end > ? AND window_end <= ?",
        (pair, to_iso(start), to_iso(end)),
    ).fetchone()
    return row[0] if row and row[0] else None


def has_window_after(db: sqlite_utils.Database, pair: str, end: datetime) -> bool:
    """Whether `pair` has a window ending after `end`."""
    row = db.execute("SELECT 1 FROM windows WHERE pair = ? AND window_end > ? LIMIT 1", (pair, to_iso(end)))
    return row.fetchone() is not None
