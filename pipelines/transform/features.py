"""Window features: minute history + settlements -> one row per pair and funding window. Pure pandas.

Every public function is `DataFrame -> DataFrame` (or a value): no file, clock or settings lookup, and
inputs are never mutated. Metric definitions follow docs/design.md; where the design leaves a choice
open, the docstring of the function making it says what was chosen and why.

Units: rates and APRs are fractions (0.0001 = 0.01 % per period, 0.25 = 25 % APR); spreads and basis
are basis points; durations are minutes or hours as the column name says. Z-scores, flags and the
features hash, which look across windows, are added by `pipelines.transform.scoring`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.columns import SIDES
from pipelines.transform.quality import (
    QualityParams,
    match_minutes,
    quality_features,
    side_minutes,
    window_warnings,
)
from pipelines.units import HOURS_PER_YEAR, apr
from pipelines.window import Window

KEYS = ("pair", "window_start", "window_end")
FUNDING_FEATURES = (
    "gate_rate",  # settled rate of the window's settlement, fraction per the side's own interval
    "bitfinex_rate",
    "gate_interval_hours",  # interval of that settlement (funding table)
    "bitfinex_interval_hours",
    "gate_apr",  # rate x 8760 / own interval
    "bitfinex_apr",
    "funding_diff",  # Gate minus Bitfinex, fraction per window (see funding_features)
    "carry_apr",  # funding_diff x 8760 / window hours, signed
    "fees_apr",  # round-trip taker fees amortized over the holding period, as APR
    "net_carry_apr",  # |carry_apr| - fees_apr
    "break_even_periods",  # round-trip fees / |funding_diff|, windows
    "long_side",  # gate | bitfinex (lower rate), None when equal or unknown
    "short_side",
    "gate_predicted",  # last predicted rate before settlement
    "bitfinex_predicted",
    "gate_forecast_error",  # settled - predicted
    "bitfinex_forecast_error",
)
PRICE_FEATURES = (
    "mark_spread_mean_bps",  # (gate_mark - bitfinex_mark) / bitfinex_mark x 1e4, aligned minutes
    "mark_spread_min_bps",
    "mark_spread_max_bps",
    "mark_spread_last_bps",
    "gate_basis_mean_bps",  # (mark - index) / index x 1e4
    "gate_basis_last_bps",
    "bitfinex_basis_mean_bps",  # Bitfinex's "index" is its spot mid: mark vs spot mid
    "bitfinex_basis_last_bps",
)
QUALITY_COLUMNS = (
    "expected_minutes",
    "gate_minutes",  # minutes with a mark price
    "bitfinex_minutes",
    "aligned_minutes",  # minutes with a mark price on both sides
    "gate_longest_gap_minutes",
    "bitfinex_longest_gap_minutes",
    "gate_unchanged_minutes",  # longest run of an unchanged mark or index
    "bitfinex_unchanged_minutes",
    "gate_settled",  # 1 when a settlement lies in the window
    "bitfinex_settled",
    "gate_interval_inferred_hours",  # median settlement spacing found in the data
    "bitfinex_interval_inferred_hours",
)
WINDOW_FEATURES = FUNDING_FEATURES + PRICE_FEATURES + QUALITY_COLUMNS
TEXT_FEATURES = ("long_side", "short_side")


@dataclass(frozen=True)
class PairParams:
    """A pair's symbols and configured funding intervals (hours)."""

    name: str
    gate_symbol: str
    bitfinex_symbol: str
    gate_interval_hours: float = 8
    bitfinex_interval_hours: float = 8

    @property
    def window_hours(self) -> float:
        return max(self.gate_interval_hours, self.bitfinex_interval_hours)


@dataclass(frozen=True)
class FeeParams:
    """Taker fee per fill (fraction of notional) and the holding period fees are amortized over."""

    gate_taker: float
    bitfinex_taker: float
    holding_periods: float

    @property
    def round_trip(self) -> float:
        """Open and close on both legs: 2 x (gate_taker + bitfinex_taker)."""
        return 2 * (self.gate_taker + self.bitfinex_taker)


def window_features(
    minutes: pd.DataFrame,
    funding: pd.DataFrame,
    pair: PairParams,
    fees: FeeParams,
    quality: QualityParams,
    windows: Sequence[Window],
) -> pd.DataFrame:
    """One row per window: KEYS + WINDOW_FEATURES + `complete` (bool) + `warnings` (list of str).

    `minutes` needs exchange, symbol, ts (minute start, UTC), mark_price, index_price; a minute belongs
    to the window with start <= ts < end. `funding` needs the FUNDING columns, including settlements
    up to `quality.interval_lookback_hours` before the first window (interval inference). Windows must
    not overlap. A window is complete when both sides settled in it and each side has a mark price
    in at least `min_coverage` of its minutes.
    """
    grid = pd.DataFrame(
        {
            "pair": pair.name,
            "window_start": pd.to_datetime([w.start for w in windows], utc=True),
            "window_end": pd.to_datetime([w.end for w in windows], utc=True),
        }
    ).sort_values("window_end", ignore_index=True)
    symbols = {"gate": pair.gate_symbol, "bitfinex": pair.bitfinex_symbol}
    sides = {side: side_minutes(minutes, exchange, symbols[side], grid) for side, exchange in SIDES.items()}
    settled = {
        side: settlements(funding, exchange, symbols[side], grid, quality.interval_lookback_hours)
        for side, exchange in SIDES.items()
    }
    out = pd.concat(
        [
            grid,
            funding_features(settled["gate"], settled["bitfinex"], pair.window_hours, fees),
            price_features(sides["gate"], sides["bitfinex"], len(grid)),
            quality_features(sides, grid),
            pd.DataFrame({f"{s}_settled": settled[s]["settled"] for s in SIDES}),
            pd.DataFrame({f"{s}_interval_inferred_hours": settled[s]["inferred"] for s in SIDES}),
        ],
        axis=1,
    )
    coverage = np.minimum(out["gate_minutes"], out["bitfinex_minutes"]) / out["expected_minutes"]
    complete = out["gate_settled"] & out["bitfinex_settled"] & (coverage >= quality.min_coverage)
    configured = {"gate": pair.gate_interval_hours, "bitfinex": pair.bitfinex_interval_hours}
    return out.assign(complete=complete, warnings=window_warnings(out, configured, quality))[
        [*KEYS, *WINDOW_FEATURES, "complete", "warnings"]
    ]


def infer_interval_hours(funding_times: Sequence | pd.Series) -> float:
    """Median spacing of distinct settlement times, in hours; NaN with fewer than two settlements.

    The median shrugs off one missing (or one extra) settlement among several.
    """
    times = pd.to_datetime(pd.Series(funding_times), utc=True).dropna()
    ns = (times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    return _median_spacing_hours(np.asarray(ns, dtype=np.int64))


def _median_spacing_hours(ns: np.ndarray) -> float:
    ns = np.unique(ns)
    return float(np.median(np.diff(ns))) / 3.6e12 if len(ns) >= 2 else math.nan


def _rolling_spacing_hours(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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


def settlements(
    funding: pd.DataFrame, exchange: str, symbol: str, grid: pd.DataFrame, lookback_hours: float
) -> pd.DataFrame:
    """Per window, one side's settlement: the latest funding row with start < funding_time <= end.

    Columns rate, predicted, interval_hours (NaN when missing), settled (bool) and inferred: the
    settlement spacing over (end - lookback_hours, end], from the data only.
    """
    rows = funding.loc[(funding["exchange"] == exchange) & (funding["symbol"] == symbol)]
    rows = rows.sort_values("funding_time", kind="stable").drop_duplicates("funding_time", keep="last")
    t = _ns(rows["funding_time"])
    starts, ends = _ns(grid["window_start"]), _ns(grid["window_end"])
    i = np.searchsorted(t, ends, side="right") - 1
    ok = (i >= 0) & (t[i.clip(0)] > starts) if len(t) else np.zeros(len(ends), bool)
    take = i.clip(0)

    def pick(col: str) -> np.ndarray:
        values = rows[col].to_numpy(dtype=float, na_value=np.nan)
        return np.where(ok, values[take], np.nan) if len(t) else np.full(len(ends), np.nan)

    lo = np.searchsorted(t, ends - int(lookback_hours * 3.6e12), side="right")
    inferred = _rolling_spacing_hours(t, lo, i)
    return pd.DataFrame(
        {
            "rate": pick("rate"),
            "predicted": pick("predicted_rate"),
            "interval_hours": pick("interval_hours"),
            "settled": ok,
            "inferred": inferred,
        }
    )


def funding_features(
    gate: pd.DataFrame, bitfinex: pd.DataFrame, window_hours: float, fees: FeeParams
) -> pd.DataFrame:
    """Funding columns of FUNDING_FEATURES from each side's `settlements` frame.

    Each side's rate is first made a rate per window: rate x window_hours / own interval (a per-hour
    comparison, exact when both sides settle every window). So with Gate every 4 h and Bitfinex every
    8 h, Gate's last settled 4-hour rate counts twice in an 8-hour window; earlier settlements in the
    window are not summed. funding_diff = Gate per-window rate - Bitfinex per-window rate.
    carry_apr = funding_diff x 8760 / window_hours (= gate_apr - bitfinex_apr).
    net_carry_apr = |carry_apr| - round_trip x (8760 / window_hours) / holding_periods, with
    round_trip = 2 x (gate_taker + bitfinex_taker): the carry earned by being long the side with the
    lower rate and short the higher one, after opening and closing both legs once per holding period.
    break_even_periods = round_trip / |funding_diff|, NaN for a zero differential.
    """
    per_window = {
        side: frame["rate"] * (window_hours / frame["interval_hours"])
        for side, frame in (("gate", gate), ("bitfinex", bitfinex))
    }
    diff = per_window["gate"] - per_window["bitfinex"]
    carry = apr(diff, window_hours)
    fees_apr = fees.round_trip * (HOURS_PER_YEAR / window_hours) / fees.holding_periods
    long_side = np.select([diff > 0, diff < 0], ["bitfinex", "gate"], default=None)
    short_side = np.select([diff > 0, diff < 0], ["gate", "bitfinex"], default=None)
    return pd.DataFrame(
        {
            "gate_rate": gate["rate"],
            "bitfinex_rate": bitfinex["rate"],
            "gate_interval_hours": gate["interval_hours"],
            "bitfinex_interval_hours": bitfinex["interval_hours"],
            "gate_apr": apr(gate["rate"], gate["interval_hours"]),
            "bitfinex_apr": apr(bitfinex["rate"], bitfinex["interval_hours"]),
            "funding_diff": diff,
            "carry_apr": carry,
            "fees_apr": np.where(diff.notna(), fees_apr, np.nan),
            "net_carry_apr": carry.abs() - fees_apr,
            "break_even_periods": fees.round_trip / diff.abs().where(diff != 0),
            "long_side": long_side,
            "short_side": short_side,
            "gate_predicted": gate["predicted"],
            "bitfinex_predicted": bitfinex["predicted"],
            "gate_forecast_error": gate["rate"] - gate["predicted"],
            "bitfinex_forecast_error": bitfinex["rate"] - bitfinex["predicted"],
        }
    )


def price_features(gate: pd.DataFrame, bitfinex: pd.DataFrame, n: int) -> pd.DataFrame:
    """Mark spread (minutes with a mark on both sides, matched by minute) and per-side basis, in bps.

    `gate`/`bitfinex` are `side_minutes` frames (m, w, mark, index), sorted by minute; `last` is the
    value in the window's latest minute that has one.
    """
    g = gate.loc[gate["mark"].notna()]
    b = bitfinex.loc[bitfinex["mark"].notna()]
    gi, bi = match_minutes(g["m"].to_numpy(), b["m"].to_numpy())
    g_mark, b_mark = g["mark"].to_numpy()[gi], b["mark"].to_numpy()[bi]
    spread = _finite(pd.Series((g_mark - b_mark) / b_mark * 1e4))
    by = spread.groupby(g["w"].to_numpy()[gi])
    out = {
        "mark_spread_mean_bps": by.mean(),
        "mark_spread_min_bps": by.min(),
        "mark_spread_max_bps": by.max(),
        "mark_spread_last_bps": by.last(),
    }
    for side, frame in (("gate", gate), ("bitfinex", bitfinex)):
        basis = _finite((frame["mark"] - frame["index"]) / frame["index"] * 1e4).dropna()
        by = basis.groupby(frame.loc[basis.index, "w"].to_numpy())
        out[f"{side}_basis_mean_bps"] = by.mean()
        out[f"{side}_basis_last_bps"] = by.last()
    return pd.DataFrame({k: v.reindex(range(n)).to_numpy(dtype=float) for k, v in out.items()})


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 (any unit, UTC) -> int64 nanoseconds since the epoch."""
    return np.asarray(
        (pd.to_datetime(times, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64
    )


def _finite(values: pd.Series) -> pd.Series:
    return values.where(np.isfinite(values))
