"""Market data: `tickers` (minute rows), `funding` (settlements) and `extracted` (days loaded).

Reads take an exchange, a symbol and a time range (datetimes, compared as the store's ISO text) and
return plain rows or frames; the stages convert and compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlite_utils

from pipelines.core.timeutil import to_iso
from pipelines.store.db import frame

Leg = tuple[str, str]  # (exchange, symbol)


def _symbol_frame(
    db: sqlite_utils.Database,
    table: str,
    columns: Sequence[str],
    time_column: str,
    leg: Leg,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    return frame(
        db,
        f"SELECT {', '.join(columns)} FROM {table} WHERE exchange = ? AND symbol = ?"
        f" AND {time_column} >= ? AND {time_column} < ? ORDER BY {time_column}",
        (*leg, to_iso(start), to_iso(end)),
    )


def minute_frame(
    db: sqlite_utils.Database,
    columns: Sequence[str],
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """`columns` of one symbol's `tickers` rows with start <= ts < end, oldest first, as stored."""
    return _symbol_frame(db, "tickers", columns, "ts", (exchange, symbol), start, end)


def funding_frame(
    db: sqlite_utils.Database,
    columns: Sequence[str],
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """`columns` of one symbol's settlements with start <= funding_time < end, oldest first, as stored."""
    return _symbol_frame(db, "funding", columns, "funding_time", (exchange, symbol), start, end)


def mark_rows(db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime) -> list:
    """(ts, mark_price, index_price) of one symbol's minutes with start <= ts < end, oldest first."""
    return db.execute(
        "SELECT ts, mark_price, index_price FROM tickers"
        " WHERE exchange = ? AND symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
        (exchange, symbol, to_iso(start), to_iso(end)),
    ).fetchall()


def marks_together(
    db: sqlite_utils.Database, a: Leg, b: Leg, before: datetime, since: datetime
) -> tuple | None:
    """(a's mark, b's mark) of the last minute in [since, before) in which both legs have one, or None."""
    return db.execute(
        "SELECT a.mark_price, b.mark_price FROM tickers a JOIN tickers b"
        " ON b.exchange = ? AND b.symbol = ? AND b.ts = a.ts AND b.mark_price IS NOT NULL"
        " WHERE a.exchange = ? AND a.symbol = ? AND a.ts < ? AND a.ts >= ? AND a.mark_price IS NOT NULL"
        " ORDER BY a.ts DESC LIMIT 1",
        (*b, *a, to_iso(before), to_iso(since)),
    ).fetchone()


def count_minutes(db: sqlite_utils.Database, legs: Sequence[Leg], start: datetime, end: datetime) -> int:
    """Stored minute rows of these (exchange, symbol) pairs with start <= ts < end."""
    return sum(
        db.execute(
            "SELECT COUNT(*) FROM tickers WHERE exchange = ? AND symbol = ? AND ts >= ? AND ts < ?",
            (exchange, symbol, to_iso(start), to_iso(end)),
        ).fetchone()[0]
        for exchange, symbol in legs
    )


def delete_funding_except(
    db: sqlite_utils.Database, exchange: str, symbol: str, lo: datetime, hi: datetime, keep: Sequence[str]
) -> None:
    """Delete one symbol's settlements with lo < funding_time <= hi except those at `keep` (ISO)."""
    db.execute(
        "DELETE FROM funding WHERE exchange = ? AND symbol = ? AND funding_time > ? AND funding_time <= ?"
        f" AND funding_time NOT IN ({','.join('?' * len(keep))})",
        [exchange, symbol, to_iso(lo), to_iso(hi), *keep],
    )


def has_unkinded_funding(
    db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime
) -> bool:
    """Whether a settlement in [start, end) lacks `predicted_kind` (stored before schema step 7)."""
    row = db.execute(
        "SELECT 1 FROM funding WHERE exchange = ? AND symbol = ? AND funding_time >= ?"
        " AND funding_time < ? AND predicted_kind IS NULL LIMIT 1",
        (exchange, symbol, to_iso(start), to_iso(end)),
    ).fetchone()
    return row is not None


def has_funding_from(db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime) -> bool:
    """Whether one symbol has a settlement stored at or after `start`."""
    return (
        db.execute(
            "SELECT 1 FROM funding WHERE exchange = ? AND symbol = ? AND funding_time >= ? LIMIT 1",
            (exchange, symbol, to_iso(start)),
        ).fetchone()
        is not None
    )


def last_funding(db: sqlite_utils.Database, exchange: str, symbol: str) -> tuple[str, float | None] | None:
    """(funding_time, interval_hours) of one symbol's latest stored settlement, or None."""
    row = db.execute(
        "SELECT funding_time, interval_hours FROM funding WHERE exchange = ? AND symbol = ?"
        " ORDER BY funding_time DESC LIMIT 1",
        (exchange, symbol),
    ).fetchone()
    return tuple(row) if row else None


def extracted_days(db: sqlite_utils.Database, exchange: str, symbols: Sequence[str]) -> set[str]:
    """Days already loaded for every one of `symbols` on `exchange`."""
    if not symbols:
        return set()
    marks = ",".join("?" * len(symbols))
    rows = db.execute(
        f"SELECT day FROM extracted WHERE exchange = ? AND symbol IN ({marks}) GROUP BY day"
        " HAVING COUNT(DISTINCT symbol) = ?",
        [exchange, *symbols, len(symbols)],
    ).fetchall()
    return {r[0] for r in rows}
