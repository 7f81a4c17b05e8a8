"""Bybit's settlement rule (README.md here; the shared machinery is `pipelines.venues.settle_base`).

Bybit states the next funding time (`nextFundingTime`, `next_funding_time` before V5) and the rate
for it (`fundingRate`). The minutes showing one funding time form runs; the *last* run showing F
decides what F was (an earlier run can be a stale time shown for a few minutes after a switch):

- abandoned: the feed moved on to another time before F (a schedule change: since 2025-10-30 a
  symbol at the cap goes hourly, and back, and the new schedule reaches the feed within minutes).
  No settlement, and never the "previous funding time" of the next one;
- settled: the run reaches F (its last rated minute within `MAX_GAP` + 1 min of F, and the data
  reaches F). The rate is that minute's `funding_rate`;
- ambiguous: the run ends well before F and the data resumes after F (a gap across F): the data
  cannot say whether F settled;
- undecided: the data ends before F.

The interval of a settlement at T is T minus the previous settlement P (the latest settled time
shown within `REACH` before T), when no ambiguous time lies between. Otherwise (first loaded day, a
gap) the candidates are Bybit's intervals h (1, 2, 4, 8 h) whose funding times T lies on (T is a
multiple of h, as Bybit's schedules are) with T - h between P and the first minute of T's run (the
period ran at least from then): one candidate is evidence enough; several give a hint (`evidence
= "hint"` with a `warning`): the first candidate of the spacing to the next time shown, T minus
the time shown across the gap, the usual interval; else the longest.

`predicted_rate`: up to V5 (funding times to 2023-04-05 00:00) the feed's `predicted_funding_rate_e6`
forecast the period after the running one (the running rate was fixed), so the forecast of T is the
last predicted rate before T - interval (kind "forecast"). From V5 the rate shown for T is a running
estimate and the forecast is the rate shown when T's period opened (kind "estimate"), none when the
data does not show the opening.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr
from pipelines.venues.bybit.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, _last_before, evidence_reach, with_evidence

_MINUTE = pd.Timedelta(minutes=1)
_HOUR = pd.Timedelta(hours=1)
INTERVALS = (1, 2, 4, 8)  # Bybit's funding intervals, hours
REACH = evidence_reach(max(INTERVALS))  # how far back the previous settlement can lie
V5_SINCE = pd.Timestamp("2023-04-05", tz="UTC")  # tardis-node's BYBIT_V5_API_SWITCH_DATE


def bybit_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Bybit settlements from one symbol's minute rows (`ts`, `funding_timestamp`, rates); the interval
    of each comes from the data (`interval_hours`, the usual one, only breaks a tie as a hint)."""
    rows = minutes.dropna(subset=["funding_timestamp"]).sort_values("ts", kind="stable")
    rows = rows.loc[:, ["ts", "funding_timestamp", "funding_rate", "predicted_funding_rate"]]
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return _empty()
    runs = last_runs(rows)
    settled = runs.loc[runs["status"] == "settled"]
    if settled.empty:
        return _empty()
    decided = [_interval(runs, t, interval_hours) for t in settled.index]
    hours = pd.Series([d[0] for d in decided], index=settled.index, dtype=float)
    times = pd.Series(settled.index, index=settled.index)
    frame = pd.DataFrame(
        {
            "exchange": EXCHANGE,
            "symbol": symbol,
            "funding_time": times,
            "rate": settled["rate"],
            "predicted_rate": _predicted(rows, times, hours),
            "interval_hours": hours,
            "apr": apr(settled["rate"], hours),
        }
    )
    kind = np.where(times <= V5_SINCE, "forecast", "estimate")
    evidence = np.array([d[1] for d in decided], dtype=object)
    warning = np.array([_warning(symbol, t, d) for t, d in zip(times, decided, strict=True)], dtype=object)
    out = with_evidence(frame.assign(evidence=evidence, warning=warning), kind)
    return out.loc[:, list(FUNDING)].reset_index(drop=True)


def last_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """Per funding time shown, its last run of consecutive minutes: `start`, `end` (last minute before
    the time), `after` (first minute of the next run), `rate` (last rated minute's) and `status`."""
    ft = rows["funding_timestamp"]
    run = (ft != ft.shift()).cumsum()
    before = rows["ts"] < ft
    rated = before & rows["funding_rate"].notna()
    runs = pd.DataFrame(
        {
            "time": ft.groupby(run).first(),
            "start": rows["ts"].groupby(run).first(),
            "end": rows["ts"].where(before).groupby(run).max(),
            "rated_at": rows["ts"].where(rated).groupby(run).max(),
            "rate": rows["funding_rate"].where(rated).groupby(run).last(),
        }
    )
    runs["after"] = runs["start"].shift(-1)
    runs["then"] = runs["time"].shift(-1)  # the funding time the feed showed next
    last = runs.groupby("time", sort=True).tail(1).set_index("time").sort_index()
    return last.assign(status=_status(last, rows["ts"].iloc[-1]))


def _status(runs: pd.DataFrame, data_end: pd.Timestamp) -> pd.Series:
    times = runs.index.to_series()
    abandoned = runs["after"] < times
    close = runs["rated_at"] >= times - MAX_GAP - _MINUTE
    reached = times <= data_end + _MINUTE
    status = np.select(
        [abandoned, close & reached, runs["after"].isna() & ~reached],
        ["abandoned", "settled", "undecided"],
        "ambiguous",
    )
    return pd.Series(status, index=runs.index)


def _interval(runs: pd.DataFrame, due: pd.Timestamp, usual: float) -> tuple[float, str, str | None]:
    """(hours, evidence, why a hint) of the settlement at `due`, from the runs before it."""
    near = runs.loc[(runs.index < due) & (runs["end"] >= due - REACH)]
    settled = near.index[near["status"] == "settled"]
    previous = settled.max() if len(settled) else None
    unsure = near.loc[near["status"] == "ambiguous"]
    if previous is not None:
        unsure = unsure.loc[unsure.index > previous]
    if previous is not None and unsure.empty:
        return (due - previous) / _HOUR, "data", None
    opened = runs.at[due, "start"]
    fits = [
        h
        for h in INTERVALS
        if due.value % (h * _HOUR.value) == 0
        and due - h * _HOUR <= opened
        and (previous is None or due - h * _HOUR >= previous)
    ]
    if unsure.empty:
        why = "the data shows no earlier settlement"
    else:
        why = f"the data has a gap across {unsure.index[-1]:%H:%M}"
    if len(fits) == 1:
        return float(fits[0]), "data", None
    if not fits:
        fallback = (due - previous) / _HOUR if previous is not None else float(usual)
        return fallback, "hint", f"{why}; no Bybit schedule fits"
    # Ties go to what the feed showed: the spacing to the next time shown (the schedule goes on;
    # right after a switch the stale time even shows the old one); else the time across the gap
    # settled (a gap can hide more); else the usual interval; else the longest (a history starting
    # at random falls in a long period more often than in a short one).
    spacing = (runs.at[due, "then"] - due) / _HOUR
    across = (due - unsure.index[-1]) / _HOUR if not unsure.empty else None
    prefer = [h for h in (spacing, across, usual) if h in fits]
    choice = prefer[0] if prefer else fits[-1]
    return float(choice), "hint", f"{why}; could be {'/'.join(f'{h:g}' for h in fits)} h"


def _warning(symbol: str, due: pd.Timestamp, decided: tuple[float, str, str | None]) -> str | None:
    hours, evidence, why = decided
    if evidence != "hint":
        return None
    return f"Bybit {symbol} {due:%Y-%m-%d %H:%M}: interval {hours:g} h assumed, {why}"


def _predicted(rows: pd.DataFrame, times: pd.Series, hours: pd.Series) -> pd.Series:
    """The forecast of each settlement: pre-V5, the last predicted rate one period before T; V5, the
    first rate shown for T once its period opened (within MAX_GAP of the opening)."""
    opened = times - hours * _HOUR
    early = _last_before(rows, pd.DatetimeIndex(opened - _MINUTE), "predicted_funding_rate")
    early.index = times.index
    shown = rows.loc[rows["funding_rate"].notna(), ["ts", "funding_timestamp", "funding_rate"]]
    first = []
    for due, start in zip(times, opened, strict=True):
        hit = shown.loc[(shown["funding_timestamp"] == due) & (shown["ts"] >= start)].head(1)
        ok = len(hit) and hit["ts"].iloc[0] <= start + MAX_GAP
        first.append(hit["funding_rate"].iloc[0] if ok else np.nan)
    opening = pd.Series(first, index=times.index, dtype=float)
    return early.where(times <= V5_SINCE, opening).astype(float)
