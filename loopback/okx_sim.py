"""The sample feed's OKX swaps (`okex-swap`): the simulated state of one swap-day and its settlements.

Each swap publishes, per update tick, on the V5 channels tardis-node reads: `mark-price` every tick,
`index-tickers` (its index `BTC-USDT`) most ticks, `tickers`, `open-interest` (whose `ts` lags by up
to 2.5 s: exchange times out of order) and `funding-rate` now and then. A `SymbolDay` row is one swap
update (index updates emit no row; their price rides on the swap's later updates, as tardis-node
attaches it). Funding follows OKX's `next_period` method: `fundingRate` is the rate settled at
`fundingTime`, fixed for the whole period, and `nextFundingRate` the forecast of the next period,
converging on it. Funding is every 8 h, except the feed's second symbol, which moves to 4 h at
00:00 UTC of a seeded day of the sample range (`switch_day`), as OKX moves coins between intervals.

Ground truth (`okx_settled`, and the CSV via `groundtruth.normalized`) comes from this state only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from loopback import paths
from loopback.paths import DAY_SECONDS, rng
from loopback.simulate import (
    TICKS_PER_MS,
    UNIX_EPOCH,
    SymbolDay,
    _latency,
    _open_interest,
    _prices,
    _tick_seconds,
    asset_spec,
    day_ms,
    gate_decimals,
)
from pipelines.columns import OKX

SAMPLE_FIRST_DAY = date(2024, 3, 2)  # the switch falls within the demo's 14 days from 2024-03-01
SWITCH_SPAN_DAYS = 12
SWITCHING_POSITION = 1  # the feed's second symbol (ETH by default) switches from 8 h to 4 h
HOUR = 3600
# Channel offsets from the tick (ms): the mark first, so a day starts with an exchange time.
OFFSETS_MS = {"mark": 0, "index": 100, "tickers": 200, "funding": 400, "oi": 600}
SHARE = {"index": 0.8, "tickers": 0.7, "funding": 0.25, "oi": 0.3}  # of ticks, the first always
RATE_CAP = 0.00375  # OKX's funding cap for the majors (0.375 %)


def asset_of(symbol: str) -> str:
    """`BTC-USDT-SWAP` -> `BTC`."""
    return symbol.split("-")[0]


def switch_day(seed: int) -> date:
    """The day (from 00:00 UTC) the switching symbol funds every 4 h instead of 8 h."""
    return SAMPLE_FIRST_DAY + timedelta(days=int(rng(seed, "okx-switch").integers(0, SWITCH_SPAN_DAYS)))


def _unix(day: date) -> int:
    return (day - UNIX_EPOCH).days * DAY_SECONDS


def next_funding(seed: int, position: int, seconds: np.ndarray) -> np.ndarray:
    """The funding time (unix seconds) strictly after each time: 8 h steps, 4 h from the switch."""
    eight = (np.floor(seconds / (8 * HOUR)) + 1) * 8 * HOUR
    if position != SWITCHING_POSITION:
        return eight
    four = (np.floor(seconds / (4 * HOUR)) + 1) * 4 * HOUR
    return np.where(seconds >= _unix(switch_day(seed)), four, eight)


def _interval_hours(seed: int, position: int, funding: float) -> float:
    """Hours of the period ending at `funding` (unix seconds)."""
    return 4.0 if position == SWITCHING_POSITION and funding > _unix(switch_day(seed)) else 8.0


def settled_rate(seed: int, asset: str, funding: float) -> float:
    """The rate OKX settles at `funding` (unix seconds): the shared regime level plus noise."""
    period = int((funding - 1 - _unix(paths.EPOCH)) // (8 * HOUR))  # the 8 h period it closes
    level = paths.regimes(seed, asset)[period]
    n = rng(seed, "okx-funding", asset, int(funding // HOUR)).standard_normal(2)
    rate = level * (0.8 + 0.3 * n[0]) + 0.00002 * n[1]
    return float(np.round(np.clip(rate, -RATE_CAP, RATE_CAP), 10)) + 0.0


def _rates(seed: int, asset: str, funding: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(funding, return_inverse=True)
    return np.array([settled_rate(seed, asset, t) for t in unique.tolist()])[inverse]


def _channel_ticks(r: np.random.Generator, seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Tick seconds of each channel's updates (offset from the tick), the day's first tick always."""
    out = {"mark": seconds.copy()}
    for name, share in SHARE.items():
        chosen = r.random(len(seconds)) < share
        chosen[0] = True
        out[name] = seconds[chosen] + OFFSETS_MS[name] / 1000
    return out


def okx_day(seed: int, symbol: str, day: date, interval: float, position: int) -> SymbolDay:
    """One swap's updates on one day (rows in local-time order) and its index updates (`extra`)."""
    asset, spec = asset_of(symbol), asset_spec(asset_of(symbol))
    digits = gate_decimals(spec.price)
    r = rng(seed, "okx-day", symbol, paths.day_index(day))
    ticks = _channel_ticks(r, _tick_seconds(seed, OKX, symbol, day, interval))
    kinds = ("mark", "tickers", "oi", "funding")
    seconds = np.concatenate([ticks[k] for k in kinds])
    kind = np.concatenate([np.full(len(ticks[k]), i) for i, k in enumerate(kinds)])
    ts_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    local = ts_ms * TICKS_PER_MS + _latency(r, len(seconds))
    order = np.argsort(local, kind="stable")
    keep = order[local[order] < (day_ms(day) + DAY_SECONDS * 1000) * TICKS_PER_MS]
    seconds, kind, ts_ms, local = seconds[keep], kind[keep], ts_ms[keep], local[keep]
    funding = next_funding(seed, position, _unix(day) + seconds)
    following = next_funding(seed, position, funding)
    values = _values(seed, asset, day, seconds, kind, (funding, following), r, digits)
    index = _index_updates(seed, asset, day, ticks["index"], r, digits)
    values["index_price"] = _attach(index, local)
    lagging = (kind == 2) & (seconds > 60) & (seconds < DAY_SECONDS - 60)  # OKX's OI snapshot lags
    ts_ms = np.where(lagging, ts_ms - r.integers(0, 2500, len(ts_ms)), ts_ms)
    # A funding-rate item carries no time tardis-node reads: it never moves the exchange time.
    used_ms = np.where(kind == 3, 0, ts_ms)
    extra = {"kind": kind, "ts": ts_ms, "next_funding_ms": following * 1000, "seconds": seconds}
    extra.update({f"index_{k}": v for k, v in index.items()})
    return SymbolDay(OKX, symbol, day, local, used_ms, values, np.zeros(len(local), bool), extra)


def _values(seed, asset, day, seconds, kind, times, r, digits) -> dict[str, np.ndarray]:
    """VALUE_FIELDS per update: only the fields of its channel, NaN elsewhere. `times`: the funding
    time after each update and the one after that (unix seconds)."""
    spec, (funding, following) = asset_spec(asset), times
    _, mark, _ = _prices(seed, OKX, asset, day, seconds, np.zeros(len(seconds)))
    last = mark * (1 + 1.2e-4 * r.standard_normal(len(seconds)))
    oi = np.round(spec.gate_open_interest / 10 * _open_interest(seed, OKX, asset, day, seconds))
    fraction = 1 - (funding - _unix(day) - seconds) / (8 * HOUR)
    forecast = _rates(seed, asset, following) + 0.00005 * (1 - fraction) * r.standard_normal(len(seconds))
    nan = np.full(len(seconds), np.nan)
    funding_rows = kind == 3
    # Now and then `nextFundingRate` is "" (as OKX sends it when it has no forecast): keep the last.
    forecast[(r.random(len(seconds)) < 0.02) & (seconds > 120)] = np.nan  # a day's first minute has all
    return {
        "funding_timestamp": np.where(funding_rows, funding * 1e6, nan),
        "funding_rate": np.where(funding_rows, _rates(seed, asset, funding), nan),
        "predicted_funding_rate": np.where(funding_rows, np.round(forecast, 10) + 0.0, nan),
        "open_interest": np.where(kind == 2, oi, nan),
        "last_price": np.where(kind == 1, np.round(last, digits), nan),
        "index_price": nan,
        "mark_price": np.where(kind == 0, np.round(mark, digits), nan),
    }


def _index_updates(seed, asset, day, seconds, r, digits) -> dict[str, np.ndarray]:
    """The index's updates: local time, exchange time (ms) and price (`idxPx`)."""
    _, _, index = _prices(seed, OKX, asset, day, seconds, np.full(len(seconds), 1.0))
    ts_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    local = ts_ms * TICKS_PER_MS + _latency(r, len(seconds))
    keep = local < (day_ms(day) + DAY_SECONDS * 1000) * TICKS_PER_MS
    order = np.argsort(local[keep], kind="stable")
    return {
        "local": local[keep][order],
        "ts": ts_ms[keep][order],
        "px": np.round(index, digits + 1)[keep][order],
    }


def _attach(index: dict[str, np.ndarray], local: np.ndarray) -> np.ndarray:
    """Per swap update, the index price last published at or before it (NaN before the first)."""
    latest = np.searchsorted(index["local"], local, side="right") - 1
    return np.where(latest >= 0, index["px"][np.maximum(latest, 0)], np.nan)


def okx_settled(seed: int, symbol: str, day: date, position: int) -> list[tuple[datetime, float, float]]:
    """(funding time, settled rate, interval hours) of the funding times within `day`, from the state."""
    start = _unix(day)
    grid = np.arange(start, start + DAY_SECONDS, HOUR, dtype=np.float64)
    due = np.unique(next_funding(seed, position, grid - 1))
    due = due[(due >= start) & (due < start + DAY_SECONDS)]
    return [
        (
            datetime.fromtimestamp(t, UTC),
            settled_rate(seed, asset_of(symbol), t),
            _interval_hours(seed, position, t),
        )
        for t in due.tolist()
    ]
