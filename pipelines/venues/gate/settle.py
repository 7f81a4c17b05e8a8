"""Gate's settlement rule: funding times and intervals from the evidence in one contract's minutes.

Settlement rule (`gate_settlements`; README.md here has the rule, its eras and sources; the
shared machinery is `pipelines.venues.settle_base`): Gate.io carries no funding timestamp, so the
funding times and intervals are read from how `funding_rate` moves around each whole hour
(`schedule`, below); the configured interval is only a hint. The rate settled at T is the last
`funding_rate` observed before T. The predicted rate is a forecast *of that settlement*. Since
`GATE_INDICATIVE_NEXT_PERIOD_UNTIL` it is the last `predicted_funding_rate` before T (Gate then sends
the same value in both fields). Before that, Gate's `funding_rate_indicative` was the "indicative
funding rate in next period": the last one seen before T forecast the settlement at T + interval, so
the forecast of the settlement at T is the last one seen one interval earlier. A settlement after
the cut-over whose two fields still differ just before T is read the old way too (the new era never
has them differ), which covers the undocumented hour of the change.

When Gate settled:

Gate's tickers carry no funding time (README.md here), but its `funding_rate` shows when a
period ends. Until 2022-08-08 08:00 UTC it was fixed for the period, so it changes only at a
settlement. Since then it is the average of the current period's minute rates, so at a settlement it
restarts from one minute's rate: it jumps and keeps moving for a while, where late in a period it
barely moves. Every whole hour T (Gate's intervals are 1, 2, 4 or 8 h) is read as

* "reset": the rate's movement from the last minute before T through the `PROBE` (10 min) after T
  is at least `MIN_MOVE` and more than `RATIO` times its movement per `PROBE` over the `BASELINE`
  (30 min) before T. The longer baseline matters: late in a period the average moves by about a
  rounding tick a minute, and ten minutes of it can stand still by chance, so a 10-minute baseline
  read ordinary drift as resets (17 false resets in 6,862 hours of the sample feed at one update a
  minute; with the 30-minute baseline and RATIO 6: none, and no reset missed, over 40 seeds);
* "continue": the rate moves around T without a reset, so T is no funding time;
* "unknown": too little movement to tell (a rate flat at the clamp) or no minutes around T.

Resets are settlements. The configured interval is only a hint: its grid times that the minutes
leave unknown are stored as `evidence="hint"` with a warning, its grid times the minutes show as
"continue" are not settlements. A settlement's interval is the time since the previous settlement;
it is data only when both ends are resets and every hour between them shows "continue".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr
from pipelines.venues.gate.normalize import EXCHANGE
from pipelines.venues.settle_base import MAX_GAP, _empty, _last_before, with_evidence

# Until this settlement Gate's rate was fixed per period (Gate announcement of 2022-08-01).
GATE_FIXED_RATE_UNTIL = pd.Timestamp("2022-08-08T08:00:00Z")
PROBE = pd.Timedelta(minutes=10)  # the minutes read after a whole hour
BASELINE = pd.Timedelta(minutes=30)  # the minutes read before it (movement scaled to one PROBE)
MIN_MOVE = 1e-5  # ten of Gate's 1e-6 ticks: less can be the rounding of a settled-down average
MIN_MOVE_FIXED = 5e-7  # with a fixed rate any change is a settlement
RATIO = 6.0
INTERVALS = (1.0, 2.0, 4.0, 8.0)  # Gate's funding intervals, hours
MAX_INTERVAL = INTERVALS[-1]
RESET, QUIET, UNKNOWN = "reset", "quiet", "unknown"


def hour_states(rated: pd.DataFrame) -> pd.DataFrame:
    """Per whole hour T after the first minute and up to one minute past the last: its `state`
    (RESET, QUIET: minutes around T and no reset, UNKNOWN: no minutes close to T), its `move` (the
    step across T and the rate's movement in the PROBE after) and `none`: the minutes show that T
    is no funding time (see the module docstring).

    `rated`: one contract's minutes with a funding rate, oldest first (`ts`, `funding_rate`).
    """
    ts = pd.DatetimeIndex(rated["ts"]).as_unit("ns").asi8  # ns since 1970, for searchsorted
    rate = rated["funding_rate"].to_numpy(dtype=float)
    first, last = rated["ts"].iloc[0], rated["ts"].iloc[-1]
    hours = pd.date_range(first.ceil("h"), last + pd.Timedelta(minutes=1), freq="h")
    hours = hours[hours > first]
    found = [_state(ts, rate, t) for t in hours]
    frame = pd.DataFrame(
        {"funding_time": hours, "state": [f[0] for f in found], "move": [f[1] for f in found]}
    )
    return frame.assign(none=_no_settlement(frame))


def _state(ts: np.ndarray, rate: np.ndarray, t: pd.Timestamp) -> tuple[str, float]:
    at = np.searchsorted(ts, t.value)  # first minute at or after T
    gap = MAX_GAP.value
    if at == 0 or at == len(ts) or ts[at - 1] < t.value - gap or ts[at] > t.value + gap:
        return UNKNOWN, float("nan")
    lo = np.searchsorted(ts, t.value - BASELINE.value)
    hi = np.searchsorted(ts, t.value + PROBE.value)
    before = np.abs(np.diff(rate[lo:at])).sum() * (PROBE / BASELINE)
    move = float(np.abs(np.diff(rate[at - 1 : hi])).sum())
    floor = MIN_MOVE_FIXED if t <= GATE_FIXED_RATE_UNTIL else MIN_MOVE
    return (RESET if move >= floor and move > RATIO * before else QUIET), move


def _no_settlement(frame: pd.DataFrame) -> pd.Series:
    """QUIET hours (current era) moving less than 1/RATIO of the nearest resets within MAX_INTERVAL
    either side: a reset there would have moved as the contract's resets do. A fixed old-era rate
    unchanged across T may have settled at the same rate, so it never shows "none"."""
    resets = frame["move"].where(frame["state"] == RESET)
    reach = int(MAX_INTERVAL)
    scale = np.fmin(resets.ffill(limit=reach), resets.bfill(limit=reach))
    current = frame["funding_time"] > GATE_FIXED_RATE_UNTIL
    return (frame["state"] == QUIET) & current & (frame["move"] * RATIO < scale)


def schedule(states: pd.DataFrame, symbol: str, configured: float) -> pd.DataFrame:
    """Funding times with `interval_hours`, `evidence` ("data"/"hint") and `warning` (text or None)."""
    period = pd.Timedelta(hours=configured)
    on_grid = (states["funding_time"] - states["funding_time"].dt.floor("D")) % period == pd.Timedelta(0)
    reset = states["state"] == RESET
    chosen = states[reset | (on_grid & ~states["none"])]
    none = dict(zip(states["funding_time"], states["none"], strict=True))
    rows, previous = [], None
    for t, kind in zip(chosen["funding_time"], chosen["state"], strict=True):
        rows.append(_settlement(t, kind, previous, none, symbol, configured))
        previous = (t, kind)
    return pd.DataFrame(rows, columns=["funding_time", "interval_hours", "evidence", "warning"])


def _first_interval(t: pd.Timestamp, none: dict, configured: float) -> float:
    """A first settlement's interval: the configured one unless the minutes show no settlement one
    configured interval before it, else the shortest longer one of Gate's intervals they allow."""
    for hours in (configured, *(h for h in INTERVALS if h > configured)):
        if not none.get(t - pd.Timedelta(hours=hours), False):
            return hours
    return MAX_INTERVAL


def _settlement(t, kind, previous, none: dict, symbol: str, configured: float) -> tuple:
    label = f"Gate {symbol} {t:%Y-%m-%d %H:%M}"
    near = previous is not None and t - previous[0] <= pd.Timedelta(hours=MAX_INTERVAL)
    if kind != RESET:  # a grid time of the configured interval, its period as long as the data allows
        hours = (t - previous[0]) / pd.Timedelta(hours=1) if near else configured
        why = "the minutes around it show no reset of the rate (flat or missing)"
        return t, hours, "hint", f"{label}: interval {configured:g} h configured, {why}"
    if not near:
        hours = _first_interval(t, none, configured)
        note = f"{label}: no earlier settlement in the data, interval {configured:g} h configured"
        return t, hours, "hint", note if hours == configured else f"{note}, the data allows {hours:g} h"
    hours = (t - previous[0]) / pd.Timedelta(hours=1)
    between = pd.date_range(previous[0], t, freq="h")[1:-1]
    if previous[1] != RESET or not all(none.get(h, False) for h in between):
        note = f"{label}: {hours:g} h since the previous settlement, which the data does not confirm"
        return t, hours, "hint", note
    if hours != configured:
        return t, hours, "data", f"{label}: interval {configured:g} h configured, data shows {hours:g} h"
    return t, hours, "data", None


# Gate settlements at or before this time are forecast by the indicative rate seen one period
# earlier (tardis-data.md: the fields are equal "since 2022-08-08"). The hour is not documented, so
# the day's first funding time is taken, and later settlements whose fields still differ are read
# the old way as well.
GATE_INDICATIVE_NEXT_PERIOD_UNTIL = pd.Timestamp("2022-08-08T00:00:00Z")


def gate_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Gate settlements from one symbol's minute rows (`ts`, `funding_rate`, `predicted_funding_rate`).

    Funding times and intervals come from the minutes (`schedule`), `interval_hours` (the
    configured one) only as a hint; the rate settled at T is the last `funding_rate` before T.
    `predicted_rate` of the settlement at T is the forecast of T: the last indicative before T in the
    current era, the last indicative one interval before that up to GATE_INDICATIVE_NEXT_PERIOD_UNTIL
    or when the two fields differ just before T (only the old era sends them different).
    """
    rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
    if rated.empty:
        return _empty()
    times = schedule(hour_states(rated), symbol, interval_hours)
    if times.empty:
        return _empty()
    probes = pd.DatetimeIndex(times["funding_time"]) - pd.Timedelta(minutes=1)
    before = pd.merge_asof(
        times.assign(probe=probes),
        rated.loc[:, ["ts", "funding_rate", "predicted_funding_rate"]].rename(columns={"ts": "probe"}),
        on="probe",
        direction="backward",
        tolerance=MAX_GAP,
    )
    predicted, old_era = _forecasts(before, rated, probes)
    before = before.assign(predicted_funding_rate=predicted)
    found = before.dropna(subset=["funding_rate"])
    frame = pd.DataFrame(
        {
            "exchange": EXCHANGE,
            "symbol": symbol,
            "funding_time": found["funding_time"],
            "rate": found["funding_rate"],
            "predicted_rate": found["predicted_funding_rate"],
            "interval_hours": found["interval_hours"].astype(float),
            "apr": apr(found["funding_rate"], found["interval_hours"].astype(float)),
            # Since the cut-over Gate shows the settled rate itself as the prediction.
            "predicted_kind": old_era.loc[found.index].map({True: "forecast", False: "settled"}),
            "evidence": found["evidence"],
            "warning": found["warning"].astype(object).where(found["warning"].notna(), None),
        }
    )
    return with_evidence(frame, "settled").loc[:, list(FUNDING)].reset_index(drop=True)


def _forecasts(before: pd.DataFrame, rated: pd.DataFrame, probes: pd.DatetimeIndex):
    """Per settlement: the forecast of it and whether it is read the old way (module docstring)."""
    period = pd.to_timedelta(before["interval_hours"], unit="h").to_numpy()
    one_period_early = _last_before(rated, pd.DatetimeIndex(probes - period), "predicted_funding_rate")
    differ = before["predicted_funding_rate"].notna() & (
        before["predicted_funding_rate"] != before["funding_rate"]
    )
    old_era = (before["funding_time"] <= GATE_INDICATIVE_NEXT_PERIOD_UNTIL) | differ
    return before["predicted_funding_rate"].where(~old_era, one_period_early), old_era
