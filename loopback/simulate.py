"""The sample feed's underlying state: per (exchange, symbol, day), numpy arrays of what each update says.

`gate_day` and `bitfinex_day` return a `SymbolDay`: message times and the published value of every
derivative_ticker field per update (NaN = the field is absent from that message), plus the extra
facts the raw rendering needs (flags, channel ids, heartbeats). Both the raw replay lines and the
ground-truth CSV are rendered from this one state, never from each other.

Times: exchange timestamps in ms, local (receive) timestamps in 100 ns units, both since 1970.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from loopback import gate_sim, paths
from loopback.paths import DAY_SECONDS, PERIOD_SECONDS, rng
from pipelines.core.columns import BITFINEX, GATE
from pipelines.venues.samplekit import TICKS_PER_MS, SymbolDay, day_ms

# Updates are kept only this long after a connection opens, so subscriptions come first (100 ns).
CONNECT_GUARD = 100_000
# Odd exchange timestamps (backwards, whole seconds) stay this far from funding times, in seconds.
BOUNDARY_GUARD = 180


@dataclass(frozen=True)
class Asset:
    """Scale of one underlying: price level and open interest in each venue's units."""

    price: float
    gate_open_interest: float  # contracts
    bitfinex_open_interest: float  # coins
    volume: float  # Gate 24 h volume, contracts


ASSETS = {
    "BTC": Asset(60_000.0, 90_000_000, 4_500.0, 300_000_000),
    "ETH": Asset(3_000.0, 8_000_000, 30_000.0, 40_000_000),
    "SOL": Asset(150.0, 4_000_000, 150_000.0, 15_000_000),
    "DOGE": Asset(0.15, 300_000, 60_000_000.0, 2_000_000),
}


def asset_spec(asset: str) -> Asset:
    """The scale of `asset`; unknown assets get a stable made-up scale."""
    if asset in ASSETS:
        return ASSETS[asset]
    price = float(10 ** rng(0, "asset", asset).uniform(-1, 3))
    return Asset(price, 1_000_000, 1_000_000 / price, 5_000_000)


def gate_decimals(price: float) -> int:
    """Gate quotes about six significant digits (BTC 0.1, ETH 0.01, DOGE 0.000001)."""
    return int(np.clip(5 - np.floor(np.log10(price)), 0, 8))


def bitfinex_decimals(price: float) -> int:
    """Bitfinex prices carry five significant digits (BTC whole dollars, ETH 0.1)."""
    return int(np.clip(4 - np.floor(np.log10(price)), 0, 8))


def _tick_seconds(seed: int, exchange: str, symbol: str, day: date, interval: float) -> np.ndarray:
    """About one update per `interval`, jittered, never on a whole funding boundary."""
    count = max(1, round(DAY_SECONDS / interval))
    step = DAY_SECONDS / count
    r = rng(seed, "ticks", exchange, symbol, paths.day_index(day))
    return (np.arange(count) + r.uniform(0.02, 0.98, count)) * step


def _latency(r: np.random.Generator, count: int) -> np.ndarray:
    """Receive delay in 100 ns ticks: 2 ms floor, exponential tail, capped at 30 ms."""
    return (20_000 + np.minimum(r.exponential(30_000, count), 280_000)).astype(np.int64)


def _period_position(day: date, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Funding period index since paths.EPOCH and the elapsed fraction of it, per time."""
    absolute = paths.day_index(day) * DAY_SECONDS + seconds
    period = np.floor(absolute / PERIOD_SECONDS).astype(np.int64)
    return period, (absolute - period * PERIOD_SECONDS) / PERIOD_SECONDS


def _away_from_boundaries(seconds: np.ndarray) -> np.ndarray:
    # Gate settles on whole hours (intervals of 1, 2, 4 or 8 h), so every hour is guarded.
    offset = np.mod(seconds, 3600)
    return (offset > BOUNDARY_GUARD) & (offset < 3600 - BOUNDARY_GUARD)


def _prices(seed: int, exchange: str, asset: str, day: date, seconds: np.ndarray, basis_mean: np.ndarray):
    """Fair, mark and index per update; marks of both venues share the fair path."""
    spec = asset_spec(asset)
    second = np.minimum(seconds.astype(np.int64), DAY_SECONDS - 1)
    fair = np.exp(paths.fair_log_price(seed, asset, day, spec.price))[second]
    spread = paths.smooth_noise(seed, f"spread:{exchange}:{asset}", day, (600.0, 10_800.0), (1.0, 0.8))
    basis = paths.smooth_noise(seed, f"basis:{exchange}:{asset}", day, (900.0,))
    mark = fair * (1 + 2.2e-4 * spread[second])
    index = mark / (1 + 1e-4 * (basis_mean + 3.0 * basis[second]))
    return fair, mark, index


def _open_interest(seed: int, exchange: str, asset: str, day: date, seconds: np.ndarray) -> np.ndarray:
    noise = paths.smooth_noise(seed, f"oi:{exchange}:{asset}", day, (3600.0, 14_400.0))
    return np.exp(0.06 * noise[np.minimum(seconds.astype(np.int64), DAY_SECONDS - 1)])


def gate_day(seed: int, symbol: str, day: date, interval: float) -> SymbolDay:
    """Gate futures.tickers updates for one contract and day."""
    asset = symbol.split("_")[0]
    spec = asset_spec(asset)
    digits = gate_decimals(spec.price)
    seconds = _tick_seconds(seed, GATE, symbol, day, interval)
    count = len(seconds)
    r = rng(seed, "gate-day", symbol, paths.day_index(day))
    period, fraction = _period_position(day, seconds)
    base, drift = paths.gate_funding(seed, asset)
    # The basis follows the period's funding level (a smooth path, as before the running rate).
    level = np.round(base[period] + drift[period] * np.floor(fraction * 16) / 15, 6)
    _, mark, index = _prices(seed, GATE, asset, day, seconds, 1.0 + 5000 * level)
    # Gate publishes the average of the running period's minute rates (loopback/gate_sim.py).
    minute = np.minimum(seconds // 60, 1439).astype(np.int64)
    rate = gate_sim.running_rates(seed, symbol, day)[minute]
    last = mark * (1 + 1.5e-4 * r.standard_normal(count))
    oi = np.round(spec.gate_open_interest * _open_interest(seed, GATE, asset, day, seconds))
    ts_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    local = ts_ms * TICKS_PER_MS + _latency(r, count)
    # A late last update would land in tomorrow's file; the recorder would have rotated already.
    local[-1] = min(local[-1], (day_ms(day) + DAY_SECONDS * 1000) * TICKS_PER_MS - 1)
    values = {
        "funding_rate": rate,
        "predicted_funding_rate": rate.copy(),
        "open_interest": oi,
        "last_price": np.round(last, digits),
        "index_price": np.round(index, digits + 1),
        "mark_price": np.round(mark, digits),
    }
    values = {"funding_timestamp": np.full(count, np.nan), **values}
    # A repeat just before a settlement would show a rate older than the period's last minute.
    _repeat_some(r, values, ~gate_sim.before_settlement(seed, symbol, day, seconds))
    _drop_fields(r, values)
    published_ms, has_time_ms = _odd_gate_times(r, ts_ms, seconds)
    used_ms = np.where(has_time_ms, published_ms, published_ms // 1000 * 1000)
    extra = {
        "time_ms": published_ms,
        "has_time_ms": has_time_ms,
        "single_object": r.random(count) < 0.03,
        "fraction": fraction,
        "seconds": seconds,
    }
    return SymbolDay(GATE, symbol, day, local, used_ms, values, np.zeros(count, bool), extra)


def _repeat_some(r: np.random.Generator, values: dict[str, np.ndarray], allowed: np.ndarray) -> None:
    """About 2 % of updates repeat the previous values exactly (a new timestamp only: no new row)."""
    count = len(allowed)
    repeat = allowed & (r.random(count) < 0.02)
    repeat[0] = False
    source = np.maximum.accumulate(np.where(repeat, 0, np.arange(count)))
    for name, column in values.items():
        values[name] = column[source]


def _drop_fields(r: np.random.Generator, values: dict[str, np.ndarray]) -> None:
    """Some updates omit a field; the normalizer must keep the previous value."""
    absent = {
        "open_interest": 0.03,
        "index_price": 0.003,
        "predicted_funding_rate": 0.002,
        "last_price": 0.002,
    }
    for name, probability in absent.items():
        column = values[name]
        column[r.random(len(column)) < probability] = np.nan


def _odd_gate_times(r: np.random.Generator, ts_ms: np.ndarray, seconds: np.ndarray):
    """Rarely a timestamp runs behind the previous one, or time_ms is missing (whole seconds)."""
    count = len(ts_ms)
    safe = _away_from_boundaries(seconds)
    safe[:2] = safe[-2:] = False
    published = ts_ms.copy()
    close = np.concatenate(([False], np.diff(ts_ms) < 3000))  # only dense data can run backwards
    behind = safe & close & (r.random(count) < 0.0005)
    idx = np.flatnonzero(behind)
    published[idx] = ts_ms[idx - 1] - r.integers(1, 200, len(idx))
    has_time_ms = ~(safe & ~behind & (r.random(count) < 0.0005))
    return published, has_time_ms


@dataclass(frozen=True)
class Connection:
    """One Bitfinex websocket session within a day: open [start, end) in 100 ns ticks since 1970."""

    start: int
    end: int
    channel_base: int  # chanId of the feed's first symbol; the others follow in feed order
    sequence_base: int


def _disconnects(seed: int, index: int) -> list[tuple[float, float]]:
    """(disconnect second, reconnect second) pairs of a day, well apart and off the day's edges."""
    r = rng(seed, "disconnects", BITFINEX, index)
    times = np.sort(r.uniform(900, DAY_SECONDS - 900, min(r.poisson(0.8), 3)))
    gaps = r.uniform(2.0, 45.0, len(times))
    kept: list[tuple[float, float]] = []
    for at, gap in zip(times.tolist(), gaps.tolist(), strict=True):
        if not kept or at - kept[-1][1] > 600:
            kept.append((at, at + gap))
    return kept


def _session_ids(seed: int, index: int, number: int) -> tuple[int, int]:
    r = rng(seed, "session", BITFINEX, index, number)
    return int(r.integers(10, 300_000)), int(r.integers(1_000, 5_000_000))


def bitfinex_connections(seed: int, day: date) -> list[Connection]:
    """The day's sessions. The first continues yesterday's last one, so keeps its channel ids."""
    index = paths.day_index(day)
    start = day_ms(day) * TICKS_PER_MS
    first = _session_ids(seed, index - 1, len(_disconnects(seed, index - 1)))
    sessions, opened = [], start
    for number, (down, up) in enumerate(_disconnects(seed, index), start=1):
        ids = first if number == 1 else _session_ids(seed, index, number - 1)
        sessions.append(Connection(opened, start + int(down * 1e7), *ids))
        opened = start + int(up * 1e7)
    ids = first if not sessions else _session_ids(seed, index, len(sessions))
    sessions.append(Connection(opened, start + DAY_SECONDS * 10_000_000, *ids))
    return sessions


def _keep_connected(local: np.ndarray, sessions: list[Connection]) -> tuple[np.ndarray, np.ndarray]:
    """Mask of updates received while connected (after the subscriptions) and their session number."""
    starts = np.array([s.start for s in sessions])
    ends = np.array([s.end for s in sessions])
    number = np.searchsorted(starts, local, side="right") - 1
    keep = (local >= starts[number] + CONNECT_GUARD) & (local < ends[number])
    return keep, number


def _accrued(settled: np.ndarray, period: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """NEXT_FUNDING_ACCRUED: grows minute by minute toward the rate settled at the period's end."""
    minute = np.floor(fraction * 480) + 1
    share = minute / 480
    wiggle = np.sin(period * 12.9898 + minute * 78.233)
    return np.round(settled[period] * share * (1 + 0.15 * (1 - share) * wiggle), 8) + 0.0


def bitfinex_day(seed: int, symbol: str, day: date, interval: float, channel_offset: int) -> SymbolDay:
    """Bitfinex status updates for one perpetual and day, with sessions, heartbeats and channel ids."""
    asset = symbol.split("F0:")[0]
    spec = asset_spec(asset)
    digits = bitfinex_decimals(spec.price)
    sessions = bitfinex_connections(seed, day)
    seconds = _tick_seconds(seed, BITFINEX, symbol, day, interval)
    r = rng(seed, "bitfinex-day", symbol, paths.day_index(day))
    ts_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    local = ts_ms * TICKS_PER_MS + _latency(r, len(seconds))
    keep, session = _keep_connected(local, sessions)
    seconds, ts_ms, local, session = seconds[keep], ts_ms[keep], local[keep], session[keep]
    count = len(seconds)
    period, fraction = _period_position(day, seconds)
    settled = paths.bitfinex_funding(seed, asset)
    current = settled[period - 1]
    _, mark, spot = _prices(seed, BITFINEX, asset, day, seconds, 1.0 + 3000 * current)
    deriv = mark * (1 + 0.8e-4 * r.standard_normal(count))
    oi = spec.bitfinex_open_interest * _open_interest(seed, BITFINEX, asset, day, seconds)
    next_ms = day_ms(paths.EPOCH) + (period + 1) * PERIOD_SECONDS * 1000
    values = {
        "funding_timestamp": next_ms.astype(np.float64) * 1000,
        "funding_rate": current,
        "predicted_funding_rate": _accrued(settled, period, fraction),
        "open_interest": np.round(oi, 8),
        "last_price": np.round(deriv, digits),
        "index_price": np.round(spot, digits),
        "mark_price": np.round(mark, digits + 3),
    }
    reset = np.ones(count, bool)
    reset[1:] = session[1:] != session[:-1]
    _repeat_some(r, values, ~reset)
    extra = {
        "session": session,
        "step": np.floor(fraction * 480).astype(np.int64) + 1,
        "channel_offset": np.array([channel_offset]),
        "insurance": np.round(np.array([2.5e6 * (1 + 0.1 * np.sin(paths.day_index(day) / 40))]), 2),
        **_heartbeats(r, local, session, interval),
    }
    return SymbolDay(BITFINEX, symbol, day, local, ts_ms, values, reset, extra)


def _heartbeats(r: np.random.Generator, local: np.ndarray, session: np.ndarray, interval: float) -> dict:
    """Now and then (about once a minute per channel) a heartbeat between two updates of a session."""
    pairs = np.flatnonzero(session[1:] == session[:-1])
    chosen = pairs[r.random(len(pairs)) < min(0.2, interval / 60)]
    return {"hb_local": (local[chosen] + local[chosen + 1]) // 2, "hb_session": session[chosen]}
