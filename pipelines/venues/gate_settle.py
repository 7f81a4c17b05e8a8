"""When Gate settled: funding times and intervals from the evidence in one contract's minutes.

Gate's tickers carry no funding time (docs/venues/gate.md), but its `funding_rate` shows when a
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

from pipelines.venues.settle_base import MAX_GAP

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
