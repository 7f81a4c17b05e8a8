"""Bitfinex's settlement rule (`bitfinex_settlements`; the rule, its evidence and eras: README.md here;
the shared machinery is `pipelines.venues.settle_base`): Bitfinex reports the next funding time
(NEXT_FUNDING_EVT). Before T, rows carry `funding_timestamp == T` and the accrual toward T in
`predicted_funding_rate` (NEXT_FUNDING_ACCRUED, reset to 0 at each funding time). The rate paid at
T is `funding_rate` (CURRENT_FUNDING) in the first row in [T, T + MAX_GAP] whose funding timestamp
has moved past T: rows at T can still show the old period when the rollover lags. Which event
CURRENT_FUNDING pays is documented by no public source; the docs page weighs the evidence.
The interval comes from the data: T - T_prev where the rollover at T_prev announced T, else the
next period the rollover at T announced; where it disagrees with the configured interval the data
wins and the settlement carries a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr
from pipelines.venues.bitfinex.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, with_evidence


def bitfinex_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Bitfinex settlements from one symbol's minute rows (`ts`, `funding_timestamp`, rates), one per
    funding time the rows roll past within MAX_GAP (README.md here)."""
    rows = minutes.dropna(subset=["funding_timestamp"]).sort_values("ts")
    if rows.empty:
        return _empty()
    times = rows["funding_timestamp"].drop_duplicates()
    times = times[times <= rows["ts"].iloc[-1]]
    if times.empty:
        return _empty()
    settled = _rolled_rates(rows, times.sort_values())
    if settled.empty:
        return _empty()
    predicted = (
        rows.dropna(subset=["predicted_funding_rate"])
        .loc[lambda f: f["ts"] < f["funding_timestamp"]]
        .groupby("funding_timestamp")["predicted_funding_rate"]
        .last()
    )
    hours = _interval_hours(rows, settled)
    frame = pd.DataFrame(
        {
            "funding_time": settled["funding_time"],
            "rate": settled["funding_rate"],
            "predicted_rate": settled["funding_time"].map(predicted),
            "interval_hours": hours,
            "exchange": EXCHANGE,
            "symbol": symbol,
            "apr": apr(settled["funding_rate"], hours),
            "warning": _warnings(symbol, settled["funding_time"], hours, float(interval_hours)),
        }
    )
    # NEXT_FUNDING_ACCRUED is the running accrual of the period T closes (README.md here).
    return with_evidence(frame, "estimate").loc[:, list(FUNDING)].reset_index(drop=True)


def _interval_hours(rows: pd.DataFrame, settled: pd.DataFrame) -> pd.Series:
    """Per settlement at T, the length in hours of the period T closes: T - T_prev when the rows hold
    the rollover into T (the row before the first one showing T shows T_prev, and the first one
    showing T lies within MAX_GAP of T_prev), else the period the rollover at T announced."""
    shown = rows["funding_timestamp"].reset_index(drop=True)
    ts = rows["ts"].reset_index(drop=True)
    first = shown.drop_duplicates()  # first row showing each funding time, in time order
    before = shown.shift(1).loc[first.index]
    opened = (before < first) & (ts.loc[first.index] <= before + MAX_GAP)
    previous = pd.Series(before.where(opened).to_numpy(), index=first.to_numpy())
    times, rolled_to = settled["funding_time"], settled["rolled_to"]
    prev = pd.to_datetime(times.map(previous), utc=True)
    length = (times - prev).where(prev.notna(), rolled_to - times)
    return length / pd.Timedelta(hours=1)


def _warnings(symbol: str, times: pd.Series, hours: pd.Series, configured: float) -> pd.Series:
    """A trader's warning where the data's interval disagrees with the configured one (else None)."""
    said = f"h in the data, {configured:g} h configured"
    text = [
        None if h == configured else f"Bitfinex {symbol} {t:%Y-%m-%d %H:%M}: interval {h:g} {said}"
        for t, h in zip(times, hours, strict=True)
    ]
    return pd.Series(text, index=times.index, dtype=object)


def _rolled_rates(rows: pd.DataFrame, times: pd.Series) -> pd.DataFrame:
    """Per funding time T, `funding_rate` of the first row in [T, T + MAX_GAP] whose funding timestamp
    has moved past T, and the timestamp it moved to; times without such a row are left out
    (`funding_time`, `funding_rate`, `rolled_to`)."""
    rated = rows.loc[rows["funding_rate"].notna()]
    ts, rolled_to, due = _ns(rated["ts"]), _ns(rated["funding_timestamp"]), _ns(times)
    rates = rated["funding_rate"].to_numpy(dtype=float)
    lo = np.searchsorted(ts, due, side="left")
    hi = np.searchsorted(ts, due + MAX_GAP.value, side="right")
    # A few funding times a day, at most 31 minute rows each: a plain loop stays cheap.
    first = np.asarray(
        [
            next((i for i in range(i0, i1) if rolled_to[i] > t), -1)
            for i0, i1, t in zip(lo, hi, due, strict=True)
        ],
        dtype=np.int64,
    )
    ok = first >= 0
    return pd.DataFrame(
        {
            "funding_time": times.reset_index(drop=True).loc[ok].reset_index(drop=True),
            "funding_rate": pd.Series(rates[first[ok]], dtype=float),
            "rolled_to": pd.to_datetime(rolled_to[first[ok]], utc=True),
        }
    )


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 UTC -> int64 nanoseconds since the epoch."""
    return np.asarray((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)
