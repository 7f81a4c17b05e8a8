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
from pipelines.store import market
from pipelines.store.db import transaction, upsert
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


def read_minutes(
    db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Minute history of one symbol for [start, end), `ts`/`funding_timestamp` as datetime64 UTC."""
    frame = market.minute_frame(db, MINUTE, exchange, symbol, start, end)
    return frame.assign(
        ts=series_from_iso(frame["ts"]),
        funding_timestamp=series_from_iso(frame["funding_timestamp"]),
        stated_time=series_from_iso(frame["stated_time"]),
    ).astype({c: "float64" for c in (*_REC, "stated_rate") if c != "funding_timestamp"})


def read_funding(
    db: sqlite_utils.Database, exchange: str, symbol: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Settlements of one symbol with funding_time in [start, end), `funding_time` as datetime64 UTC."""
    frame = market.funding_frame(db, FUNDING, exchange, symbol, start, end)
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
    market.delete_funding_except(db, exchange, symbol, lo, hi, times.tolist())
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
    if not market.has_unkinded_funding(db, exchange, symbol, start, end):
        return 0
    with transaction(db):
        return rederive_funding(db, exchange, symbol, interval_hours, start, end)


def settlements(minutes: pd.DataFrame, exchange: str, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Settled funding for one exchange and symbol, columns `core.columns.FUNDING` (its venue's rule)."""
    return venue(exchange).settle(minutes, symbol, interval_hours)
