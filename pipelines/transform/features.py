"""Window features: minute history + settlements -> one row per pair and funding window. Pure pandas.

Every public function is `DataFrame -> DataFrame` (or a value): no file, clock or settings lookup, and
inputs are never mutated. Metric definitions follow docs/design.md; where the design leaves a choice
open, the docstring of the function making it says what was chosen and why.

Units: rates and APRs are fractions (0.0001 = 0.01 % per period, 0.25 = 25 % APR); spreads and basis
are basis points; durations are minutes or hours as the column name says. Z-scores, flags and the
features hash, which look across windows, are added by `pipelines.transform.scoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.core.columns import SIDES
from pipelines.core.units import HOURS_PER_YEAR, apr
from pipelines.core.window import Window
from pipelines.core.window_columns import IDENTITY, KEYS, KIND_COLUMNS, WINDOW_FEATURES
from pipelines.transform.legs import LegParams, leg_settlements
from pipelines.transform.quality import (
    QualityParams,
    match_minutes,
    quality_features,
    side_minutes,
    window_warnings,
)

# Kinds whose forecast error says something: "settled" is 0 by construction, "mixed" sums unlike
# errors. An unknown kind (None: rows stored before kinds were recorded) keeps its error as before.
FORECAST_KINDS = frozenset({"estimate", "forecast", None})


@dataclass(frozen=True)
class PairParams:
    """A pair's name, its two legs (in order: a, b) and its window length in hours."""

    name: str
    legs: tuple[LegParams, LegParams]
    window_hours: float = 8


@dataclass(frozen=True)
class FeeParams:
    """Taker fee per fill of each leg (fraction of notional) and the holding period fees are
    amortized over."""

    a_taker: float
    b_taker: float
    holding_periods: float

    @property
    def round_trip(self) -> float:
        """Open and close on both legs: 2 x (a_taker + b_taker)."""
        return 2 * (self.a_taker + self.b_taker)


def window_features(
    minutes: pd.DataFrame,
    funding: pd.DataFrame,
    pair: PairParams,
    fees: FeeParams,
    quality: QualityParams,
    windows: Sequence[Window],
) -> pd.DataFrame:
    """One row per window: KEYS + IDENTITY + WINDOW_FEATURES + KIND_COLUMNS + `complete` (bool) +
    `warnings`.

    `minutes` needs exchange, symbol, ts (minute start, UTC), mark_price, index_price; a minute belongs
    to the window with start <= ts < end. `funding` needs the FUNDING columns, including settlements
    up to `quality.interval_lookback_hours` before the first window (interval inference). Windows must
    not overlap. A window is complete when each leg's settlements in it cover the window (their
    intervals add up to its hours), none of them is a hint (`evidence` "hint": it rests on the
    configured interval alone), and each leg has a mark price in at least `min_coverage` of its
    minutes. `warnings` carries each settlement's own `warning` too.
    """
    grid = pd.DataFrame(
        {
            "pair": pair.name,
            "window_start": pd.to_datetime([w.start for w in windows], utc=True),
            "window_end": pd.to_datetime([w.end for w in windows], utc=True),
        }
    ).sort_values("window_end", ignore_index=True)
    legs = dict(zip(SIDES, pair.legs, strict=True))
    sides = {s: side_minutes(minutes, leg.exchange, leg.symbol, grid) for s, leg in legs.items()}
    settled = {
        s: leg_settlements(funding, leg, grid, quality.interval_lookback_hours) for s, leg in legs.items()
    }
    hours = ((grid["window_end"] - grid["window_start"]) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    identity = {f"{s}_{key}": getattr(leg, key) for s, leg in legs.items() for key in ("exchange", "symbol")}
    out = pd.concat(
        [
            grid.assign(**identity, window_hours=hours),
            funding_features(settled["a"], settled["b"], hours, fees),
            price_features(sides["a"], sides["b"], len(grid)),
            quality_features(sides, grid),
            pd.DataFrame({f"{s}_settled": settled[s]["settled"] for s in SIDES}),
            pd.DataFrame({f"{s}_interval_inferred_hours": settled[s]["inferred"] for s in SIDES}),
            pd.DataFrame({f"{s}_predicted_kind": settled[s]["kind"] for s in SIDES}, dtype=object),
        ],
        axis=1,
    )
    # A settlement guessed from the configuration never makes a window complete.
    known = {s: np.isclose(settled[s]["covered_hours"], hours) & (settled[s]["hints"] == 0) for s in SIDES}
    coverage = np.minimum(out["a_minutes"], out["b_minutes"]) / out["expected_minutes"]
    complete = known["a"] & known["b"] & (coverage >= quality.min_coverage)
    warnings = window_warnings(out, legs, settled, quality)
    return out.assign(complete=complete, warnings=warnings)[
        [*KEYS, *IDENTITY, *WINDOW_FEATURES, *KIND_COLUMNS, "complete", "warnings"]
    ]


def funding_features(a: pd.DataFrame, b: pd.DataFrame, window_hours, fees: FeeParams) -> pd.DataFrame:
    """Funding columns of FUNDING_FEATURES from each leg's `leg_settlements` frame.

    Each leg's rate is the sum of its settlements in the window (fraction per window): with Gate
    every 4 h and Bitfinex every 8 h, Gate's two settlements in an 8-hour window are added.
    funding_diff = a rate - b rate. carry_apr = funding_diff x 8760 / window_hours (= a_apr - b_apr).
    net_carry_apr = |carry_apr| - round_trip x (8760 / window_hours) / holding_periods, with
    round_trip = 2 x (a_taker + b_taker): the carry earned by being long the leg with the lower
    rate and short the higher one, after opening and closing both legs once per holding period.
    break_even_periods = round_trip / |funding_diff|, NaN for a zero differential.
    forecast_error = rate - predicted, NaN where the leg's kind (`a["kind"]`) is not in
    FORECAST_KINDS: Gate's "settled" prediction is the settled rate, so its error is 0 by
    construction and would read as a perfect forecast.
    """
    diff = a["rate"] - b["rate"]
    carry = apr(diff, window_hours)
    fees_apr = fees.round_trip * (HOURS_PER_YEAR / window_hours) / fees.holding_periods
    return pd.DataFrame(
        {
            "a_rate": a["rate"],
            "b_rate": b["rate"],
            "a_interval_hours": a["interval_hours"],
            "b_interval_hours": b["interval_hours"],
            "a_apr": apr(a["rate"], window_hours),
            "b_apr": apr(b["rate"], window_hours),
            "funding_diff": diff,
            "carry_apr": carry,
            "fees_apr": np.where(diff.notna(), fees_apr, np.nan),
            "net_carry_apr": carry.abs() - fees_apr,
            "break_even_periods": fees.round_trip / diff.abs().where(diff != 0),
            "long_side": np.select([diff > 0, diff < 0], ["b", "a"], default=None),
            "short_side": np.select([diff > 0, diff < 0], ["a", "b"], default=None),
            "a_predicted": a["predicted"],
            "b_predicted": b["predicted"],
            "a_forecast_error": forecast_error(a),
            "b_forecast_error": forecast_error(b),
        }
    )


def forecast_error(leg: pd.DataFrame) -> pd.Series:
    """settled - predicted of a `leg_settlements` frame, NaN where its kind means no forecast."""
    meaningful = leg["kind"].map(lambda k: k in FORECAST_KINDS).astype(bool)
    return (leg["rate"] - leg["predicted"]).where(meaningful)


def price_features(a: pd.DataFrame, b: pd.DataFrame, n: int) -> pd.DataFrame:
    """Mark spread (minutes with a mark on both legs, matched by minute) and per-leg basis, in bps.

    `a`/`b` are `side_minutes` frames (m, w, mark, index), sorted by minute; `last` is the value in
    the window's latest minute that has one.
    """
    am, bm = a.loc[a["mark"].notna()], b.loc[b["mark"].notna()]
    ai, bi = match_minutes(am["m"].to_numpy(), bm["m"].to_numpy())
    a_mark, b_mark = am["mark"].to_numpy()[ai], bm["mark"].to_numpy()[bi]
    spread = _finite(pd.Series((a_mark - b_mark) / b_mark * 1e4))
    by = spread.groupby(am["w"].to_numpy()[ai])
    out = {
        "mark_spread_mean_bps": by.mean(),
        "mark_spread_min_bps": by.min(),
        "mark_spread_max_bps": by.max(),
        "mark_spread_last_bps": by.last(),
    }
    for side, frame in (("a", a), ("b", b)):
        basis = _finite((frame["mark"] - frame["index"]) / frame["index"] * 1e4).dropna()
        by = basis.groupby(frame.loc[basis.index, "w"].to_numpy())
        out[f"{side}_basis_mean_bps"] = by.mean()
        out[f"{side}_basis_last_bps"] = by.last()
    return pd.DataFrame({k: v.reindex(range(n)).to_numpy(dtype=float) for k, v in out.items()})


def _finite(values: pd.Series) -> pd.Series:
    return values.where(np.isfinite(values))
