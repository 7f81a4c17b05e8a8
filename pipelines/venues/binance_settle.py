"""Binance USDT-M settlements from minute history (pure: DataFrame -> DataFrame).

Binance's markPrice stream carries `r`, the running estimate of the funding rate for the next
funding time `T`; the normalizer stores them as `funding_rate` and `funding_timestamp`. There is
no separate predicted field. The rule (`binance_settlements`):

- **rate**: the rate settled at T is `funding_rate` in the last minute before T whose funding
  timestamp is T (the last estimate published while T was ahead), if that minute lies within
  `MAX_GAP` of T: a gap before T gives no settlement. No minute after T is needed;
- **interval**: T minus the previous funding time T' the data shows, read where the feed rolls
  over from T' to T: the first minute showing T must lie within `MAX_GAP` of T', the last one
  showing T' within `MAX_INTERVAL` + `MAX_GAP` before T, and T - T' be at most `MAX_INTERVAL`.
  Without that rollover in the data (a gap around T', the first minute of a backfill), only a T
  first shown within `MAX_GAP` after T - 8 h has a known interval (8 h: no other whole-hour
  interval up to 8 h fits); otherwise no settlement is stored: an interval is never guessed;
- **predicted rate**: the estimate the period opened with, `funding_rate` in that first minute
  showing T (a forecast one whole interval ahead, what a position opened at T' saw).

So a settlement at T reads only minutes within [T - MAX_INTERVAL - MAX_GAP, T): the loader's
reach for the venue's usual 8 h interval covers them, whatever interval is configured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.columns import BINANCE, FUNDING
from pipelines.load.settlement import MAX_GAP, _empty, with_evidence
from pipelines.units import apr

MAX_INTERVAL = pd.Timedelta(hours=8)  # Binance's longest funding interval (others: 4 h, 1 h)


def binance_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Binance settlements of one symbol's minutes (`ts`, `funding_timestamp`, `funding_rate`).

    `interval_hours` (the configured one) is not used: each settlement's interval comes from the
    data, stored per row with its APR."""
    rows = minutes.dropna(subset=["funding_timestamp", "funding_rate"]).sort_values("ts", kind="stable")
    if rows.empty:
        return _empty()
    ts = _ns(rows["ts"])
    shown = _ns(rows["funding_timestamp"])
    rates = rows["funding_rate"].to_numpy(dtype=float)
    found = _settle_all(ts, shown, rates)
    if not found:
        return _empty()
    frame = pd.DataFrame(found, columns=["funding_time", "rate", "predicted_rate", "interval_hours"])
    frame = frame.assign(
        funding_time=pd.to_datetime(frame["funding_time"], utc=True),
        exchange=BINANCE,
        symbol=symbol,
        apr=lambda f: apr(f["rate"], f["interval_hours"]),
    )
    return with_evidence(frame, "estimate").loc[:, list(FUNDING)].reset_index(drop=True)


def _settle_all(ts: np.ndarray, shown: np.ndarray, rates: np.ndarray) -> list[tuple]:
    """One settlement per funding time shown whose rate and interval the rows decide."""
    found = []
    for due in np.unique(shown).tolist():
        ahead = np.flatnonzero((shown == due) & (ts < due))
        if not len(ahead) or ts[ahead[-1]] < due - MAX_GAP.value:
            continue  # no estimate within MAX_GAP before T: a gap never passes off a stale rate
        opened = _opening(ts, shown, int(np.flatnonzero(shown == due)[0]))
        if opened is not None:
            hours, start = opened
            found.append((pd.Timestamp(due, tz="UTC"), float(rates[ahead[-1]]), float(rates[start]), hours))
    return found


def _opening(ts: np.ndarray, shown: np.ndarray, start: int) -> tuple[float, int] | None:
    """(interval hours, row) of the rollover into the funding time first shown at row `start`, or None.

    The row before shows the previous funding time T', and must lie within MAX_INTERVAL + MAX_GAP
    before T. The first row showing T must lie within MAX_GAP of T' (so no funding time between
    them was missed: Binance's shortest interval is an hour), and T - T' within (0, MAX_INTERVAL].
    Without such a row before (the first minute of a backfill), T shown within MAX_GAP after
    T - MAX_INTERVAL can only follow a funding time at T - MAX_INTERVAL: T' is at or before that
    minute, and intervals are whole hours up to MAX_INTERVAL."""
    gap, due = MAX_GAP.value, shown[start]
    if start > 0:
        previous = shown[start - 1]
        spacing = due - previous
        near = abs(ts[start] - previous) <= gap  # the first minute of T's period is near T'
        if 0 < spacing <= MAX_INTERVAL.value and near and ts[start - 1] >= due - MAX_INTERVAL.value - gap:
            return spacing / 3.6e12, start
    if due - MAX_INTERVAL.value <= ts[start] <= due - MAX_INTERVAL.value + gap:
        return MAX_INTERVAL.value / 3.6e12, start
    return None


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 UTC -> int64 nanoseconds since the epoch."""
    return np.asarray((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)
