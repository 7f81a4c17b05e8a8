"""`arbdb screen`: where the carry is, before a pair is configured. Pure pandas.

For every coin and every two watched venues with stored settlements for it, windows of the longer
usual interval over the range; each leg's settlements in a window are summed as the windows stage
does (`pipelines.transform.legs`), and the venue pair is ranked by the mean net carry APR of trading
the sign of its mean differential, with its stability and data coverage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

import numpy as np
import pandas as pd

from pipelines.config.pairs import Leg, Market, Pair
from pipelines.core.units import HOURS_PER_YEAR
from pipelines.core.window import windows_between
from pipelines.transform.legs import LegParams, leg_settlements

COLUMNS = (
    "coin",
    "legs",  # "Gate - Bitfinex": leg a - leg b
    "leg_a",  # exchange:symbol
    "leg_b",
    "short",  # the venue paying more on average (the differential's sign): short it, long the other
    "long",
    "window_hours",
    "windows",  # windows where both legs settled in full
    "windows_in_range",
    "coverage",  # windows / windows_in_range
    "mean_diff",  # mean of a_rate - b_rate, fraction per window
    "mean_carry_apr",  # mean |carry| in the mean's direction, before fees
    "fees_apr",
    "mean_net_carry_apr",  # mean_carry_apr - fees_apr: the ranking
    "std_carry_apr",  # sample std of the per-window carry APR
    "share_with_sign",  # share of windows whose differential has the sign of the mean
)


@dataclass(frozen=True)
class ScreenLeg:
    """A watched leg of one coin, its usual interval and taker fee."""

    coin: str
    leg: Leg
    taker_fee: float


def coin_legs(pairs: Sequence[Pair], markets: Sequence[Market]) -> dict[str, list[Leg]]:
    """The watched legs of every coin, markets first: a market names its coin, a pair's leg is the
    coin its venue spells in the symbol (or the market coin that lists that leg). A leg a pair
    configures an interval for keeps it, as in `Settings.watched_legs`."""
    configured = {leg[:2]: leg for pair in pairs for leg in pair.legs}
    coins = {leg[:2]: m.coin.upper() for m in markets for leg in m.legs()}
    out: dict[str, dict[tuple[str, str], Leg]] = {}
    for leg in [*(leg for m in markets for leg in m.legs()), *configured.values()]:
        coin = coins.get(leg[:2]) or (leg.venue.coin_of(leg.symbol) or leg.symbol).upper()
        out.setdefault(coin, {}).setdefault(leg[:2], configured.get(leg[:2], leg))
    return {coin: list(legs.values()) for coin, legs in out.items()}


def screen(
    funding: pd.DataFrame, legs: Sequence[ScreenLeg], start: datetime, end: datetime, holding_periods: float
) -> pd.DataFrame:
    """COLUMNS per coin and two legs on different venues that both have settlements in `funding`
    (the FUNDING columns, funding_time datetime64 UTC), windows ending in (start, end]; best mean
    net carry APR first (NaN last)."""
    stored = set(zip(funding["exchange"], funding["symbol"], strict=True))
    rows = []
    for coin in dict.fromkeys(s.coin for s in legs):
        have = [s for s in legs if s.coin == coin and s.leg[:2] in stored]
        for a, b in combinations(have, 2):
            if a.leg.exchange != b.leg.exchange:
                rows.append(venue_pair(funding, a, b, start, end, holding_periods))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(
        "mean_net_carry_apr", ascending=False, na_position="last", kind="stable"
    ).reset_index(drop=True)


def venue_pair(
    funding: pd.DataFrame, a: ScreenLeg, b: ScreenLeg, start: datetime, end: datetime, holding_periods: float
) -> dict:
    """One row of COLUMNS: legs a and b over windows of the longer of their usual intervals."""
    hours = max(a.leg.hours, b.leg.hours)
    grid = _grid(start, end, hours)
    settled = [leg_settlements(funding, _params(s.leg), grid, 0) for s in (a, b)]
    # As a complete window: both legs settled in full, none of it guessed from the configuration.
    both = np.logical_and.reduce([np.isclose(s["covered_hours"], hours) & (s["hints"] == 0) for s in settled])
    diff = (settled[0]["rate"] - settled[1]["rate"]).to_numpy()[both]
    fees_apr = 2 * (a.taker_fee + b.taker_fee) * (HOURS_PER_YEAR / hours) / holding_periods
    figures = carry_figures(diff, hours, fees_apr)
    short, long = (a, b) if figures["direction"] >= 0 else (b, a)
    return {
        "coin": a.coin,
        "legs": f"{a.leg.label} - {b.leg.label}",
        "leg_a": f"{a.leg.exchange}:{a.leg.symbol}",
        "leg_b": f"{b.leg.exchange}:{b.leg.symbol}",
        "short": short.leg.label if len(diff) else None,
        "long": long.leg.label if len(diff) else None,
        "window_hours": hours,
        "windows": len(diff),
        "windows_in_range": len(grid),
        "coverage": len(diff) / len(grid) if len(grid) else np.nan,
        "fees_apr": fees_apr,
        **{k: v for k, v in figures.items() if k != "direction"},
    }


def carry_figures(diff: np.ndarray, hours: float, fees_apr: float) -> Mapping[str, float]:
    """Mean differential, and the carry of trading its sign: mean and sample std of the per-window
    carry APR (differential x sign x 8760 / hours), net of `fees_apr`, and the share of windows
    whose differential has that sign. NaN without windows (std: below two)."""
    if not len(diff):
        nan = float("nan")
        keys = ("mean_diff", "mean_carry_apr", "mean_net_carry_apr", "std_carry_apr", "share_with_sign")
        return {"direction": 0.0, **dict.fromkeys(keys, nan)}
    mean = float(diff.mean())
    direction = 1.0 if mean >= 0 else -1.0
    carry = diff * direction * HOURS_PER_YEAR / hours
    return {
        "direction": direction,
        "mean_diff": mean,
        "mean_carry_apr": float(carry.mean()),
        "mean_net_carry_apr": float(carry.mean()) - fees_apr,
        "std_carry_apr": float(carry.std(ddof=1)) if len(carry) > 1 else float("nan"),
        "share_with_sign": float((np.sign(diff) == np.sign(mean)).mean()),
    }


def _grid(start: datetime, end: datetime, hours: float) -> pd.DataFrame:
    windows = windows_between(start, end, hours)
    return pd.DataFrame(
        {
            "window_start": pd.to_datetime([w.start for w in windows], utc=True),
            "window_end": pd.to_datetime([w.end for w in windows], utc=True),
        }
    )


def _params(leg: Leg) -> LegParams:
    return LegParams(leg.exchange, leg.symbol, leg.label, leg.interval_hours)
