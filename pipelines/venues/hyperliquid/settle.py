"""Hyperliquid's settlement rule (the shared machinery is `pipelines.venues.settle_base`).

Hyperliquid pays funding every hour on the hour. `ctx.funding` of `activeAssetCtx` is the running
hourly rate: the premium is sampled every few seconds and averaged over the hour, plus the interest
clamp, so the value shown converges during the hour to the one paid at its end. The data gives no
funding time, so the funding times are the whole multiples of `interval_hours` (1) from 00:00 UTC.

* The rate settled at T is the last `funding_rate` seen before T (in the minute rows up to T - 1 min,
  within `MAX_GAP`): the running rate of the period that T closes. A gap of more than 30 minutes
  before T gives no settlement at T rather than a stale rate.
* `predicted_rate` is the forecast of T that the feed showed when T's period opened: the first
  `funding_rate` of the minute rows in [T - interval, T - interval + MAX_GAP]. The feed carries no
  separate predicted field (tardis-node leaves it empty), and the last value before T is the settled
  rate itself, so the one-period-ahead view is the forecast worth scoring. Without minutes then,
  `predicted_rate` is empty.
"""

from __future__ import annotations

import pandas as pd

from pipelines.venues.hyperliquid.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, _finish, _last_before


def hyperliquid_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Hyperliquid settlements from one symbol's minute rows (`ts`, `funding_rate`), one per funding
    time T (every `interval_hours` from 00:00 UTC) that the minutes before T reach."""
    rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
    if rated.empty:
        return _empty()
    period = pd.Timedelta(hours=interval_hours)
    times = _funding_times(rated["ts"].iloc[0], rated["ts"].iloc[-1], period)
    if times.empty:
        return _empty()
    settled = _last_before(rated, times - pd.Timedelta(minutes=1), "funding_rate").to_numpy()
    opened = _first_after(rated, times - period).to_numpy()
    frame = pd.DataFrame({"funding_time": times, "rate": settled, "predicted_rate": opened})
    return _finish(frame.dropna(subset=["rate"]), EXCHANGE, symbol, interval_hours)


def _funding_times(first: pd.Timestamp, last: pd.Timestamp, period: pd.Timedelta) -> pd.DatetimeIndex:
    """Funding times after the first minute row, up to one minute after the last one."""
    end = last + pd.Timedelta(minutes=1)
    times = pd.date_range(first.floor("D"), end, freq=period, tz="UTC")
    return times[(times > first) & (times <= end)]


def _first_after(rated: pd.DataFrame, probes: pd.DatetimeIndex) -> pd.Series:
    """Per probe, the first `funding_rate` at or after it within MAX_GAP (NaN when none)."""
    values = rated.loc[:, ["ts", "funding_rate"]].rename(columns={"ts": "probe"})
    found = pd.merge_asof(
        pd.DataFrame({"probe": probes}), values, on="probe", direction="forward", tolerance=MAX_GAP
    )
    return found["funding_rate"]
