"""Bybit's settlement rule (the shared machinery is `pipelines.load.settlement`).

Bybit states the next funding time (`nextFundingTime`, `next_funding_time` before V5) and the rate
for it (`fundingRate`): before T the minutes carry `funding_timestamp == T`, and at T the feed rolls
on to the next funding time. So:

- the rate settled at T is the `funding_rate` of the last minute before T that still shows
  `funding_timestamp == T`, within `MAX_GAP` (+ the minute itself) of T, and only when the data
  reaches T;
- the interval of that settlement is T minus the previous funding time the data shows (the largest
  funding timestamp below T among the minutes within the reach before T). Where the data does not
  show one (the first period of the loaded history), the spacing to the next funding time is used,
  else the usual interval; loading the day before re-derives it with the real one;
- `predicted_rate` is the forecast of that settlement. Before V5 the feed also sent
  `predicted_funding_rate_e6`, the forecast of the period after the running one (the running rate
  was fixed for its period), so the forecast of T is the last predicted rate before T - interval.
  V5 sends no predicted rate: the rate it shows for T is its running estimate, and the forecast is
  the rate it showed when the period opened (the first minute showing T, within `MAX_GAP` of the
  previous funding time), or none when the data does not show the opening.

Only minutes within [T - reach, T + MAX_GAP + 1 min] decide T (reach: `evidence_reach`, 8 h 31 min
at the usual 8 h interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.columns import BYBIT, FUNDING
from pipelines.load.settlement import MAX_GAP, _empty, _last_before, evidence_reach, with_evidence
from pipelines.units import apr

_MINUTE = pd.Timedelta(minutes=1)
_HOUR = pd.Timedelta(hours=1)


def bybit_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Bybit settlements from one symbol's minute rows (`ts`, `funding_timestamp`, rates); the interval
    of each comes from the data (`interval_hours` is the usual one, the fallback)."""
    rows = minutes.dropna(subset=["funding_timestamp"]).sort_values("ts", kind="stable")
    rows = rows.loc[:, ["ts", "funding_timestamp", "funding_rate", "predicted_funding_rate"]]
    if rows.empty:
        return _empty()
    settled = _last_rates(rows)
    if settled.empty:
        return _empty()
    reach = evidence_reach(interval_hours)
    times = settled["funding_time"]
    previous = _previous_times(rows, times, reach)
    following = _next_times(rows, times)
    usual = pd.Series(pd.Timedelta(hours=interval_hours), index=times.index)
    spacing = (times - previous).fillna(following - times).fillna(usual)
    predicted = _predicted(rows, settled, previous, spacing)
    hours = spacing / _HOUR
    frame = pd.DataFrame(
        {
            "exchange": BYBIT,
            "symbol": symbol,
            "funding_time": times,
            "rate": settled["funding_rate"],
            "predicted_rate": predicted,
            "interval_hours": hours.astype(float),
            "apr": apr(settled["funding_rate"], hours.astype(float)),
        }
    )
    # Before V5 the feed sent a forecast of the next period; V5 sends the running rate only.
    kind = settled["predicted_funding_rate"].notna().map({True: "forecast", False: "estimate"})
    return with_evidence(frame, kind.to_numpy()).loc[:, list(FUNDING)].reset_index(drop=True)


def _last_rates(rows: pd.DataFrame) -> pd.DataFrame:
    """Per funding time T the data reaches, the last rated minute before T showing T, if close to T
    (`funding_time`, `ts`, `funding_rate`, `predicted_funding_rate`)."""
    before = rows.loc[(rows["ts"] < rows["funding_timestamp"]) & rows["funding_rate"].notna()]
    last = before.groupby("funding_timestamp", sort=True).tail(1)
    close = last["ts"] >= last["funding_timestamp"] - MAX_GAP - _MINUTE
    reached = last["funding_timestamp"] <= rows["ts"].iloc[-1] + _MINUTE
    found = last.loc[close & reached]
    return found.rename(columns={"funding_timestamp": "funding_time"}).reset_index(drop=True)


def _previous_times(rows: pd.DataFrame, times: pd.Series, reach: pd.Timedelta) -> pd.Series:
    """Per T, the largest funding timestamp below T shown by a minute within `reach` before T (NaT
    when none)."""
    shown = rows.groupby("funding_timestamp", sort=True)["ts"].max()  # last minute showing each time
    funding, last_seen = _ns(shown.index.to_series()), _ns(shown)
    due, earliest = _ns(times), _ns(times - reach)
    at = np.searchsorted(funding, due, side="left") - 1
    ok = (at >= 0) & (last_seen[np.maximum(at, 0)] >= earliest)
    values = pd.Series(shown.index[np.maximum(at, 0)], index=times.index)
    return values.where(ok)


def _next_times(rows: pd.DataFrame, times: pd.Series) -> pd.Series:
    """Per T, the funding timestamp the first minute at or after T shows, within MAX_GAP of T."""
    found = pd.merge_asof(
        pd.DataFrame({"ts": times.to_numpy()}),
        rows.loc[:, ["ts", "funding_timestamp"]],
        on="ts",
        direction="forward",
        tolerance=MAX_GAP,
    )["funding_timestamp"]
    found.index = times.index
    return found.where(found > times)


def _predicted(
    rows: pd.DataFrame, settled: pd.DataFrame, previous: pd.Series, spacing: pd.Series
) -> pd.Series:
    """The forecast of each settlement: pre-V5, the last predicted rate one period before T; V5, the
    rate shown when the period opened."""
    times = settled["funding_time"]
    old_era = settled["predicted_funding_rate"].notna()
    early = _last_before(rows, pd.DatetimeIndex(times - spacing - _MINUTE), "predicted_funding_rate")
    early.index = times.index
    showing = rows.loc[rows["funding_rate"].notna()].groupby("funding_timestamp", sort=True).head(1)
    opened = showing.set_index("funding_timestamp")
    first_ts = times.map(opened["ts"])
    first_rate = times.map(opened["funding_rate"])
    known_open = first_ts.notna() & previous.notna() & (first_ts <= previous + MAX_GAP)
    return early.where(old_era, first_rate.where(known_open)).astype(float)


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 UTC -> int64 nanoseconds since the epoch."""
    return np.asarray((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)
