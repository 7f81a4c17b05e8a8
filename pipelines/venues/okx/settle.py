"""okex-swap settlement rule: which funding times OKX settled, at which rate, over which interval.

The rule, its eras and its sources are in README.md here. In short, from one swap's minute rows
(`funding_timestamp` = V5 `fundingTime`, the next funding time T; `funding_rate` = `fundingRate`;
`predicted_funding_rate` = `nextFundingRate`; `stated_rate`/`stated_time` = `settFundingRate` at
`prevFundingTime` where the feed states them):

- T was settled when the minutes show T until within `MAX_GAP` before it; a funding time shown
  only for a while (a stale one after a switch, never settled) is not;
- the rate is the one OKX states for T (`evidence="stated"`), else the last `funding_rate` shown
  for T; where both exist and differ beyond rounding, the stated one is kept with a warning;
- the interval is T minus the `prevFundingTime` the last minute before T states; else T minus the
  settlement before it, when the minutes between them have no gap above `MAX_GAP`; else (a first
  day without history, a gap) it rests on bounds and the configured interval: `evidence="hint"`
  with a warning, unless only OKX's longest interval (8 h) fits what the minutes show;
- the prediction of T is the last `predicted_funding_rate` shown while the funding time was the
  one before T: OKX's `next_period` forecast (`predicted_kind="forecast"`).

Rows whose funding time is not ahead of them (the v3 `swap/funding_rate` table before 2021-12-23,
which gives the running period's time) are not read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr
from pipelines.venues.okx.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, with_evidence

_MINUTE = pd.Timedelta(minutes=1)
_REACH = MAX_GAP + _MINUTE  # farthest a deciding minute row may lie from its funding time (or T_prev)
_HOUR = pd.Timedelta(hours=1)
INTERVALS = (1, 2, 4, 6, 8)  # hours OKX funds at ("8 h, adjustable to 6, 4, 2 or 1 h")
# A stated and an inferred rate within this of each other agree (both are OKX's decimal strings).
RATE_TOLERANCE = 1e-10
_STATED = ("stated_rate", "stated_time")


def okx_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """OKX settlements (columns FUNDING) from one symbol's minute rows; `interval_hours` (the
    configured interval) is used only as a hint where the data cannot decide."""
    rows = _rows(minutes)
    if rows.empty:
        return _empty()
    spans = _spans(rows)
    spans = spans.loc[spans.index <= rows["ts"].iloc[-1] + _MINUTE]  # settled once the minutes reach T
    inferred = _last_in_reach(rows, "funding_rate", spans.index)
    times = pd.DatetimeIndex(spans.index[inferred.notna().to_numpy()])
    if times.empty:
        return _empty()
    inferred = inferred.dropna().to_numpy(dtype=float)
    stated = _stated_rates(rows).reindex(times).to_numpy(dtype=float)
    hours, kinds, notes = _intervals(rows, times, float(interval_hours))
    rate = np.where(np.isnan(stated), inferred, stated)
    evidence = np.where(kinds == "hint", "hint", np.where(np.isnan(stated), "data", "stated"))
    label = [f"OKX {symbol} {t:%Y-%m-%d %H:%M}" for t in times]
    warnings = [_join(label[i], notes[i], _rate_note(inferred[i], stated[i])) for i in range(len(times))]
    previous = pd.DatetimeIndex(times - pd.to_timedelta(hours, unit="h"))
    out = pd.DataFrame(
        {
            "exchange": EXCHANGE,
            "symbol": symbol,
            "funding_time": times,
            "rate": rate,
            "predicted_rate": _last_in_reach(rows, "predicted_funding_rate", previous).to_numpy(dtype=float),
            "interval_hours": hours,
            "apr": apr(pd.Series(rate), pd.Series(hours)).to_numpy(),
            "stated_rate": stated,
            "evidence": evidence.astype(object),
            "warning": pd.Series(warnings, dtype=object),
        }
    )
    return with_evidence(out, "forecast").loc[:, list(FUNDING)]


def _rows(minutes: pd.DataFrame) -> pd.DataFrame:
    """Minute rows showing a funding time ahead of them, oldest first, with the STATED columns."""
    missing = {c: pd.Series(np.nan, index=minutes.index, dtype=float) for c in _STATED if c not in minutes}
    rows = minutes.assign(**missing).dropna(subset=["funding_timestamp"]).sort_values("ts")
    return rows.loc[rows["ts"] < rows["funding_timestamp"]].reset_index(drop=True)


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


def _stated_rates(rows: pd.DataFrame) -> pd.Series:
    """The settled rate OKX states for each funding time (`stated_time`), the first statement seen."""
    stated = rows.dropna(subset=["stated_rate", "stated_time"])
    stated = stated.assign(stated_time=pd.to_datetime(stated["stated_time"], utc=True))
    return stated.groupby("stated_time")["stated_rate"].first()


def _intervals(rows: pd.DataFrame, times: pd.DatetimeIndex, configured: float):
    """Per settlement: interval hours, what decided it ("stated", "data" or "hint"), and a note."""
    ts = rows["ts"].dt.as_unit("ns").astype("int64").to_numpy()  # ns since the epoch
    stated_prev = _stated_previous(rows, times)
    hours, kinds, notes = np.full(len(times), np.nan), np.full(len(times), "data", dtype=object), []
    for i, t in enumerate(times):
        prev = times[i - 1] if i and _continuous(ts, times[i - 1], t) else None
        seen = (t - prev) / _HOUR if prev is not None else np.nan
        said = (t - stated_prev[i]) / _HOUR if pd.notna(stated_prev[i]) and stated_prev[i] < t else np.nan
        note = None
        if not np.isnan(said):
            hours[i], kinds[i] = said, "stated"
            if not np.isnan(seen) and seen != said:
                note = f"interval {said:g} h stated (prevFundingTime), the minutes show {seen:g} h"
        elif not np.isnan(seen):
            hours[i] = seen
        else:
            hours[i], kinds[i], note = _bounded(rows, t, configured)
        notes.append(note)
    return hours, kinds, notes


def _stated_previous(rows: pd.DataFrame, times: pd.DatetimeIndex) -> list:
    """Per T: the `prevFundingTime` stated by the last minute showing T before it (NaT if none)."""
    found = _last_in_reach(rows, "stated_time", times)
    return [pd.NaT if pd.isna(v) else pd.Timestamp(v) for v in pd.to_datetime(found, utc=True)]


def _continuous(ts: np.ndarray, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether the minutes cover [start, end) with no gap above the reach: no settlement between
    them can have gone unseen."""
    lo, hi = np.searchsorted(ts, start.value), np.searchsorted(ts, end.value)
    points = np.concatenate(([start.value], ts[lo:hi], [end.value]))
    return bool((np.diff(points) <= _REACH.value).all())


def _bounded(rows: pd.DataFrame, t: pd.Timestamp, configured: float) -> tuple[float, str, str]:
    """Interval of T without the settlement before it: at least as long as the minutes show T
    without a gap (its last run); among OKX's intervals on whose UTC grid T lies, the configured one
    if it fits, else the shortest. Only 8 h fitting a run longer than 6 h is data, not a hint."""
    showing = rows.loc[rows["funding_timestamp"] == t, "ts"]
    gaps = showing.diff() > _REACH
    run_start = showing.loc[gaps].iloc[-1] if gaps.any() else showing.iloc[0]
    least = (t - run_start) / _HOUR
    if least > max(INTERVALS[:-1]):
        return float(INTERVALS[-1]), "data", None
    hour = (t - t.normalize()) / _HOUR
    fits = [h for h in INTERVALS if h >= least and hour % h == 0] or [configured]
    chosen = configured if configured in fits else fits[0]
    return (
        float(chosen),
        "hint",
        f"no settlement before it in the data: interval {chosen:g} h assumed (the minutes show at least"
        f" {least:.2f} h; configured {configured:g} h)",
    )


def _rate_note(inferred: float, stated: float) -> str | None:
    if np.isnan(stated) or abs(inferred - stated) <= RATE_TOLERANCE:
        return None
    return (
        f"the last rate shown before it, {inferred:.10g}, differs from the rate OKX states,"
        f" {stated:.10g}; stored the stated one"
    )


def _join(label: str, *notes: str | None) -> str | None:
    found = [n for n in notes if n]
    return f"{label}: {'; '.join(found)}" if found else None
