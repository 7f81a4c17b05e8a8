"""The sample feed's Hyperliquid: simulated `activeAssetCtx` state, its settlements, its `SimVenue`.

Hyperliquid pays funding every hour. The rate of hour h (`hourly_rates`) follows the regime the
other venues share, at an hourly level (about 1/8 of an 8 h venue's), and sits at the interest
floor 0.0000125 (0.01 % per 8 h) when the premium is small, as Hyperliquid's clamp puts it. Within
the hour `ctx.funding` is the running estimate: it starts off the hour's rate and converges to it,
showing the exact rate in the hour's last minute. A day has a few websocket disconnects (an empty
line, then a `subscriptionResponse` per coin and a fresh state).

The messages carry no exchange time, so the record's timestamp is the local one; local times here
are whole milliseconds, so that `SymbolDay.ts_ms` (what `groundtruth.normalized` stamps rows with)
is exactly the local time. The raw lines are rendered in `loopback.hyperliquid_render`; the ground
truth (`settled`, and the CSV through `groundtruth.normalized`) comes from this state, never from
the lines.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from loopback import hyperliquid_render, paths, simulate
from loopback.paths import DAY_SECONDS, rng
from pipelines.core.columns import HYPERLIQUID
from pipelines.venues.samplekit import TICKS_PER_MS, Settled, SymbolDay, day_ms
from pipelines.venues.samplekit import Feed as SampleFeed

INTEREST = 0.0000125  # Hyperliquid's hourly interest rate: the rate when the premium stays small
HOUR = 3600
HOURS = paths.HORIZON_DAYS * 24
# Open interest in coins per unit of the asset's Bitfinex open interest, and size decimals per coin.
OI_SCALE = 8.0
SIZE_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "DOGE": 0}


@lru_cache(maxsize=64)
def hourly_rates(seed: int, coin: str) -> np.ndarray:
    """Per hour since paths.EPOCH: the rate Hyperliquid pays at the hour's end (fraction per hour)."""
    level = np.repeat(paths.regimes(seed, coin), 8) / 8
    r = rng(seed, "hyperliquid-funding", coin)
    rate = level * (1 + 0.5 * r.standard_normal(HOURS)) + 2e-6 * r.standard_normal(HOURS)
    rate = np.where(np.abs(rate - INTEREST) < 4e-6, INTEREST, rate)
    return np.round(np.clip(rate, -0.0005, 0.0005), 10) + 0.0


def sessions(seed: int, day: date) -> list[tuple[int, int]]:
    """The day's websocket sessions [start, end) in 100 ns ticks; a disconnect gap between them."""
    index = paths.day_index(day)
    r = rng(seed, "disconnects", HYPERLIQUID, index)
    downs = np.sort(r.uniform(1800, DAY_SECONDS - 1800, min(r.poisson(0.7), 2)))
    start = day_ms(day) * TICKS_PER_MS
    out, opened = [], start
    for down in downs.tolist():
        if (down - 600) * 10_000_000 > opened - start:  # keep sessions well apart
            out.append((opened, start + int(down * 1e7)))
            opened = start + int((down + r.uniform(2.0, 45.0)) * 1e7)
    out.append((opened, start + DAY_SECONDS * 10_000_000))
    return out


def hyperliquid_day(seed: int, symbol: str, day: date, interval: float) -> SymbolDay:
    """activeAssetCtx updates of one coin and day, with the sessions they were received in."""
    spec = simulate.asset_spec(symbol)
    seconds = simulate._tick_seconds(seed, HYPERLIQUID, symbol, day, interval)
    r = rng(seed, "hyperliquid-day", symbol, paths.day_index(day))
    local_ms = (
        day_ms(day)
        + np.floor(seconds * 1000).astype(np.int64)
        + simulate._latency(r, len(seconds)) // TICKS_PER_MS
    )
    local_ms = np.minimum(np.maximum.accumulate(local_ms), day_ms(day) + DAY_SECONDS * 1000 - 1)
    local = local_ms * TICKS_PER_MS
    keep, session = _connected(local, sessions(seed, day))
    seconds, local, local_ms, session = seconds[keep], local[keep], local_ms[keep], session[keep]
    values, extra = _values(seed, symbol, day, seconds, spec, r)
    reset = np.ones(len(local), bool)
    reset[1:] = session[1:] != session[:-1]
    simulate._repeat_some(r, values, ~reset)
    _drop_fields(r, values)
    extra["session"] = session
    return SymbolDay(HYPERLIQUID, symbol, day, local, local_ms, values, reset, extra)


def _connected(local: np.ndarray, live: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Mask of updates received while connected (after the subscription) and their session number."""
    starts, ends = np.array([s for s, _ in live]), np.array([e for _, e in live])
    session = np.searchsorted(starts, local, side="right") - 1
    return (local >= starts[session] + simulate.CONNECT_GUARD) & (local < ends[session]), session


def _values(seed: int, coin: str, day: date, seconds: np.ndarray, spec, r) -> tuple[dict, dict]:
    """Every derivative_ticker field per update (NaN where Hyperliquid has none), and the ignored ones."""
    hour = paths.day_index(day) * 24 + (seconds // HOUR).astype(np.int64)
    minute = np.floor(seconds % HOUR / 60)
    settle = hourly_rates(seed, coin)
    # The running estimate: off by a share of the hour's rate that shrinks to 0 in the last minute.
    wiggle = np.sin(hour * 12.9898 + minute * 78.233)
    running = np.round(settle[hour] + (1 - (minute + 1) / 60) * wiggle * (abs(settle[hour]) + 4e-6), 10) + 0.0
    digits = simulate.bitfinex_decimals(spec.price)  # Hyperliquid quotes five significant digits
    _, mark, oracle = simulate._prices(seed, HYPERLIQUID, coin, day, seconds, 1.0 + 8 * 5000 * settle[hour])
    oi = (
        spec.bitfinex_open_interest
        * OI_SCALE
        * simulate._open_interest(seed, HYPERLIQUID, coin, day, seconds)
    )
    nan = np.full(len(seconds), np.nan)
    values = {
        "funding_timestamp": nan,
        "funding_rate": running,
        "predicted_funding_rate": nan.copy(),
        "open_interest": np.round(oi, SIZE_DECIMALS.get(coin, 2)),
        "last_price": nan.copy(),
        "index_price": np.round(oracle, digits),
        "mark_price": np.round(mark, digits),
    }
    mid = np.round(mark * (1 + 0.5e-4 * r.standard_normal(len(seconds))), digits)
    return values, {
        "mid": mid,
        "digits": np.array([digits]),
        "minute_of_day": (seconds // 60).astype(np.int64),
    }


def _drop_fields(r: np.random.Generator, values: dict[str, np.ndarray]) -> None:
    """Now and then a field is missing from a ctx; the normalizer keeps its previous value."""
    for name, probability in {"funding_rate": 0.002, "open_interest": 0.01, "index_price": 0.003}.items():
        column = values[name]
        column[r.random(len(column)) < probability] = np.nan


def settled(feed: SampleFeed, symbol: str, day: date) -> Settled:
    """(T, rate, 1.0) for each hour T of `day`: the last `ctx.funding` published before T."""
    today = feed.symbol_day(HYPERLIQUID, symbol, day)
    yesterday = feed.symbol_day(HYPERLIQUID, symbol, date.fromordinal(day.toordinal() - 1))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    out = []
    for hour in range(24):
        sd = yesterday if hour == 0 else today
        end = day_ms(day) + hour * HOUR * 1000
        rates = sd.values["funding_rate"][sd.ts_ms < end]
        known = rates[~np.isnan(rates)]
        if len(known):
            out.append((start + timedelta(hours=hour), float(known[-1]), 1.0))
    return out


def lines(feed: SampleFeed, sd: SymbolDay) -> hyperliquid_render.Lines:
    """Raw replay lines of one coin-day: its updates and a subscriptionResponse per session."""
    return hyperliquid_render.symbol_lines(sd, sessions(feed.seed, sd.day))


def connection_lines(feed: SampleFeed, day: date) -> hyperliquid_render.Lines:
    """The day's disconnects (an empty line each), shared by every coin."""
    return hyperliquid_render.disconnect_lines(sessions(feed.seed, day))
