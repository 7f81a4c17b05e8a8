"""Load: minute rows and derived settlements into SQLite, one transaction per unit of work.

A unit (an exchange-day of a backfill, or a scheduled window) writes its minute rows, re-derives the
settlements its minutes can affect, and marks itself done, all in one transaction: a crash leaves
either all of it or none of it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlite_utils

from pipelines.core.columns import DERIVATIVE_TICKER, FUNDING, MINUTE
from pipelines.core.timeutil import ISO_FORMAT, series_from_iso, series_to_iso, to_iso, utcnow
from pipelines.extract.replay import Extracted
from pipelines.store import transaction, upsert
from pipelines.venues.registry import venue
from pipelines.venues.settle_base import evidence_reach

_US = 1_000_000
# Column positions of a derivative_ticker record (pipelines.core.columns.DERIVATIVE_TICKER).
_REC = {
    "funding_timestamp": 4,
    "funding_rate": 5,
    "predicted_funding_rate": 6,
    "open_interest": 7,
    "last_price": 8,
    "index_price": 9,
    "mark_price": 10,
}


def _iso_us(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us // _US, tz=UTC).strftime(ISO_FORMAT)


def minute_dicts(extracted: Extracted) -> list[dict]:
    """`tickers` rows of an extract: one per symbol and minute, the minute's last values."""
    rows = []
    for symbol, minute, rec in extracted.rows:
        row = {"exchange": extracted.exchange, "symbol": symbol, "ts": _iso_us(minute * 60 * _US)}
        for column, i in _REC.items():
            row[column] = rec[i]
        row["funding_timestamp"] = _iso_us(rec[4])
        stated = len(rec) > len(DERIVATIVE_TICKER)  # records of a venue stating settled funding
        row["stated_rate"] = rec[len(DERIVATIVE_TICKER)] if stated else None
        row["stated_time"] = _iso_us(rec[len(DERIVATIVE_TICKER) + 1]) if stated else None
        rows.append(row)
    return rows


def _read_symbol(
    db: sqlite_utils.Database,
    table: str,
    columns: tuple[str, ...],
    time_column: str,
    exchange: str,
    symbol: str,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Rows of one exchange and symbol with `time_column` in [start, end), oldest first."""
    return pd.read_sql_query(
        f"SELECT {', '.join(columns)} FROM {table} WHERE exchange = ? AND symbol = ?"
        f" AND {time_column} >= ? AND {time_column} < ? ORDER BY {time_column}",
        db.conn,
        params=(exchange, symbol, to_iso(start), to_iso(end)),
    )


def read_minutes(
    db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Minute history of one symbol for [start, end), `ts`/`funding_timestamp` as datetime64 UTC."""
    frame = _read_symbol(db, "tickers", MINUTE, "ts", exchange, symbol, start, end)
    return frame.assign(
        ts=series_from_iso(frame["ts"]),
        funding_timestamp=series_from_iso(frame["funding_timestamp"]),
        stated_time=series_from_iso(frame["stated_time"]),
    ).astype({c: "float64" for c in (*_REC, "stated_rate") if c != "funding_timestamp"})


def read_funding(
    db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Settlements of one symbol with funding_time in [start, end), `funding_time` as datetime64 UTC."""
    frame = _read_symbol(db, "funding", FUNDING, "funding_time", exchange, symbol, start, end)
    return frame.assign(funding_time=series_from_iso(frame["funding_time"]))


def rederive_funding(
    db: sqlite_utils.Database,
    exchange: str,
    symbol: str,
    interval_hours: float,
    start: datetime,
    end: datetime,
) -> int:
    """Re-derive settlements whose evidence lies in [start, end) from stored minutes; returns rows."""
    # Minutes in [start, end) decide settlements up to `reach` away (Gate's old-era forecast lies one
    # interval before T), and those settlements need minutes up to `reach` beyond them.
    # Every venue derives its funding times and intervals from the data (Gate's configured interval
    # is only a hint), so its minutes can reach one *usual* interval back even when a shorter one is
    # configured (Binance, Gate: 8 h).
    usual = venue(exchange).interval_hours
    reach = evidence_reach(max(interval_hours, usual)).to_pytimedelta()
    minutes = read_minutes(db, exchange, symbol, start - 2 * reach, end + 2 * reach)
    found = settlements(minutes, exchange, symbol, interval_hours)
    lo, hi = start - reach, end + reach
    found = found[(found["funding_time"] > lo) & (found["funding_time"] <= hi)]
    # Every minute deciding a settlement in (lo, hi] was read, so a stored one the minutes no longer
    # give (derived earlier from less evidence) goes: any order of loads ends with the same rows.
    times = series_to_iso(found["funding_time"])
    db.execute(
        "DELETE FROM funding WHERE exchange = ? AND symbol = ? AND funding_time > ? AND funding_time <= ?"
        f" AND funding_time NOT IN ({','.join('?' * len(times))})",
        [exchange, symbol, to_iso(lo), to_iso(hi), *times],
    )
    if found.empty:
        return 0
    upsert(db, "funding", found.assign(funding_time=times).to_dict("records"))
    return len(found)


def load_extracted(
    db: sqlite_utils.Database, extracted: Extracted, intervals: dict[str, float], day: str | None = None
) -> dict:
    """Write one extract atomically: minute rows, affected settlements, and (for a day) its marker.

    `intervals` maps each requested symbol to its funding interval hours. With `day` set, every
    requested symbol is marked extracted for that day, so a resumed backfill skips it.
    """
    with transaction(db):
        upsert(db, "tickers", minute_dicts(extracted))
        settled = sum(
            rederive_funding(db, extracted.exchange, symbol, hours, extracted.start, extracted.end)
            for symbol, hours in intervals.items()
        )
        if day is not None:
            upsert(
                db,
                "extracted",
                [
                    {
                        "exchange": extracted.exchange,
                        "symbol": symbol,
                        "day": day,
                        "source": extracted.source,
                        "messages": extracted.messages,
                        "rows": extracted.symbols.get(symbol, 0),
                        "loaded_at": to_iso(utcnow()),
                    }
                    for symbol in intervals
                ],
            )
    return {
        "messages": extracted.messages,
        "malformed": extracted.malformed,
        "minutes": len(extracted.rows),
        "settlements": settled,
    }


def rederive_older(
    db: sqlite_utils.Database,
    exchange: str,
    symbol: str,
    interval_hours: float,
    start: datetime,
    end: datetime,
) -> int:
    """Re-derive, from stored minutes, the settlements in [start, end) that an older rule stored (no
    `predicted_kind`: before schema step 7), so an upgraded database gets today's rules without
    fetching its days again. Returns the settlements written (0 when none was older)."""
    older = db.execute(
        "SELECT 1 FROM funding WHERE exchange = ? AND symbol = ? AND funding_time >= ? AND funding_time < ?"
        " AND predicted_kind IS NULL LIMIT 1",
        (exchange, symbol, to_iso(start), to_iso(end)),
    ).fetchone()
    if older is None:
        return 0
    with transaction(db):
        return rederive_funding(db, exchange, symbol, interval_hours, start, end)


def extracted_days(db: sqlite_utils.Database, exchange: str, symbols: list[str]) -> set[str]:
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


def count_minutes(
    db: sqlite_utils.Database, symbols: list[tuple[str, str]], start: datetime, end: datetime
) -> int:
    """Stored minute rows of these (exchange, symbol) pairs with start <= ts < end."""
    return sum(
        db.execute(
            "SELECT COUNT(*) FROM tickers WHERE exchange = ? AND symbol = ? AND ts >= ? AND ts < ?",
            (exchange, symbol, to_iso(start), to_iso(end)),
        ).fetchone()[0]
        for exchange, symbol in symbols
    )


def settlements(minutes: pd.DataFrame, exchange: str, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Settled funding for one exchange and symbol, columns `core.columns.FUNDING` (its venue's rule)."""
    return venue(exchange).settle(minutes, symbol, interval_hours)
