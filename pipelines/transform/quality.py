"""Data quality of a window's minutes, and the warnings a window carries. Pure pandas/numpy.

Helpers of `pipelines.transform.features`: minutes are int minutes since the epoch (`m`) with the index of
the window holding them (`w`), so every per-window figure is a vectorized group operation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.transform.legs import LegParams


@dataclass(frozen=True)
class QualityParams:
    """Coverage a complete window needs, when a series counts as stale, how intervals are inferred."""

    min_coverage: float = 0.9
    stale_minutes: int = 60
    interval_lookback_hours: float = 72
    interval_tolerance: float = 0.05  # relative difference tolerated between inferred and configured


def side_minutes(minutes: pd.DataFrame, exchange: str, symbol: str, grid: pd.DataFrame) -> pd.DataFrame:
    """One side's minutes inside the windows of `grid`: m, w, mark, index, sorted by minute.

    A minute belongs to the window with start <= ts < end; minutes outside every window are dropped,
    and a duplicated minute keeps its last row.
    """
    rows = minutes.loc[
        (minutes["exchange"] == exchange) & (minutes["symbol"] == symbol), ["ts", "mark_price", "index_price"]
    ]
    m = _epoch_minutes(rows["ts"])
    starts, ends = _epoch_minutes(grid["window_start"]), _epoch_minutes(grid["window_end"])
    w = np.searchsorted(starts, m, side="right") - 1
    inside = (w >= 0) & (m < ends[w.clip(0)]) if len(starts) else np.zeros(len(m), bool)
    frame = pd.DataFrame(
        {
            "m": m,
            "w": w,
            "mark": rows["mark_price"].to_numpy(dtype=float, na_value=np.nan),
            "index": rows["index_price"].to_numpy(dtype=float, na_value=np.nan),
        }
    )[inside]
    if not (np.diff(frame["m"].to_numpy()) > 0).all():  # the store hands them sorted and distinct
        frame = frame.sort_values("m", kind="stable").drop_duplicates("m", keep="last")
    return frame.reset_index(drop=True)


def match_minutes(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `left` and in `right` (each sorted and distinct) of the minutes both hold."""
    j = np.searchsorted(right, left)
    hit = j < len(right)
    hit[hit] = right[j[hit]] == left[hit]
    return np.flatnonzero(hit), j[hit]


def quality_features(sides: dict[str, pd.DataFrame], grid: pd.DataFrame) -> pd.DataFrame:
    """expected/covered/aligned minutes, longest gap and longest unchanged run per side (minutes).

    A gap counts the minutes without a mark price, the window's edges included; an unchanged run
    spans from the first to the last minute of consecutive equal values (a gap does not end it).
    The `_<side>_<series>_unchanged` helper columns feed `window_warnings`.
    """
    starts, ends = _epoch_minutes(grid["window_start"]), _epoch_minutes(grid["window_end"])
    n = len(grid)
    a, b = sides["a"], sides["b"]
    a_m = a.loc[a["mark"].notna(), "m"].to_numpy()
    aligned = a_m[match_minutes(a_m, b.loc[b["mark"].notna(), "m"].to_numpy())[0]]
    out = {
        "expected_minutes": ends - starts,
        "aligned_minutes": np.bincount(np.searchsorted(starts, aligned, side="right") - 1, minlength=n),
    }
    for side, frame in sides.items():
        marks = frame.loc[frame["mark"].notna()]
        out[f"{side}_minutes"] = np.bincount(marks["w"], minlength=n)
        out[f"{side}_longest_gap_minutes"] = _longest_gap(marks, starts, ends)
        runs = {series: _longest_unchanged(frame, series, n) for series in ("mark", "index")}
        out[f"{side}_unchanged_minutes"] = np.maximum(runs["mark"], runs["index"])
        for series, longest in runs.items():
            out[f"_{side}_{series}_unchanged"] = longest
    return pd.DataFrame(out)


def _longest_gap(marks: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    m, w = marks["m"].to_numpy(), marks["w"].to_numpy()
    if not len(m):
        return ends - starts  # a window without minutes is one gap
    first = np.r_[True, w[1:] != w[:-1]]
    previous = np.where(first, starts[w] - 1, np.r_[0, m[:-1]])
    has = np.zeros(len(starts), bool)
    has[w] = True
    inner = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(inner, w, m - previous - 1)
    last = np.zeros(len(starts), dtype=np.int64)
    last[w] = m  # rows are sorted by minute, so the last write per window is its latest minute
    return np.where(has, np.maximum(inner, ends - last - 1), ends - starts)


def _longest_unchanged(frame: pd.DataFrame, series: str, n: int) -> np.ndarray:
    rows = frame.loc[frame[series].notna()]
    m, w, v = rows["m"].to_numpy(), rows["w"].to_numpy(), rows[series].to_numpy()
    longest = np.zeros(n, dtype=np.int64)
    if not len(m):
        return longest
    new_run = np.r_[True, (v[1:] != v[:-1]) | (w[1:] != w[:-1])]
    run_start = m[new_run][np.cumsum(new_run) - 1]
    np.maximum.at(longest, w, m - run_start + 1)
    return longest


def window_warnings(
    features: pd.DataFrame,
    legs: dict[str, LegParams],
    settled: dict[str, pd.DataFrame],
    quality: QualityParams,
) -> list[list[str]]:
    """Per window, the data-quality warnings a trader reads, e.g. "Gate settlement missing",
    "Bitfinex coverage 72% < 90%", "Gate mark unchanged 75 min", "Gate settles every 4 h,
    configured 8 h" (only for a leg whose interval is configured), "Binance funding interval
    changed to 4 h" (the data's interval changed within the lookback), then the `warning` of each
    settlement in the window as its venue wrote it (a window holding a hint but no such text gets
    "Gate settlement unconfirmed by the data")."""
    rows = features.to_dict("records")
    per_leg = {side: frame.to_dict("records") for side, frame in settled.items()}
    out = []
    for i, row in enumerate(rows):
        found = []
        for side, leg in legs.items():
            found.extend(_missing(per_leg[side][i], leg.label, row["window_hours"]))
            found.extend(_leg_warnings(row, side, leg.label, quality))
            found.extend(_interval_warnings(per_leg[side][i], leg, quality))
            found.extend(_settlement_warnings(per_leg[side][i], leg.label))
        out.append(list(dict.fromkeys(found)))
    return out


def _missing(settled: dict, label: str, hours: float) -> list[str]:
    if not settled["settled"]:
        return [f"{label} settlement missing"]
    if not np.isclose(settled["covered_hours"], hours):
        return [f"{label} settlements cover {settled['covered_hours']:g} of {hours:g} h"]
    return []


def _leg_warnings(row: dict, side: str, label: str, quality: QualityParams) -> list[str]:
    found = []
    coverage = row[f"{side}_minutes"] / row["expected_minutes"]
    if coverage < quality.min_coverage:
        found.append(f"{label} coverage {coverage:.0%} < {quality.min_coverage:.0%}")
    if row[f"{side}_longest_gap_minutes"] >= quality.stale_minutes:
        found.append(f"{label} gap {row[f'{side}_longest_gap_minutes']} min")
    for series in ("mark", "index"):
        if row[f"_{side}_{series}_unchanged"] >= quality.stale_minutes:
            found.append(f"{label} {series} unchanged {row[f'_{side}_{series}_unchanged']} min")
    return found


def _interval_warnings(settled: dict, leg: LegParams, quality: QualityParams) -> list[str]:
    # A configured interval is checked against the data's spacing; where the data gives each
    # funding time, the interval is the data's and only a change of it is worth a warning.
    if leg.configured_hours is not None:
        return _interval_warning(leg.label, settled["inferred"], leg.configured_hours, quality)
    if settled["interval_changed"]:
        return [f"{leg.label} funding interval changed to {settled['data_interval_hours']:g} h"]
    return []


def _settlement_warnings(settled: dict, label: str) -> list[str]:
    # The venue's own words first; a hint must never pass silently, so one without words gets some.
    notes = list(settled["notes"])
    if settled["hints"] and not notes:
        notes.append(f"{label} settlement unconfirmed by the data")
    return notes


def _interval_warning(label: str, inferred: float, configured: float, quality: QualityParams) -> list[str]:
    if np.isnan(inferred) or abs(inferred - configured) <= quality.interval_tolerance * configured:
        return []
    return [f"{label} settles every {inferred:.3g} h, configured {configured:g} h"]


def _epoch_minutes(times: pd.Series) -> np.ndarray:
    """datetime64 (any unit, UTC) -> int64 minutes since the epoch (floored)."""
    return np.asarray(
        (pd.to_datetime(times, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(minutes=1),
        dtype=np.int64,
    )
