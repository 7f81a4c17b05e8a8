"""okex-swap settlement rule: which rate OKX settles at each funding time T, and what was predicted.

The V5 `funding-rate` channel sends, for each swap, `fundingTime` (the next settlement T, always
ahead), `fundingRate` (the rate of the period ending at T: fixed for the period in OKX's old
`next_period` method, updated until T in its `current_period` method) and `nextFundingRate` (the
forecast of the period after T; `""` once OKX stopped sending it). tardis-node maps them to
`funding_timestamp`, `funding_rate` and `predicted_funding_rate`. So:

- the rate settled at T is the last `funding_rate` of the minutes still showing `funding_timestamp
  == T`, within `MAX_GAP` before T (after T the row already shows the next period: its rate is not
  the one paid at T);
- the prediction of T is the last `predicted_funding_rate` seen while the funding time was the one
  before T (T_prev), within `MAX_GAP` before T_prev: the forecast made one period ahead;
- the interval of T is T - T_prev, where T_prev is the funding time the minutes show just before
  they roll over to T (the rollover seen within `MAX_GAP`); without that, the next rollover's
  (T_next - T); without either, the configured interval. It can change from one settlement to the
  next (OKX moves coins between 8 h and 4 h funding), and is stored per row.

Rows whose funding time is not ahead of them are left out: the v3 `swap/funding_rate` table (before
2021-12-23) gives the funding time of the period already running, which this rule does not read.
Every minute used for T lies within [T - interval - MAX_GAP - 1 min, T + MAX_GAP + 1 min], inside
the loader's `evidence_reach` for intervals up to the configured 8 h.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.columns import FUNDING, OKX
from pipelines.load.settlement import MAX_GAP, _empty, with_evidence
from pipelines.units import apr

_MINUTE = pd.Timedelta(minutes=1)
_REACH = MAX_GAP + _MINUTE  # farthest a deciding minute row may lie from its funding time (or T_prev)


def okx_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """OKX settlements from one symbol's minute rows (`ts`, `funding_timestamp`, `funding_rate`,
    `predicted_funding_rate`); `interval_hours` is used only where the data shows no rollover."""
    rows = minutes.dropna(subset=["funding_timestamp"]).sort_values("ts")
    rows = rows.loc[rows["ts"] < rows["funding_timestamp"]]
    if rows.empty:
        return _empty()
    spans = _spans(rows)
    # Settled only once the minutes reach T (the last minute before it), as for Gate.
    spans = spans.loc[spans.index <= rows["ts"].iloc[-1] + _MINUTE]
    settled = _last_in_reach(rows, "funding_rate", spans.index)
    spans = spans.assign(rate=settled.to_numpy()).dropna(subset=["rate"])
    if spans.empty:
        return _empty()
    hours = _intervals(_spans(rows), interval_hours).reindex(spans.index)
    previous = pd.DatetimeIndex(spans.index - pd.to_timedelta(hours, unit="h"))
    predicted = _last_in_reach(rows, "predicted_funding_rate", previous)
    out = pd.DataFrame(
        {
            "exchange": OKX,
            "symbol": symbol,
            "funding_time": spans.index,
            "rate": spans["rate"].to_numpy(dtype=float),
            "predicted_rate": predicted.to_numpy(dtype=float),
            "interval_hours": hours.to_numpy(dtype=float),
        }
    )
    out = with_evidence(out.assign(apr=apr(out["rate"], out["interval_hours"])), "forecast")
    return out.loc[:, list(FUNDING)]


def _spans(rows: pd.DataFrame) -> pd.DataFrame:
    """Per funding time shown (index, ascending): the first and last minute showing it."""
    return rows.groupby("funding_timestamp")["ts"].agg(first="min", last="max").sort_index()


def _last_in_reach(rows: pd.DataFrame, column: str, times: pd.DatetimeIndex) -> pd.Series:
    """Per funding time T: the last non-null `column` of the minutes showing funding time T, if that
    minute lies within [T - MAX_GAP - 1 min, T) (NaN otherwise, and for a T the data never shows)."""
    valued = rows.dropna(subset=[column])
    last = valued.groupby("funding_timestamp").tail(1).set_index("funding_timestamp")
    found = last.reindex(times)
    near = found["ts"] >= found.index - _REACH
    return found[column].where(near).reset_index(drop=True)


def _intervals(spans: pd.DataFrame, configured: float) -> pd.Series:
    """Interval hours of each funding time: from the rollover into it, else the one out of it, else
    the configured one. A rollover counts when the minutes show it without a gap above MAX_GAP."""
    times = spans.index.to_series()
    hours = (times - times.shift(1)) / pd.Timedelta(hours=1)
    seen_in = (spans["first"] - spans["last"].shift(1)) <= _REACH
    after = (times.shift(-1) - times) / pd.Timedelta(hours=1)
    seen_out = (spans["first"].shift(-1) - spans["last"]) <= _REACH
    return pd.Series(
        np.where(seen_in, hours, np.where(seen_out, after, float(configured))), index=spans.index, dtype=float
    )
