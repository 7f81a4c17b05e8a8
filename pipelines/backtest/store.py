"""The backtest's reads (windows, settlements, marks, verdicts) and writes (`backtests`,
`backtest_trades`). A run is keyed by a hash of what decides its result, so a rerun is an upsert."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import orjson
import pandas as pd
import sqlite_utils

from pipelines.config.pairs import Pair
from pipelines.core.columns import SIDES
from pipelines.core.timeutil import series_from_iso, series_to_iso, to_iso
from pipelines.load.minutes import read_funding
from pipelines.store import backtests
from pipelines.store.market import marks_together
from pipelines.store.verdicts import latest_verdicts
from pipelines.store.windows import pair_windows

# A mark older than this before an entry or exit is stale: the trade gets no spread P&L. Both legs'
# marks come from one minute (the latest in which both have one) within this span.
MARK_STALE = timedelta(hours=1)


def run_key(pair: Pair, start: datetime, end: datetime, rules_text: str, costs) -> str:
    """sha256 (first 16 hex) of the pair's legs, the range, the rules, notional, fees and slippage."""
    legs = [f"{leg.exchange}:{leg.symbol}" for leg in pair.legs]
    fields = [
        pair.name,
        legs,
        to_iso(start),
        to_iso(end),
        rules_text,
        costs.notional,
        costs.fee_a,
        costs.fee_b,
    ]
    return hashlib.sha256(orjson.dumps(fields + [costs.slippage_bps])).hexdigest()[:16]


WINDOW_INPUTS = ("window_end", "net_carry_apr", "long_side", "short_side", "flagged", "complete")


def read_windows(db: sqlite_utils.Database, pair: str, start: datetime, end: datetime) -> pd.DataFrame:
    """What the rules read of `pair`'s windows ending in (start, end], oldest first (window_end as
    datetime64 UTC, flagged as bool): only these columns, so a year of windows reads fast."""
    rows = pair_windows(db, pair, WINDOW_INPUTS, start, end)
    frame = pd.DataFrame(rows, columns=list(WINDOW_INPUTS))
    return frame.assign(
        window_end=series_from_iso(frame["window_end"]),
        net_carry_apr=frame["net_carry_apr"].astype(float),
        flagged=frame["flagged"].fillna(0).astype(bool),
        complete=frame["complete"].fillna(0).astype(bool),
    )


def read_inputs(db: sqlite_utils.Database, pair: Pair, start: datetime, end: datetime) -> tuple:
    """(windows ending in (start, end], per side its settlements with start < funding_time <= end)."""
    windows = read_windows(db, pair.name, start, end)
    second = timedelta(seconds=1)
    funding = {
        side: read_funding(db, leg.exchange, leg.symbol, start + second, end + second)
        for side, leg in zip(SIDES, pair.legs, strict=True)
    }
    return windows, funding


def read_open_arb(db: sqlite_utils.Database, pair: str, model: str, start: datetime, end: datetime) -> set:
    """Window ends (ISO) in (start, end] whose latest verdict from `model` says OPEN_ARB."""
    latest = latest_verdicts(db, to_iso(start), to_iso(end), pair=pair, model=model)
    return set(latest["window_end"][latest["action"] == "OPEN_ARB"])


def _marks_before(db: sqlite_utils.Database, pair: Pair, time: pd.Timestamp) -> tuple[float, float]:
    # The last minute before `time` in which both legs have a mark (its last mark is the price at
    # the window's close): both legs priced at one instant, never up to MARK_STALE apart.
    (ex_a, sym_a), (ex_b, sym_b) = ((leg.exchange, leg.symbol) for leg in pair.legs)
    row = marks_together(db, (ex_a, sym_a), (ex_b, sym_b), time, time - MARK_STALE)
    return (float(row[0]), float(row[1])) if row else (float("nan"), float("nan"))


def read_marks(db: sqlite_utils.Database, pair: Pair, trades: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per side, `entry_mark` and `exit_mark` of every trade, both legs' from the same minute (the
    last before the close, within MARK_STALE); NaN where no such minute is stored."""
    marks = {kind: [_marks_before(db, pair, t) for t in trades[f"{kind}_time"]] for kind in ("entry", "exit")}
    return {
        side: pd.DataFrame(
            {f"{kind}_mark": [m[i] for m in marks[kind]] for kind in ("entry", "exit")}, dtype=float
        )
        for i, side in enumerate(SIDES)
    }


def write_run(
    db: sqlite_utils.Database, run: dict, trades: pd.DataFrame, replaces: str | None = None
) -> None:
    """Upsert the run and replace its trades, in one transaction (a rerun writes the same rows);
    the run keyed `replaces` (another key for the same command) is deleted with its trades."""
    rows = trades.assign(
        backtest_id=run["id"],
        trade=range(len(trades)),
        entry_time=series_to_iso(trades["entry_time"]),
        exit_time=series_to_iso(trades["exit_time"]),
    )
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    backtests.write_run(db, run, records, replaces)
