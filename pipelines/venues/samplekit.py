"""What a venue's sample feed is made of: the venues-layer half of the loopback Tardis server.

A venue with a sample feed declares `Venue.sample` (its `sample` module) and that module's `SAMPLE`,
a `SimVenue`: how the feed simulates one symbol-day (`SymbolDay`), renders its raw replay lines and
states the ground-truth settlements. The loopback server (`loopback.generator.SampleFeed`) stores,
slices and serves what these return, and finds them through `pipelines.venues.registry`. Everything a
`SimVenue` returns is a pure function of the feed's seed, interval and symbols and of the day, so a
day generated alone equals the same day inside a range.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np

UNIX_EPOCH = date(1970, 1, 1)
TICKS_PER_MS = 10_000  # local timestamps count 100 ns ticks, like Tardis' 7-digit fraction
DAY_MS = 86_400_000

Lines = tuple[np.ndarray, list[str]]  # local timestamps (100 ns) and the matching lines
# (funding time, settled rate, funding interval hours of that settlement)
Settled = list[tuple[datetime, float, float]]
# The loopback `SampleFeed` a venue's callables receive (seed, symbols, `symbol_day`, ...): typed
# loosely here, since the venues layer may not import the loopback one above it.
Feed = Any


@dataclass
class SymbolDay:
    """One symbol's updates on one day, in local-time order, and the extra raw-message facts."""

    exchange: str
    symbol: str
    day: date
    local: np.ndarray  # int64, 100 ns since 1970
    ts_ms: np.ndarray  # int64, exchange timestamp used by normalization (ms)
    values: dict[str, np.ndarray]  # VALUE_FIELDS name -> float64 (NaN = absent)
    reset: np.ndarray  # bool: normalizer state is rebuilt before this update (new connection)
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # renderer-only columns


@dataclass(frozen=True)
class SimVenue:
    """The sample feed's side of one venue."""

    exchange: str
    symbols: tuple[str, ...]  # served by default: the USDT perpetuals of BTC, ETH, SOL, DOGE
    pattern: str  # regular expression every served symbol matches
    # (seed, interval seconds, symbol, day, symbol's position in the feed) -> its updates that day
    day: Callable[[int, float, str, date, int], SymbolDay]
    # (feed, one symbol-day) -> its raw replay lines
    lines: Callable[[Feed, SymbolDay], Lines]
    # (feed, symbol, day) -> the settlements with funding times in that UTC day, from the state
    settled: Callable[[Feed, str, date], Settled]
    # (feed, day) -> connection-level lines of the day (subscriptions, info events), if any
    connection_lines: Callable[[Feed, date], Lines] | None = None
    # (feed, 100 ns time, symbol numbers or None) -> subscription lines a replay starting then opens with
    preamble: Callable[[Feed, int, list[int] | None], bytes] | None = None

    def matches(self, symbol: str) -> bool:
        """Whether `symbol` is spelled as this venue's served symbols are."""
        return re.fullmatch(self.pattern, symbol) is not None


def day_ms(day: date) -> int:
    """Milliseconds since 1970 at midnight UTC of `day`."""
    return (day - UNIX_EPOCH).days * DAY_MS


def js_number(x: float) -> str:
    """Shortest round-trip decimal, no exponent, no trailing `.0` (`61990`, `0.00005`)."""
    text = repr(x)
    if text.endswith(".0"):
        return text[:-2]
    if "e" in text:
        return np.format_float_positional(x, trim="-")
    return text


def strings(column: np.ndarray, fmt) -> list[str]:
    """`fmt` applied to every value, computing each distinct value once."""
    unique, inverse = np.unique(column, return_inverse=True)
    texts = [fmt(v) for v in unique.tolist()]
    return [texts[i] for i in inverse.tolist()]


def fixed(column: np.ndarray, digits: int) -> list[str]:
    """Every value with `digits` decimals."""
    return [f"{v:.{digits}f}" for v in column.tolist()]


def prefixes(local: np.ndarray, day: date) -> list[str]:
    """`2024-03-01T08:00:00.1234567Z ` for local times within `day`."""
    clock = _clock()
    head = f"{day.isoformat()}T"
    offset = (local - day_ms(day) * TICKS_PER_MS).tolist()
    return [f"{head}{clock[t // 10_000_000]}{t % 10_000_000:07d}Z " for t in offset]


@lru_cache(maxsize=1)
def _clock() -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86_400)]
