"""One leg's settlements per window, and the leg parameters the pure transforms take. Pure numpy.

A window spans the pair's `window_hours`; a leg settling more often than that pays several times
inside it, so its settlements with start < funding_time <= end are summed (the funding actually
paid), never scaled from one rate. Helpers of `pipelines.transform.features`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.venues.registry import VENUES

DEFAULT_LEGS = ("Gate", "Bitfinex")  # the legs of a row stored before windows named them


@dataclass(frozen=True)
class LegParams:
    """One leg: its venue, symbol, the reader's word for the venue, and its configured interval
    (None where the venue's data gives each funding time: the interval is then not checked)."""

    exchange: str
    symbol: str
    label: str
    configured_hours: float | None = None


def leg_settlements(
    funding: pd.DataFrame, leg: LegParams, grid: pd.DataFrame, lookback_hours: float
) -> pd.DataFrame:
    """Per window of `grid`, the leg's settlements with start < funding_time <= end.

    Columns: rate and predicted (sums, NaN without a settlement; predicted NaN when one is missing),
    settled (count), covered_hours (sum of their intervals), interval_hours (of the last one),
    hints (settlements whose evidence is "hint"), kind (`window_kind` of their `predicted_kind`),
    notes (their `warning` texts, in time order, each once), inferred (median spacing of the
    settlement times over (end - lookback_hours, end]) and interval_changed (the interval changed
    within that lookback). inferred and interval_changed read only settlements the data decided
    (evidence other than "hint"): a hint's time and interval are the configuration's, so counting
    them would measure the configured interval against itself.
    """
    rows = funding.loc[(funding["exchange"] == leg.exchange) & (funding["symbol"] == leg.symbol)]
    rows = rows.sort_values("funding_time", kind="stable").drop_duplicates("funding_time", keep="last")
    t = ns(rows["funding_time"])
    starts, ends = ns(grid["window_start"]), ns(grid["window_end"])
    lo, hi = np.searchsorted(t, starts, side="right"), np.searchsorted(t, ends, side="right")
    count = hi - lo
    w = np.searchsorted(starts, t, side="left") - 1  # window holding each settlement: start < t
    inside = (w >= 0) & (t <= ends[w.clip(0)]) if len(starts) else np.zeros(len(t), bool)
    hint = _text(rows, "evidence") == "hint"

    def summed(col: str) -> np.ndarray:
        # bincount adds in time order, so one settlement's window holds exactly its rate.
        values = rows[col].to_numpy(dtype=float, na_value=np.nan)[inside]
        total = np.bincount(w[inside], weights=values, minlength=len(grid))[: len(grid)]
        return np.where(count > 0, total, np.nan)

    last = (hi - 1).clip(0)
    hours = rows["interval_hours"].to_numpy(dtype=float, na_value=np.nan)
    spacing = data_spacing(t[~hint], hours[~hint], ends, lookback_hours)
    return pd.DataFrame(
        {
            "rate": summed("rate"),
            "predicted": summed("predicted_rate"),
            "settled": count,
            "covered_hours": np.where(count > 0, summed("interval_hours"), 0.0),
            "interval_hours": np.where(count > 0, hours[last] if len(t) else np.nan, np.nan),
            "hints": np.bincount(w[inside & hint], minlength=len(grid))[: len(grid)],
            "kind": _per_window(_text(rows, "predicted_kind"), w, inside, len(grid), window_kind),
            "notes": _per_window(_text(rows, "warning"), w, inside, len(grid), _distinct),
            **spacing,
        }
    )


def data_spacing(t: np.ndarray, hours: np.ndarray, ends: np.ndarray, lookback_hours: float) -> dict:
    """Per window end: `inferred` (median spacing of the sorted times `t` in (end - lookback, end]),
    `interval_changed` (their `hours` changed there) and `data_interval_hours` (of the last one)."""
    hi = np.searchsorted(t, ends, side="right")
    lb = np.searchsorted(t, ends - int(lookback_hours * 3.6e12), side="right")
    if not len(t):
        return {
            "inferred": np.full(len(ends), np.nan),
            "interval_changed": np.zeros(len(ends), bool),
            "data_interval_hours": np.full(len(ends), np.nan),
        }
    last = (hi - 1).clip(0)
    changes = np.r_[0, np.cumsum(hours[1:] != hours[:-1])]
    return {
        "inferred": rolling_spacing_hours(t, lb, hi - 1),
        "interval_changed": (changes[last] > changes[lb.clip(0, len(t) - 1)]) & (hi - 1 > lb),
        "data_interval_hours": np.where(hi > 0, hours[last], np.nan),
    }


# A window's prediction kind when its settlements' kinds differ: their forecast errors compare
# unlike things (a running estimate against a forecast, say), so they are not summed into one.
MIXED = "mixed"


def window_kind(kinds: list) -> str | None:
    """The `predicted_kind` shared by a window's settlements (None for none or an unknown kind,
    as rows stored before kinds were recorded have); MIXED when they differ (unknown included)."""
    distinct = set(kinds)
    if len(distinct) > 1:
        return MIXED
    return next(iter(distinct), None)


def _distinct(texts: list) -> list[str]:
    return list(dict.fromkeys(t for t in texts if t))


def _text(rows: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as an object array, None where missing (or the frame lacks the column)."""
    if column not in rows.columns:
        return np.full(len(rows), None, dtype=object)
    values = rows[column].to_numpy(dtype=object)
    return np.array([v if isinstance(v, str) and v else None for v in values], dtype=object)


def _per_window(values: np.ndarray, w: np.ndarray, inside: np.ndarray, n: int, reduce) -> list:
    """`reduce` of each window's values (in time order); windows without a settlement get reduce([])."""
    grouped: list[list] = [[] for _ in range(n)]
    for window, value in zip(w[inside].tolist(), values[inside].tolist(), strict=True):
        grouped[window].append(value)
    return [reduce(g) for g in grouped]


def infer_interval_hours(funding_times) -> float:
    """Median spacing of distinct settlement times, in hours; NaN with fewer than two settlements.

    The median shrugs off one missing (or one extra) settlement among several.
    """
    times = pd.to_datetime(pd.Series(funding_times), utc=True).dropna()
    t = np.unique(ns(times))
    return float(np.median(np.diff(t))) / 3.6e12 if len(t) >= 2 else math.nan


def rolling_spacing_hours(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per window, the median spacing of the distinct sorted times t[lo..hi] (NaN below two)."""
    spacing = np.diff(t).astype(float) / 3.6e12
    width = int(max((hi - lo).max(initial=0), 0))
    if not len(spacing) or not width:
        return np.full(len(lo), np.nan)
    cols = lo[:, None] + np.arange(width)  # spacing k lies between t[k] and t[k + 1]
    inside = cols < hi[:, None]
    values = np.where(inside, spacing[cols.clip(0, len(spacing) - 1)], np.nan)
    has = inside.any(axis=1)
    out = np.full(len(lo), np.nan)
    out[has] = np.nanmedian(values[has], axis=1)
    return out


def ns(times: pd.Series) -> np.ndarray:
    """datetime64 (any unit, UTC) -> int64 nanoseconds since the epoch."""
    return np.asarray(
        (pd.to_datetime(times, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64
    )


def leg_labels(row: Mapping) -> tuple[str, str]:
    """The venue labels of a window's legs a and b (Gate and Bitfinex for a row naming none)."""
    exchanges = (row.get("a_exchange"), row.get("b_exchange"))
    if not all(e in VENUES for e in exchanges):
        return DEFAULT_LEGS
    return VENUES[exchanges[0]].label, VENUES[exchanges[1]].label
