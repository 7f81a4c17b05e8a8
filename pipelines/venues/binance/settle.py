"""Binance USDT-M settlements from minute history (pure: DataFrame -> DataFrame).

Binance's markPrice stream carries `r`, the running estimate of the funding rate for the next
funding time `T`; the normalizer stores them as `funding_rate` and `funding_timestamp`. The rule,
its eras and its sources are in README.md here. In short, the minutes are cut into runs
showing one T each (a minute at or after the T it shows is a late feed and is ignored), and each
run ends in one of two ways:

- **T passed**: the next run starts at or after T. T is a settlement if the run's last minute lies
  within `MAX_GAP` before T; its **rate** is `funding_rate` there (the last estimate while T was
  ahead) and its **predicted rate** the run's first one (what the period opened with).
- **T abandoned**: the next run starts before T (Binance moved the symbol to another interval in
  the middle of a period, or a stale T shown for a few minutes after a switch was corrected).
  No settlement: a T no minute reached is not a funding time.

The **interval** of a settlement at T is T minus the previous settlement T' (on Binance the rate
at T pays for the period since T', whatever schedule was announced in between: LPTUSDT's first
4 h settlement, 2023-08-13 12:00, paid for 08:00-12:00). T' is known only where the data passes
it cleanly: the next run starts within `MAX_GAP` after T' and no other whole hour could hide in
the gap. At the first minute of the data, T shown within `MAX_GAP` after T - 8 h can only follow
T - 8 h (no longer interval). Otherwise no settlement is stored. Where T changed inside a gap in
which a funding time could hide, the interval is stored as a hint with a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr
from pipelines.venues.binance.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, with_evidence

MAX_INTERVAL = pd.Timedelta(hours=8)  # Binance's longest funding interval (others: 4 h, 2 h, 1 h)
_HOUR, _MINUTE, _GAP = 3_600_000_000_000, 60_000_000_000, MAX_GAP.value


def binance_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Binance settlements of one symbol's minutes (`ts`, `funding_timestamp`, `funding_rate`).

    `interval_hours` (the configured one) is not used: each settlement's interval comes from the
    data, stored per row with its APR."""
    rows = minutes.dropna(subset=["funding_timestamp", "funding_rate"]).sort_values("ts", kind="stable")
    ts, shown = _ns(rows["ts"]), _ns(rows["funding_timestamp"])
    ahead = ts < shown  # a minute at or after the T it shows is a late feed: it decides nothing
    found = _settle_all(ts[ahead], shown[ahead], rows["funding_rate"].to_numpy(dtype=float)[ahead])
    if not found:
        return _empty()
    columns = ["funding_time", "rate", "predicted_rate", "interval_hours", "gap"]
    frame = pd.DataFrame(found, columns=columns)
    frame = frame.assign(
        funding_time=pd.to_datetime(frame["funding_time"], utc=True),
        exchange=EXCHANGE,
        symbol=symbol,
        apr=lambda f: apr(f["rate"], f["interval_hours"]),
    )
    doubt = frame["gap"].notna()
    warning = [
        _warning(symbol, row) if bad else None for row, bad in zip(frame.itertuples(), doubt, strict=True)
    ]
    evidence = np.where(doubt, "hint", "data")
    out = with_evidence(frame, "estimate", evidence=evidence, warning=pd.Series(warning, dtype=object))
    return out.loc[:, list(FUNDING)].reset_index(drop=True)


def _settle_all(ts: np.ndarray, shown: np.ndarray, rates: np.ndarray) -> list[tuple]:
    """(T, rate, predicted rate, interval hours, doubtful gap or None) of each settlement decided."""
    if not len(ts):
        return []
    cuts = np.flatnonzero(np.diff(shown) != 0) + 1
    firsts, lasts = np.r_[0, cuts], np.r_[cuts, len(ts)] - 1
    anchor, doubt = _start_anchor(ts[0], shown[0]), None
    found = []
    for k, (first, last) in enumerate(zip(firsts.tolist(), lasts.tolist(), strict=True)):
        due, before = int(shown[first]), int(ts[last])
        after = int(ts[firsts[k + 1]]) if k + 1 < len(firsts) else None
        if after is not None and after < due:  # abandoned before T: Binance changed the schedule
            if _hidden_hours(before, after, allowed=None):
                doubt = doubt or (before, after)  # a funding time could have come and gone unseen
            continue
        hours = None if anchor is None else (due - anchor) / _HOUR
        if before >= due - _GAP and hours is not None and 0 < hours <= MAX_INTERVAL.value / _HOUR:
            found.append((pd.Timestamp(due, tz="UTC"), float(rates[last]), float(rates[first]), hours, doubt))
        clean = after is None or (after - due <= _GAP and not _hidden_hours(before, after, allowed=due))
        anchor, doubt = (due, None) if clean else (None, None)
    return found


def _start_anchor(first_ts: int, due: int) -> int | None:
    """The settlement before the data's first minute, where that minute decides it.

    T shown within MAX_GAP after T - 8 h: the previous settlement T' lies in [T - 8 h, that minute]
    (no interval exceeds 8 h) and is a whole hour, so it is T - 8 h."""
    start = due - MAX_INTERVAL.value
    return start if start <= first_ts <= start + _GAP else None


def _hidden_hours(before: int, after: int, allowed: int | None) -> bool:
    """Whether a whole hour other than `allowed` lies in (before + 1 min, after]: a funding time
    there would be shown only by minutes missing from the data (a minute row holds its last value,
    so one at `before` shows a funding time due at `before` + 1 min)."""
    hour = ((before + _MINUTE) // _HOUR + 1) * _HOUR
    while hour <= after:
        if hour != allowed:
            return True
        hour += _HOUR
    return False


def _warning(symbol: str, row) -> str:
    """A trader's note on a settlement whose interval rests on a gap in the data."""
    start, end = (pd.Timestamp(t, tz="UTC") for t in row.gap)
    return (
        f"Binance {symbol} {row.funding_time:%Y-%m-%d %H:%M}: the funding time changed inside a data gap "
        f"{start:%H:%M}-{end:%H:%M}; interval {row.interval_hours:g} h assumed (none seen in the gap)"
    )


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 UTC -> int64 nanoseconds since the epoch."""
    return np.asarray((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)
