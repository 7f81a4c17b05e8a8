"""The sample feed's Bybit linear perpetuals: simulated state, funding schedule and ground truth.

Bybit funds every 1, 2, 4 or 8 h per symbol and changes a symbol's interval now and then. Here BTC
stays at 8 h, DOGE pays every hour, SOL moves from 8 h to 2 h at 08:00 UTC of a seeded day in March
2024 (inside the demo's range); other coins stay at 8 h. ETH pays every 4 h and, on a seeded day of
2024-03-06..12, settles at the cap (0.375 %) at a seeded 4 h funding time, goes hourly from then
(Bybit's automatic switch, live since 2025-10-30: here inside the demo's range so the demo and the
tests exercise it) and back to 4 h after a seeded hourly settlement on the 4 h grid. Each new
schedule reaches the feed late, as Bybit says it does (pipelines/venues/bybit/README.md): after the switch the
old next time (T + 4 h) still shows for 1-4 minutes, after the revert the hourly one (R + 1 h) until
:16-:19 (decided by :15, then the feed's few minutes). The rate settled at T is tabulated per
funding time (`settled_rate`); from 2023-04-05 (V5) the feed's `fundingRate` for T is a running
estimate that reaches the settled rate in the period's last minutes, before it the rate of the
running period was fixed and `predicted_funding_rate_e6` estimated the next one. The raw lines
(`loopback.bybit_render`) and the ground truth both come from this state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from loopback import bybit_render, paths, simulate
from pipelines.core.columns import BYBIT
from pipelines.venues.samplekit import TICKS_PER_MS, SymbolDay, day_ms

HOUR_MS = 3_600_000
V5_SINCE_MS = 1_680_652_800_000  # 2023-04-05T00:00:00Z: V5 `tickers` from then on
USUAL_HOURS = {"BTC": 8, "ETH": 4, "SOL": 8, "DOGE": 1}
SWITCHING = ("SOL", 2)  # the coin whose interval changes, and its interval after the change
SWITCH_FIRST_DAY, SWITCH_DAYS = date(2024, 3, 2), 10
FINAL_MINUTES = 5  # the running estimate shows the settled rate this long before T
HOURLY = "ETH"  # the coin that goes hourly at the cap and back
EPISODE_FIRST_DAY, EPISODE_DAYS = date(2024, 3, 6), 7
CAP = 0.00375
MINUTE_MS = 60_000


class Episode(NamedTuple):
    """ETH's hourly episode: settles at the cap at `cap_ms` (on its 4 h grid), hourly until `revert_ms`
    (an hourly settlement on the 4 h grid), 4 h again after; each schedule shows `*_lag_ms` late."""

    cap_ms: int
    revert_ms: int
    switch_lag_ms: int
    revert_lag_ms: int


@lru_cache(maxsize=32)
def episode(seed: int) -> Episode:
    """The seeded hourly episode of HOURLY (day, hour, length and the feed's lags)."""
    r = paths.rng(seed, "bybit-hourly")
    day = EPISODE_FIRST_DAY + timedelta(days=int(r.integers(0, EPISODE_DAYS)))
    cap = day_ms(day) + 4 * HOUR_MS * int(r.integers(1, 5))  # 04:00 ... 16:00
    revert = cap + 4 * HOUR_MS * int(r.integers(1, 6))  # 4 ... 20 h of hourly funding
    switch_lag = MINUTE_MS * int(r.integers(1, 5))  # "within about four minutes"
    revert_lag = MINUTE_MS * (15 + int(r.integers(1, 5)))  # decided by :15, shown minutes later
    return Episode(cap, revert, switch_lag, revert_lag)


def asset_of(symbol: str) -> str:
    return symbol.removesuffix("USDT")


def switch_ms(seed: int) -> int:
    """08:00 UTC of the seeded day SOL moves from 8 h to 2 h funding (a funding time of both)."""
    offset = int(paths.rng(seed, "bybit-switch").integers(0, SWITCH_DAYS))
    return day_ms(SWITCH_FIRST_DAY + timedelta(days=offset)) + 8 * HOUR_MS


def funding_times(seed: int, symbol: str, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Funding times in [start_ms, end_ms) and the interval hours ending at each."""
    asset = asset_of(symbol)
    hours = USUAL_HOURS.get(asset, 8)
    if asset == HOURLY:
        return _episode_times(episode(seed), start_ms, end_ms, hours)
    if asset != SWITCHING[0]:
        times = _grid(start_ms, end_ms, hours)
        return times, np.full(len(times), float(hours))
    at = switch_ms(seed)
    before = _grid(start_ms, min(end_ms, at), hours)
    after = _grid(max(start_ms, at), end_ms, SWITCHING[1])
    times = np.concatenate((before, after))
    intervals = np.where(times <= at, float(hours), float(SWITCHING[1]))  # T = switch closes an 8 h period
    return times, intervals


def _episode_times(ep: Episode, start_ms: int, end_ms: int, hours: int) -> tuple[np.ndarray, np.ndarray]:
    """`hours` grid up to the cap, hourly after it up to the revert, `hours` again after that."""
    cut = (ep.cap_ms + 1, ep.revert_ms + 1)
    times = np.concatenate(
        (
            _grid(start_ms, min(end_ms, cut[0]), hours),
            _grid(max(start_ms, cut[0]), min(end_ms, cut[1]), 1),
            _grid(max(start_ms, cut[1]), end_ms, hours),
        )
    )
    hourly = (times > ep.cap_ms) & (times <= ep.revert_ms)
    return times, np.where(hourly, 1.0, float(hours))


def shown_next(seed: int, asset: str, ts_ms: np.ndarray, due: np.ndarray) -> np.ndarray:
    """The next funding time the feed shows: `due`, except for the minutes a new schedule is late."""
    if asset != HOURLY:
        return due
    ep = episode(seed)
    old_4h = (ts_ms >= ep.cap_ms) & (ts_ms < ep.cap_ms + ep.switch_lag_ms)
    old_1h = (ts_ms >= ep.revert_ms) & (ts_ms < ep.revert_ms + ep.revert_lag_ms)
    hours = USUAL_HOURS[HOURLY]
    return np.where(old_4h, ep.cap_ms + hours * HOUR_MS, np.where(old_1h, ep.revert_ms + HOUR_MS, due))


def _grid(start_ms: int, end_ms: int, hours: int) -> np.ndarray:
    step = hours * HOUR_MS
    first = -(-start_ms // step) * step
    return np.arange(first, max(first, end_ms), step, dtype=np.int64)


@lru_cache(maxsize=8)
def _funding_noise(seed: int, asset: str) -> np.ndarray:
    """Per hour since paths.EPOCH: three standard normals (premium, noise, estimate drift)."""
    return paths.rng(seed, "bybit-funding", asset).standard_normal((paths.HORIZON_DAYS * 24, 3))


def settled_rate(seed: int, asset: str, times: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """The rate settled at each funding time: Bybit's 0.01 % per 8 h interest leg while the premium
    stays inside the clamp, the premium beyond it; prorated to the interval, capped at 0.375 %."""
    hour = (times - day_ms(paths.EPOCH)) // HOUR_MS
    z = _funding_noise(seed, asset)[hour]
    level = paths.regimes(seed, asset)[hour // 8]
    premium = level * (1 + 0.6 * z[:, 0]) + 0.0001 * z[:, 1]
    per8 = np.where(np.abs(premium - 0.0001) < 0.0001, 0.0001, premium)
    digits = np.where(times < V5_SINCE_MS, 6, 8)  # pre-V5 rates travel as integer millionths
    rate = np.clip(per8 * hours / 8, -CAP, CAP)
    if asset == HOURLY:  # the settlement that sends it hourly is at the cap
        rate = np.where(times == episode(seed).cap_ms, CAP, rate)
    return np.array([round(float(r), int(d)) for r, d in zip(rate, digits, strict=True)]) + 0.0


def running_estimate(seed: int, asset: str, due: np.ndarray, hours: np.ndarray, elapsed_ms: np.ndarray):
    """V5 `fundingRate` for the funding time `due`, `elapsed_ms` into its period: minute steps that
    end at the settled rate in the period's last FINAL_MINUTES."""
    settled = settled_rate(seed, asset, due, hours)
    total = hours * 60
    minute = np.floor(elapsed_ms / 60_000)
    drift = _funding_noise(seed, asset)[(due - day_ms(paths.EPOCH)) // HOUR_MS, 2] * 0.0002 * hours / 8
    estimate = np.round(settled + drift * np.clip(1 - minute / total, 0, 1), 8) + 0.0
    return np.where(minute >= total - FINAL_MINUTES, settled, estimate)


def bybit_day(seed: int, symbol: str, day: date, interval: float) -> SymbolDay:
    """Bybit ticker updates of one linear perpetual and day: a snapshot at the day's first update
    (Tardis reconnects at 00:00 UTC), then deltas carrying only the fields that changed."""
    asset = asset_of(symbol)
    spec = simulate.asset_spec(asset)
    seconds = simulate._tick_seconds(seed, BYBIT, symbol, day, interval)
    count = len(seconds)
    r = paths.rng(seed, "bybit-day", symbol, paths.day_index(day))
    ts_ms = day_ms(day) + np.floor(seconds * 1000).astype(np.int64)
    local = ts_ms * TICKS_PER_MS + simulate._latency(r, count)
    local[-1] = min(local[-1], (day_ms(day) + paths.DAY_SECONDS * 1000) * TICKS_PER_MS - 1)
    rates = _rates(seed, symbol, ts_ms)
    _, mark, index = simulate._prices(seed, BYBIT, asset, day, seconds, 1.0 + 5000 * rates["funding_rate"])
    old = day_ms(day) < V5_SINCE_MS
    digits = bybit_render.price_digits(spec.price, old)
    last = mark * (1 + 1.2e-4 * r.standard_normal(count))
    oi = spec.bitfinex_open_interest * 12 * simulate._open_interest(seed, BYBIT, asset, day, seconds)
    values = {
        **rates,
        # np.round gives the double nearest the decimal, which the rendered text parses back to
        # (also as pre-V5 `_e4` / `_e8` integers divided by their scale).
        "open_interest": np.round(oi, 3),
        "last_price": np.round(last, digits),
        "index_price": np.round(index, digits),
        "mark_price": np.round(mark, digits),
    }
    snapshot = np.zeros(count, bool)
    snapshot[0] = True
    published = {name: _changed_only(column, snapshot) for name, column in values.items()}
    extra = {"snapshot": snapshot, "full": values, "old": np.array([old]), "digits": np.array([digits])}
    return SymbolDay(BYBIT, symbol, day, local, ts_ms, published, np.zeros(count, bool), extra)


def _rates(seed: int, symbol: str, ts_ms: np.ndarray) -> dict[str, np.ndarray]:
    """funding_timestamp (us), funding_rate and predicted_funding_rate per update."""
    asset = asset_of(symbol)
    times, hours = funding_times(seed, symbol, int(ts_ms[0]) - 9 * HOUR_MS, int(ts_ms[-1]) + 18 * HOUR_MS)
    at = np.searchsorted(times, ts_ms, side="right")  # times[at] is the next funding time
    due, due_hours, opened = times[at], hours[at], times[at - 1]
    if int(ts_ms[0]) >= V5_SINCE_MS:
        rate = running_estimate(seed, asset, due, due_hours, ts_ms - opened)
        predicted = np.full(len(ts_ms), np.nan)
    else:  # the running period's rate is fixed; the estimate is of the next settlement
        rate = settled_rate(seed, asset, due, due_hours)
        estimate = running_estimate(seed, asset, times[at + 1], hours[at + 1], ts_ms - opened)
        predicted = np.round(estimate, 6) + 0.0
    shown = shown_next(seed, asset, ts_ms, due)
    return {
        "funding_timestamp": shown.astype(np.float64) * 1000,
        "funding_rate": rate,
        "predicted_funding_rate": predicted,
    }


def _changed_only(column: np.ndarray, snapshot: np.ndarray) -> np.ndarray:
    """NaN (absent from the delta) where the value equals the previous update's; kept at snapshots."""
    same = np.concatenate(([False], column[1:] == column[:-1])) & ~snapshot
    return np.where(same, np.nan, column)


def settled(seed: int, symbol: str, day: date) -> list[tuple[datetime, float, float]]:
    """(funding time, settled rate, interval hours) for the funding times within `day` (UTC)."""
    start = day_ms(day)
    times, hours = funding_times(seed, symbol, start, start + paths.DAY_SECONDS * 1000)
    rates = settled_rate(seed, asset_of(symbol), times, hours)
    return [
        (datetime.fromtimestamp(t / 1000, UTC), float(rate), float(h))
        for t, rate, h in zip(times.tolist(), rates.tolist(), hours.tolist(), strict=True)
    ]
