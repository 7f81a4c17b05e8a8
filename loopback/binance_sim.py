"""The sample feed's Binance USDT-M (binance-futures): simulated state and ground-truth settlements.

Per symbol and day, a `SymbolDay` of updates, each one of the three derivative-ticker streams
tardis-node reads (`kind`): a `markPriceUpdate` (mark, index, the running funding-rate estimate `r`
and the next funding time `T`), a `24hrTicker` (last price) or one of Tardis' generated
`openInterest` polls. Each update's `values` hold only its stream's fields (NaN for the others),
so `loopback.groundtruth.normalized` gives the dataset rows from this state directly.

Funding: every 8 h at 00/08/16 UTC, with three seeded episodes inside the demo range 2024-03-01..14
(`schedule`), as Binance did (pipelines/venues/binance/README.md), the first two on two different coins:

- one coin moves to 4 h funding at a funding time inside 2024-03-04..10 (`switch`);
- another moves to 4 h in the middle of a period (`mid_switch`), as LPTUSDT on 2023-08-13 10:30:
  `T` moves back (16:00 -> 12:00), and the first 4 h settlement pays for the time since the
  last 8 h one;
- that coin later goes hourly at a 4 h funding time and back to 4 h at minute 1..15 past a 4 h
  funding time (`hourly`, Binance 2026-01-02: "no later than :15 past the hour"); for 2..6 minutes
  after the revert `T` still shows the abandoned hourly time (the stale next funding time).

The rate settled at T is tabulated (`settled_rate`, Binance's premium plus the clamped interest
difference, scaled to the hours since the previous settlement); `r` starts the period away from it
and holds it for the period's last 30 minutes, so the last estimate before T is the settled rate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from loopback import binance_render, paths, render, simulate
from loopback.paths import DAY_SECONDS, rng
from pipelines.core.columns import BINANCE
from pipelines.venues.samplekit import TICKS_PER_MS, SymbolDay, day_ms

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT")
MARK_PRICE, TICKER, OPEN_INTEREST = 0, 1, 2  # `kind` of an update
HOUR_MS = 3_600_000
SLOT_MS = 4 * HOUR_MS  # funding values are tabulated per 4 h slot since paths.EPOCH
_EPOCH_MS = day_ms(paths.EPOCH)
_SWITCH_FIRST_DAY = date(2024, 3, 4)  # the move to 4 h lands on one of the 7 days from here
HOLD_MS = 30 * 60_000  # r equals the settled rate over the period's last 30 minutes


def asset(symbol: str) -> str:
    return symbol.removesuffix("USDT")


@lru_cache(maxsize=16)
def switch(seed: int) -> tuple[str, int]:
    """(symbol, funding time in ms) from which that default coin pays funding every 4 h."""
    r = rng(seed, "binance-4h")
    symbol = SYMBOLS[int(r.integers(len(SYMBOLS)))]
    day = _SWITCH_FIRST_DAY.toordinal() + int(r.integers(7))
    return symbol, day_ms(date.fromordinal(day)) + 8 * HOUR_MS * int(r.integers(3))


@lru_cache(maxsize=16)
def mid_switch(seed: int) -> tuple[str, int]:
    """(symbol, ms) at which another coin moves from 8 h to 4 h between two funding times: 1 h to
    3 h 59 min into an 8 h period, so its next funding time moves back by 4 h."""
    r = rng(seed, "binance-4h-mid")
    others = [s for s in SYMBOLS if s != switch(seed)[0]]
    symbol = others[int(r.integers(len(others)))]
    day = date(2024, 3, 2).toordinal() + int(r.integers(5))
    period = 8 * HOUR_MS * int(r.integers(3))
    return symbol, day_ms(date.fromordinal(day)) + period + 60_000 * int(60 + r.integers(180))


@lru_cache(maxsize=16)
def hourly(seed: int) -> tuple[str, int, int, int]:
    """(symbol, first hourly period start, revert ms, stale end ms) of the `mid_switch` coin's
    hourly episode: hourly from a 4 h funding time for 4, 8 or 12 h, back to 4 h at 1..15 min past
    the last hourly settlement; its stream shows that hour + 1 h until the stale end."""
    r = rng(seed, "binance-1h")
    symbol, mid = mid_switch(seed)
    first = (mid // SLOT_MS + 12 + int(r.integers(30))) * SLOT_MS  # 2..7 days on, ends by 03-14
    last = first + SLOT_MS * int(1 + r.integers(3))
    revert = last + 60_000 * int(1 + r.integers(15))
    return symbol, first, revert, revert + 60_000 * int(2 + r.integers(5))


def schedule(seed: int, symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(start ms, funding step ms) of the symbol's schedules, oldest first. The schedule starting
    at s_i settles at its step's multiples in (s_i, s_i+1]; a switch at a funding time keeps it."""
    starts, steps = [-(2**62)], [8 * HOUR_MS]
    moved, at = switch(seed)
    if symbol == moved:
        starts, steps = [*starts, at], [*steps, SLOT_MS]
    name, mid = mid_switch(seed)
    if symbol == name:
        _, first, revert, _ = hourly(seed)
        starts, steps = [*starts, mid, first, revert], [*steps, SLOT_MS, HOUR_MS, SLOT_MS]
    return np.array(starts, dtype=np.int64), np.array(steps, dtype=np.int64)


def funding_times(seed: int, symbol: str, lo: int, hi: int) -> np.ndarray:
    """The symbol's settlement times (ms) in [lo, hi], from its schedules."""
    starts, steps = schedule(seed, symbol)
    ends = np.r_[starts[1:], np.int64(2**62)]
    out = []
    for start, end, step in zip(starts.tolist(), ends.tolist(), steps.tolist(), strict=True):
        first, last = max(start, lo - 1) // step + 1, min(end, hi) // step
        out.append(np.arange(first, last + 1, dtype=np.int64) * step)
    return np.concatenate(out)


def next_funding(seed: int, symbol: str, ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per exchange time (ms): the next funding time its stream shows and that period's hours
    (since the previous settlement). In the stale minutes after the hourly revert, the abandoned
    hourly time is shown, with hours 1."""
    starts, steps = schedule(seed, symbol)
    step = steps[np.searchsorted(starts, ms, side="right") - 1]
    due = (ms // step + 1) * step
    times = funding_times(seed, symbol, int(ms.min()) - 8 * HOUR_MS, int(ms.max()))
    previous = times[np.searchsorted(times, ms, side="right") - 1]
    hours = (due - previous) // HOUR_MS
    name, _, revert, stale = hourly(seed)
    if symbol == name:
        late = (ms >= revert) & (ms < stale)
        due, hours = np.where(late, (ms // HOUR_MS + 1) * HOUR_MS, due), np.where(late, 1, hours)
    return due, hours


@lru_cache(maxsize=64)
def _premiums(seed: int, asset_name: str) -> np.ndarray:
    """Binance's premium per 4 h slot since EPOCH, on the shared 8 h regimes (fraction per 8 h)."""
    level = np.repeat(paths.regimes(seed, asset_name), 2)
    r = rng(seed, "binance-funding", asset_name)
    count = len(level)
    premium = level * (1 + 0.6 * r.standard_normal(count)) + 0.00005 * r.standard_normal(count)
    return premium + paths._outliers(r, count, 0.015, 0.0008, 0.003)


def settled_rate(seed: int, asset_name: str, end_ms: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """The rate settled at `end_ms` for a period of `hours`: premium + clamp(interest - premium),
    interest 0.01 % and clamp 0.05 % per 8 h, both scaled to the period (Binance's formula)."""
    scale = hours / 8
    premium = _premiums(seed, asset_name)[(end_ms - _EPOCH_MS) // SLOT_MS - 1] * scale
    rate = premium + np.clip(0.0001 * scale - premium, -0.0005 * scale, 0.0005 * scale)
    return np.round(np.clip(rate, -0.003, 0.003), 8) + 0.0


def binance_day(seed: int, symbol: str, day: date, interval: float) -> SymbolDay:
    """One USDT perpetual's markPrice, ticker and openInterest updates of `day`."""
    name = asset(symbol)
    spec = simulate.asset_spec(name)
    seconds = simulate._tick_seconds(seed, BINANCE, symbol, day, interval)
    count = len(seconds)
    r = rng(seed, "binance-day", symbol, paths.day_index(day))
    kind = r.choice(3, count, p=(0.5, 0.35, 0.15))
    kind[:3] = (MARK_PRICE, TICKER, OPEN_INTEREST)  # the day's file starts with every field
    true_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    funding_ms, hours = next_funding(seed, symbol, true_ms)
    rate = _estimates(seed, name, day, seconds, true_ms, funding_ms, hours)
    _, mark, index = simulate._prices(seed, BINANCE, name, day, seconds, 1.0 + 5000 * rate)
    digits = simulate.gate_decimals(spec.price)
    last = np.round(mark * (1 + 1.2e-4 * r.standard_normal(count)), digits)
    oi = np.round(
        spec.bitfinex_open_interest * 4 * simulate._open_interest(seed, BINANCE, name, day, seconds), 3
    )
    # markPrice@1s is pushed on the second; the other streams carry their own times.
    event_ms = np.where(kind == MARK_PRICE, true_ms // 1000 * 1000, true_ms)
    local = true_ms * TICKS_PER_MS + simulate._latency(r, count)
    local[-1] = min(local[-1], (day_ms(day) + DAY_SECONDS * 1000) * TICKS_PER_MS - 1)
    is_mark, nan = kind == MARK_PRICE, np.nan
    values = {
        "funding_timestamp": np.where(is_mark, funding_ms * 1000.0, nan),
        "funding_rate": np.where(is_mark, rate, nan),
        "predicted_funding_rate": np.full(count, nan),
        "open_interest": np.where(kind == OPEN_INTEREST, oi, nan),
        "last_price": np.where(kind == TICKER, last, nan),
        "index_price": np.where(is_mark, np.round(index, 8), nan),
        "mark_price": np.where(is_mark, np.round(mark, 8), nan),
    }
    # openInterest polls carry no event time: tardis-node keeps the symbol's time (0 never wins cummax).
    ts_ms = np.where(kind == OPEN_INTEREST, 0, event_ms)
    extra = {"kind": kind, "event_ms": event_ms, "funding_ms": funding_ms, "digits": np.array([digits])}
    return SymbolDay(BINANCE, symbol, day, local, ts_ms, values, np.zeros(count, bool), extra)


def _estimates(seed, name, day, seconds, true_ms, funding_ms, hours) -> np.ndarray:
    """`r` per update: the settled rate of its period plus a wander that fades toward T, and exactly
    the settled rate over the period's last 30 minutes."""
    final = settled_rate(seed, name, funding_ms, hours)
    left = (funding_ms - true_ms) / (hours * HOUR_MS)
    wander = paths.smooth_noise(seed, f"binance-r:{name}", day, (1800.0,))
    second = np.minimum(seconds.astype(np.int64), DAY_SECONDS - 1)
    rate = final + 0.00015 * np.sqrt(hours / 8) * left * wander[second]
    return np.round(np.where(funding_ms - true_ms <= HOLD_MS, final, rate), 8) + 0.0


def settled(seed: int, symbol: str, day: date) -> list[tuple[datetime, float, float]]:
    """(funding time, settled rate, interval hours) of the funding times within `day`, from the
    schedule and the tabulated rates (never from rendered lines); the interval is the time since
    the previous settlement."""
    start = day_ms(day)
    times = funding_times(seed, symbol, start - 8 * HOUR_MS, start + DAY_SECONDS * 1000 - 1)
    hours = np.diff(times) // HOUR_MS
    times = times[1:]
    keep = times >= start
    times, hours = times[keep], hours[keep]
    rates = settled_rate(seed, asset(symbol), times, hours)
    moment = datetime(1970, 1, 1, tzinfo=UTC)
    return [
        (moment + timedelta(milliseconds=int(t)), float(rate), float(h))
        for t, rate, h in zip(times.tolist(), rates.tolist(), hours.tolist(), strict=True)
    ]


def lines(sd: SymbolDay) -> render.Lines:
    """Raw replay lines of one symbol-day (`loopback.binance_render`)."""
    return binance_render.symbol_lines(sd)
