"""Deterministic numeric paths behind the sample feed: prices, spreads, open interest, funding.

Every path is a pure function of (seed, names, day), so a day generated alone equals the same day
generated inside a range. Two tricks keep days independent yet continuous across midnight:

* Prices follow a daily anchor path (a slow mean-reverting walk over days, computed once from
  `EPOCH`) and, within a day, a Brownian bridge from today's anchor to tomorrow's.
* Spreads, basis and open interest are white noise smoothed by an exponential kernel (a stationary
  Ornstein-Uhlenbeck process). The noise of a day depends on that day only, and today's smoothing
  reads the tail of yesterday's noise, so the process runs straight through midnight.

Funding is tabulated per 8-hour period from `EPOCH`, with a regime shared by both exchanges.
"""

from __future__ import annotations

import zlib
from datetime import date
from functools import lru_cache

import numpy as np

EPOCH = date(2019, 1, 1)
DAY_SECONDS = 86_400
PERIOD_SECONDS = 8 * 3600
PERIODS_PER_DAY = DAY_SECONDS // PERIOD_SECONDS
# Anchors and funding tables are tabulated this many days past EPOCH (through 2038).
HORIZON_DAYS = 20 * 366

# Shared funding regimes per 8 h period (fraction per period): normal, hot, cool, negative.
REGIME_LEVELS = np.array([0.0001, 0.0003, 0.00003, -0.00012])
REGIME_STAY = 0.96


def _key(part: int | str) -> int:
    return zlib.crc32(part.encode()) if isinstance(part, str) else int(part) & 0xFFFFFFFF


def rng(seed: int, *parts: int | str) -> np.random.Generator:
    """A generator seeded by the seed and a tuple of names/numbers; stable across processes."""
    return np.random.default_rng([_key(seed), *(_key(p) for p in parts)])


def day_index(day: date) -> int:
    """Days since EPOCH; the generator covers [EPOCH, EPOCH + HORIZON_DAYS)."""
    index = (day - EPOCH).days
    if not 0 <= index < HORIZON_DAYS - 1:
        raise ValueError(f"{day} is outside the sample feed's range {EPOCH} + {HORIZON_DAYS - 1} days")
    return index


@lru_cache(maxsize=64)
def _log_anchors(seed: int, asset: str) -> np.ndarray:
    """Log price at each midnight since EPOCH: a walk with weak pull back to the start level."""
    shocks = rng(seed, "anchor", asset).standard_normal(HORIZON_DAYS) * 0.028
    pull = np.exp(-1 / 120)
    out = np.empty(HORIZON_DAYS)
    level = 0.0
    for i, shock in enumerate(shocks.tolist()):
        out[i] = level
        level = pull * level + shock
    return out


def fair_log_price(seed: int, asset: str, day: date, base_price: float) -> np.ndarray:
    """Log fair price at every second of `day` plus the next midnight (DAY_SECONDS + 1 values)."""
    anchors = _log_anchors(seed, asset)
    i = day_index(day)
    start, end = anchors[i], anchors[i + 1]
    steps = rng(seed, "fair", asset, i).standard_normal(DAY_SECONDS) * (0.024 / np.sqrt(DAY_SECONDS))
    walk = np.concatenate(([0.0], np.cumsum(steps)))
    ramp = np.linspace(0.0, 1.0, DAY_SECONDS + 1)
    bridge = walk - ramp * walk[-1]
    return np.log(base_price) + start + ramp * (end - start) + bridge


def _white(seed: int, tag: str, index: int) -> np.ndarray:
    return rng(seed, "white", tag, index).standard_normal(DAY_SECONDS)


def _kernel(taus: tuple[float, ...], weights: tuple[float, ...]) -> np.ndarray:
    length = min(int(6 * max(taus)), DAY_SECONDS)
    lags = np.arange(length)
    kernel = sum(w * np.exp(-lags / t) for t, w in zip(taus, weights, strict=True))
    return kernel / np.sqrt(np.sum(kernel**2))


def smooth_noise(
    seed: int, tag: str, day: date, taus: tuple[float, ...], weights: tuple[float, ...] | None = None
) -> np.ndarray:
    """Unit-variance stationary noise per second of `day`, continuous across midnight.

    `taus` are the memory lengths in seconds of summed exponential kernels (several taus mix a
    fast wiggle with a slow drift), `weights` their relative weights.
    """
    kernel = _kernel(taus, weights or (1.0,) * len(taus))
    i = day_index(day)
    tail = _white(seed, tag, i - 1)[DAY_SECONDS - len(kernel) + 1 :] if len(kernel) > 1 else np.empty(0)
    noise = np.concatenate((tail, _white(seed, tag, i)))
    size = 1 << int(np.ceil(np.log2(len(noise) + len(kernel))))
    out = np.fft.irfft(np.fft.rfft(noise, size) * np.fft.rfft(kernel, size), size)
    return out[len(tail) : len(tail) + DAY_SECONDS]


@lru_cache(maxsize=64)
def regimes(seed: int, asset: str) -> np.ndarray:
    """Shared funding regime level per 8 h period since EPOCH (a sticky Markov chain)."""
    r = rng(seed, "regime", asset)
    count = HORIZON_DAYS * PERIODS_PER_DAY
    stay = r.random(count) < REGIME_STAY
    jumps = r.integers(0, len(REGIME_LEVELS), count)
    states = np.empty(count, dtype=np.int64)
    state = 0
    for p, (keep, jump) in enumerate(zip(stay.tolist(), jumps.tolist(), strict=True)):
        state = state if keep else jump
        states[p] = state
    return REGIME_LEVELS[states]


def _outliers(r: np.random.Generator, count: int, probability: float, low: float, high: float) -> np.ndarray:
    hit = r.random(count) < probability
    size = r.uniform(low, high, count) * r.choice((-1.0, 1.0), count, p=(0.3, 0.7))
    return np.where(hit, size, 0.0)


@lru_cache(maxsize=64)
def gate_funding(seed: int, asset: str) -> tuple[np.ndarray, np.ndarray]:
    """Per period since EPOCH: Gate's opening rate and its drift over the period (fractions)."""
    level = regimes(seed, asset)
    r = rng(seed, "gate-funding", asset)
    count = len(level)
    base = level * (1 + 0.35 * r.standard_normal(count)) + 0.00002 * r.standard_normal(count)
    base = base + _outliers(r, count, 0.02, 0.0008, 0.003)
    drift = 0.00003 * r.standard_normal(count)
    return np.clip(base, -0.003, 0.003), drift


@lru_cache(maxsize=64)
def bitfinex_funding(seed: int, asset: str) -> np.ndarray:
    """Per period since EPOCH: the rate Bitfinex settles at the period's end.

    Bitfinex pays only when the premium leaves its clamp band, so small premiums settle at 0.
    """
    level = regimes(seed, asset)
    r = rng(seed, "bitfinex-funding", asset)
    count = len(level)
    premium = level * (1 + 0.5 * r.standard_normal(count)) + 0.00004 * r.standard_normal(count)
    premium = premium + _outliers(r, count, 0.02, 0.0008, 0.003)
    clamp = 0.0001
    settled = np.where(np.abs(premium) < clamp, 0.0, premium - np.sign(premium) * clamp * 0.5)
    return np.round(np.clip(settled, -0.003, 0.003), 8) + 0.0
