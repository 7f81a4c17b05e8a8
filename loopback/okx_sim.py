"""The sample feed's OKX swaps (`okex-swap`): the simulated state of one swap-day and its settlements.

Each swap publishes, per update tick, on the V5 channels tardis-node reads: `mark-price` every tick,
`index-tickers` (its index `BTC-USDT`) most ticks, `tickers`, `open-interest` (whose `ts` lags by up
to 2.5 s: exchange times out of order) and `funding-rate` now and then. A `SymbolDay` row is one swap
update (index updates emit no row; their price rides on the swap's later updates, as tardis-node
attaches it). Funding follows OKX's `next_period` method: `fundingRate` is the rate settled at
`fundingTime`, fixed for the whole period, and `nextFundingRate` the forecast of the next period,
converging on it; `settFundingRate` with `prevFundingTime` states the last settlement.

Funding is every 8 h, except the feed's second symbol (ETH by default), which lives through an
escalation episode (`episode`, drawn from the seed, inside the demo's 2024-03-01..14): from an 8 h
funding time it funds every 4 h, then every 2 h, then hourly, as OKX escalates a coin at its cap;
hourly funding reverts to 4 h at :15 past a 4 h funding time, and for a few minutes after that the
feed still shows the hourly next funding time (stale); a day later it returns to 8 h.

Ground truth (`okx_settled`, and the CSV via `groundtruth.normalized`) comes from this state only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from loopback import paths
from loopback.paths import DAY_SECONDS, rng
from loopback.simulate import _latency, _open_interest, _prices, _tick_seconds, asset_spec, gate_decimals
from pipelines.core.columns import OKX
from pipelines.venues.samplekit import TICKS_PER_MS, UNIX_EPOCH, SymbolDay, day_ms

SAMPLE_FIRST_DAY = date(2024, 3, 2)  # the episode falls within the demo's 14 days from 2024-03-01
EPISODE_SPAN_DAYS = 9  # it starts on one of 9 days and lasts under 3 days: over by 2024-03-14
SWITCHING_POSITION = 1  # the feed's second symbol (ETH by default) escalates
HOUR = 3600
# Channel offsets from the tick (ms): the mark first, so a day starts with an exchange time.
OFFSETS_MS = {"mark": 0, "index": 100, "tickers": 200, "funding": 400, "oi": 600}
SHARE = {"index": 0.8, "tickers": 0.7, "funding": 0.25, "oi": 0.3}  # of ticks, the first always
RATE_CAP = 0.00375  # OKX's funding cap for the majors (0.375 %)


def asset_of(symbol: str) -> str:
    """`BTC-USDT-SWAP` -> `BTC`."""
    return symbol.split("-")[0]


@dataclass(frozen=True)
class Episode:
    """One symbol's escalation, unix seconds: settlements `times` in (start, end] replace the 8 h
    grid; hourly funding reverts to 4 h at `revert` (:15 past `times[reverted]`), and until
    `stale_until` the feed still shows the hourly next funding time."""

    start: int
    end: int
    times: np.ndarray  # int64, ascending, ends with `end`
    revert: int
    stale_until: int


def _unix(day: date) -> int:
    return (day - UNIX_EPOCH).days * DAY_SECONDS


def _after(t: int, step_hours: int, count: int) -> list[int]:
    return [t + (k + 1) * step_hours * HOUR for k in range(count)]


@lru_cache(maxsize=64)
def episode(seed: int) -> Episode:
    """The switching symbol's episode, drawn from the seed: 8 -> 4 -> 2 -> 1 h, back to 4 h, then 8 h."""
    r = rng(seed, "okx-episode")
    day = SAMPLE_FIRST_DAY + timedelta(days=int(r.integers(0, EPISODE_SPAN_DAYS)))
    start = _unix(day) + 8 * HOUR * int(r.integers(0, 3))
    times = _after(start, 4, int(r.integers(2, 4)))
    times += _after(times[-1], 2, int(r.integers(2, 4)))
    hourly_until = -(-(times[-1] + int(r.integers(3, 7)) * HOUR) // (4 * HOUR)) * 4 * HOUR  # a 4 h time
    times += list(range(times[-1] + HOUR, hourly_until + 1, HOUR))
    revert = hourly_until + 15 * 60  # OKX reverts "at :15"; the feed lags a few minutes more
    end = -(-(hourly_until + 24 * HOUR) // (8 * HOUR)) * 8 * HOUR
    times += list(range(hourly_until + 4 * HOUR, end + 1, 4 * HOUR))
    stale_until = revert + 60 * int(r.integers(2, 7))
    return Episode(start, end, np.array(times, dtype=np.int64), revert, stale_until)


def switch_day(seed: int) -> date:
    """The UTC day the switching symbol's escalation starts."""
    return datetime.fromtimestamp(episode(seed).start, UTC).date()


def true_next(seed: int, position: int, seconds: np.ndarray) -> np.ndarray:
    """The settlement time (unix seconds) strictly after each time, from the schedule in force."""
    seconds = np.asarray(seconds, dtype=np.float64)
    eight = (np.floor(seconds / (8 * HOUR)) + 1) * 8 * HOUR
    if position != SWITCHING_POSITION:
        return eight
    ep = episode(seed)
    inside = (seconds >= ep.start) & (seconds < ep.end)
    at = np.minimum(np.searchsorted(ep.times, seconds, side="right"), len(ep.times) - 1)
    return np.where(inside, ep.times[at].astype(np.float64), eight)


def next_funding(seed: int, position: int, seconds: np.ndarray) -> np.ndarray:
    """The funding time the feed shows at each time: `true_next`, except for the minutes after the
    revert, when it still shows the hourly one (a time OKX never settles)."""
    shown = true_next(seed, position, seconds)
    if position != SWITCHING_POSITION:
        return shown
    ep = episode(seed)
    seconds = np.asarray(seconds, dtype=np.float64)
    stale = (seconds >= ep.revert - 15 * 60) & (seconds < ep.stale_until)
    return np.where(stale, float(ep.revert - 15 * 60 + HOUR), shown)


def previous_settlement(seed: int, position: int, seconds: np.ndarray) -> np.ndarray:
    """The last settlement time at or before each time (what `prevFundingTime` states)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    eight = np.floor(seconds / (8 * HOUR)) * 8 * HOUR
    if position != SWITCHING_POSITION:
        return eight
    ep = episode(seed)
    inside = (seconds >= ep.times[0]) & (seconds < ep.end)
    at = np.maximum(np.searchsorted(ep.times, seconds, side="right") - 1, 0)
    return np.where(inside, ep.times[at].astype(np.float64), eight)


def _interval_hours(seed: int, position: int, funding: float) -> float:
    """Hours of the period ending at settlement `funding` (unix seconds)."""
    before = previous_settlement(seed, position, np.array([funding - 1.0]))[0]
    return float((funding - before) / HOUR)


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
    prev = previous_settlement(seed, position, _unix(day) + seconds)
    extra = {"kind": kind, "ts": ts_ms, "next_funding_ms": following * 1000, "seconds": seconds}
    extra.update(prev_funding_ms=prev * 1000, sett_rate=_rates(seed, asset, prev))
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
    """(funding time, settled rate, interval hours) of the settlements within `day`, from the state."""
    start = _unix(day)
    grid = np.arange(start, start + DAY_SECONDS, HOUR, dtype=np.float64)
    due = np.unique(true_next(seed, position, grid - 1))
    due = due[(due >= start) & (due < start + DAY_SECONDS)]
    return [
        (
            datetime.fromtimestamp(t, UTC),
            settled_rate(seed, asset_of(symbol), t),
            _interval_hours(seed, position, t),
        )
        for t in due.tolist()
    ]
