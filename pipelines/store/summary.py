"""Read-only queries behind the demo's summary: what landed in each table, as small frames.

They span every stage's tables (minutes, settlements, windows, verdicts), so they live together
here rather than in one stage; numbers are rounded and scaled for reading (%, bps), not for use.
"""

from __future__ import annotations

import pandas as pd
import sqlite_utils

from pipelines.store.db import frame


def range_covered(db: sqlite_utils.Database) -> pd.DataFrame:
    """First and last minute, and minute rows, of every (exchange, symbol) in `tickers`."""
    return frame(
        db,
        "SELECT exchange, symbol, MIN(ts) AS first_minute, MAX(ts) AS last_minute,"
        " COUNT(*) AS minutes FROM tickers GROUP BY exchange, symbol ORDER BY symbol",
    )


def recent_settlements(db: sqlite_utils.Database, limit: int = 8) -> pd.DataFrame:
    """The settlements of the last 8 hours of `funding` (at least the latest), rates in %, newest first."""
    return frame(
        db,
        "SELECT exchange, symbol, funding_time, ROUND(rate * 100, 4) AS rate_pct,"
        " ROUND(predicted_rate * 100, 4) AS predicted_pct, ROUND(apr * 100, 2) AS apr_pct"
        " FROM funding WHERE funding_time >="
        " (SELECT datetime(MAX(funding_time), '-8 hours') FROM funding) || 'Z'"
        " OR funding_time = (SELECT MAX(funding_time) FROM funding)"
        " ORDER BY funding_time DESC, symbol LIMIT ?",
        [limit],
    )


def latest_windows(db: sqlite_utils.Database, limit: int = 6) -> pd.DataFrame:
    """The latest windows' funding diff (bps), net carry (APR %), spread and basis (bps), flags."""
    return frame(
        db,
        "SELECT pair, window_end, ROUND(funding_diff * 1e4, 2) AS diff_bps,"
        " ROUND(net_carry_apr * 100, 1) AS net_carry_apr_pct,"
        " ROUND(mark_spread_mean_bps, 2) AS spread_bps,"
        " ROUND(b_basis_mean_bps, 2) AS b_basis_bps, complete, flagged FROM windows"
        " ORDER BY window_end DESC, pair LIMIT ?",
        [limit],
    )


def flagged_windows(db: sqlite_utils.Database, limit: int = 8) -> pd.DataFrame:
    """The latest flagged windows with their verdict, if any; `reasons` is the stored JSON list."""
    return frame(
        db,
        "SELECT w.pair, w.window_end, v.risk, v.action, v.model, w.reasons FROM windows w"
        " LEFT JOIN verdicts v USING (pair, window_end) WHERE w.flagged = 1"
        " ORDER BY w.window_end DESC LIMIT ?",
        [limit],
    )


def flagged_count(db: sqlite_utils.Database) -> int:
    """How many windows are flagged in all."""
    return db.execute("SELECT COUNT(*) FROM windows WHERE flagged = 1").fetchone()[0]


def verdict_tally(db: sqlite_utils.Database) -> pd.DataFrame:
    """Verdicts counted by model, risk and action, most common first."""
    return frame(
        db,
        "SELECT model, risk, action, COUNT(*) AS windows FROM verdicts"
        " GROUP BY model, risk, action ORDER BY windows DESC",
    )
