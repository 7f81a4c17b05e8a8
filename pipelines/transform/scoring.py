"""Rolling z-scores and flags of window rows. Pure pandas.

Takes the frames `pipelines.transform.features.window_features` returns (one pair's windows) and adds
the columns that look across windows: Z_COLUMNS, then `flagged`/`reasons`; `features_hash`
(`pipelines.core.features_hash`) completes the stored WINDOW_COLUMNS (`pipelines.core.window_columns`).
Like the transform, no file, clock or settings lookup, and inputs are never mutated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipelines.core.units import HOURS_PER_YEAR
from pipelines.core.window_columns import PRICE_FEATURES, Z_COLUMNS, ZSCORABLE

# Scale floors: a z-score divides by max(std of the past, floor), so a tiny change in a flat series
# (Bitfinex rates are often exactly 0 for days) is not an "extreme" event. Funding features use
# 5 % APR, in each feature's own units: with z_threshold 2.5 a flag needs a move of 12.5 % APR,
# about what the default taker fees cost amortized (fees_apr ~ 12 % APR), so a smaller move is
# unlikely to change a carry trade. Spreads and basis use 1 bp: a move under 2.5 bp is well inside
# one fill's taker fee (5-6.5 bp). A past whose std exceeds its floor is scored exactly as before.
MIN_STD_APR = 0.05
MIN_STD_BPS = 1.0
# Per-window features: rates summed over the window, so their floor is per window hours.
_PER_PERIOD = ("funding_diff", "a_rate", "a_forecast_error", "b_rate", "b_forecast_error")
# A forecast error is scored only against past windows whose leg predicted the same way: an era of
# running estimates says nothing about the spread of an era of forecasts.
SCORED_BY_KIND = {"a_forecast_error": "a_predicted_kind", "b_forecast_error": "b_predicted_kind"}

# Words a trader reads in a flag reason, per z-scored feature; {a}/{b} are the legs' venue labels.
LABELS = {
    "funding_diff": "funding diff",
    "carry_apr": "carry APR",
    "net_carry_apr": "net carry APR",
    "a_rate": "{a} funding",
    "b_rate": "{b} funding",
    "a_apr": "{a} funding APR",
    "b_apr": "{b} funding APR",
    "a_forecast_error": "{a} forecast error",
    "b_forecast_error": "{b} forecast error",
    "mark_spread_mean_bps": "mark spread",
    "mark_spread_min_bps": "mark spread min",
    "mark_spread_max_bps": "mark spread max",
    "mark_spread_last_bps": "mark spread last",
    "a_basis_mean_bps": "{a} basis",
    "a_basis_last_bps": "{a} basis last",
    "b_basis_mean_bps": "{b} basis",
    "b_basis_last_bps": "{b} basis last",
}
# Bitfinex's "index" is the mid of its own spot book: its basis is perp vs spot.
SPOT_INDEX_LABELS = frozenset({"Bitfinex"})


def feature_label(feature: str, labels: Mapping[str, str]) -> str:
    """The words for `feature` with the legs' venue labels (`{"a": "Gate", "b": "Bitfinex"}`)."""
    text = LABELS[feature].format(**labels)
    side = feature[0] if feature[:2] in ("a_", "b_") else None
    if side and "_basis_" in feature and labels.get(side) in SPOT_INDEX_LABELS:
        text = text.replace(" basis", " basis vs spot")
    return text


def add_zscores(
    windows: pd.DataFrame, features: Sequence[str], lookback: int, min_periods: int
) -> pd.DataFrame:
    """Set every Z_COLUMNS column: z_<f> = (x_t - mean(past)) / std(past) for each f in `features`.

    `windows` holds one pair's windows; the result is sorted by window_end. `past` is the previous
    `lookback` windows in time (a window missing from the frame counts as a window without a value),
    never the window itself or a later one, so appending windows cannot change earlier z-scores.
    std is the sample std (ddof=1), raised to the feature's `scale_floor` (a flat past gives
    (x_t - mean) / floor). Incomplete windows neither get a z-score nor count as past values. No
    z-score (NaN) with fewer than `min_periods` past values. Columns of z-scorable features not in
    `features` are NaN. A forecast error (SCORED_BY_KIND) counts as past only for a window whose
    leg's `*_predicted_kind` is the window's own: after an era change its z-score waits for
    `min_periods` windows of the new kind.
    """
    unknown = sorted(set(features) - set(ZSCORABLE))
    if unknown:
        raise ValueError(f"cannot z-score {unknown[0]!r}; z-scorable features: {', '.join(ZSCORABLE)}")
    df = windows.sort_values("window_end", kind="stable", ignore_index=True)
    pos = _grid_positions(df)
    complete = df["complete"].to_numpy(dtype=bool)
    z = {}
    for feature in ZSCORABLE:
        if feature not in features:
            z[f"z_{feature}"] = np.full(len(df), np.nan)
            continue
        values = np.where(complete, df[feature].to_numpy(dtype=float, na_value=np.nan), np.nan)
        floor = np.full(pos[-1] + 1 if len(pos) else 0, np.nan)
        floor[pos] = scale_floor(df, feature)
        out = np.full(len(df), np.nan)
        for same in _kind_groups(df, feature):
            x = np.full(len(floor), np.nan)  # rows of another kind count as windows without a value
            x[pos[same]] = values[same]
            out[same] = _past_zscore(x, lookback, min_periods, floor)[pos][same]
        z[f"z_{feature}"] = out
    return df.assign(**z)


def _kind_groups(df: pd.DataFrame, feature: str) -> list[np.ndarray]:
    """Masks of the rows scored together: one per prediction kind for a forecast error (an unknown
    kind is a group of its own), all rows for any other feature."""
    column = SCORED_BY_KIND.get(feature)
    if column is None or column not in df.columns:
        return [np.ones(len(df), bool)]
    kinds = np.array([k if isinstance(k, str) else "" for k in df[column]], dtype=object)
    return [kinds == k for k in dict.fromkeys(kinds.tolist())]


def scale_floor(windows: pd.DataFrame, feature: str) -> np.ndarray:
    """Per window, the smallest std a z-score of `feature` divides by, in the feature's units.

    MIN_STD_BPS for spreads and basis, MIN_STD_APR for APRs, and MIN_STD_APR turned into a rate per
    window for rates (summed over the window): x window hours / 8760. It depends on the window
    itself only, so past z-scores stay past-only.
    """
    if feature in PRICE_FEATURES:
        return np.full(len(windows), MIN_STD_BPS)
    if feature not in _PER_PERIOD:
        return np.full(len(windows), MIN_STD_APR)
    hours = ((windows["window_end"] - windows["window_start"]) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    return MIN_STD_APR * hours / HOURS_PER_YEAR


def _grid_positions(df: pd.DataFrame) -> np.ndarray:
    """Each row's index on the regular window grid (row order if windows are not on one grid)."""
    if df.empty:
        return np.zeros(0, dtype=np.int64)
    period = (df["window_end"] - df["window_start"]).min()
    steps = (df["window_end"] - df["window_end"].iloc[0]) / period
    pos = steps.round().to_numpy(dtype=np.int64)
    if not np.allclose(steps, pos) or len(np.unique(pos)) != len(pos) or pos[-1] > 100 * len(pos) + 10_000:
        return np.arange(len(df))
    return pos


def _past_zscore(x: np.ndarray, lookback: int, min_periods: int, floor: np.ndarray) -> np.ndarray:
    """z of x[t] against x[t-lookback .. t-1], dividing by max(std, floor[t]); elementwise loops so
    every value depends on its own window only (bit-identical whatever the length of x)."""
    n = len(x)
    padded = np.concatenate([np.full(lookback, np.nan), x])
    cols = [padded[j : j + n] for j in range(lookback)]
    count = np.zeros(n)
    total = np.zeros(n)
    for c in cols:
        ok = ~np.isnan(c)
        count += ok
        total += np.where(ok, c, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        squares = np.zeros(n)
        for c in cols:
            squares += np.where(np.isnan(c), 0.0, (c - mean) ** 2)
        scale = np.maximum(np.sqrt(squares / (count - 1)), floor)  # NaN std (one value) stays NaN
        z = (x - mean) / scale
    valid = (count >= min_periods) & (scale > 0)
    return np.where(valid, z, np.nan)


def flag_windows(
    windows: pd.DataFrame,
    threshold: float,
    net_carry_apr_floor: float | None,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Set `flagged` (bool) and `reasons` (list of str): a complete window is flagged when any
    |z_*| >= threshold ("funding diff z=3.1", "Gate funding z=2.6" with `labels` naming the legs'
    venues, default "leg a"/"leg b") or net_carry_apr >= the floor ("net carry 41% APR").
    Incomplete windows are never flagged and have no reasons."""
    labels = labels or {"a": "leg a", "b": "leg b"}
    z_cols = [c for c in Z_COLUMNS if c in windows.columns]
    reasons = []
    for row in windows[[*z_cols, "net_carry_apr", "complete"]].itertuples(index=False):
        values = row._asdict()
        found = [
            f"{feature_label(col[2:], labels)} z={values[col]:.1f}"
            for col in z_cols
            if not pd.isna(values[col]) and abs(values[col]) >= threshold
        ]
        net = values["net_carry_apr"]
        if net_carry_apr_floor is not None and not pd.isna(net) and net >= net_carry_apr_floor:
            found.append(f"net carry {net:.0%} APR")
        reasons.append(found if values["complete"] else [])
    return windows.assign(flagged=[bool(r) for r in reasons], reasons=reasons)
