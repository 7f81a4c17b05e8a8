"""Gate's funding in the sample feed: each contract's interval schedule and its running funding rate.

What the simulated venue does (pipelines/venues/gate/README.md has the sources): since 2022-08-08 Gate's
`funding_rate` is the average of the per-minute funding rates of the *current* period so far, so it
restarts from a single minute's rate at every settlement and then settles down (each new minute
moves an average of k minutes by about 1/k). The period's rate is scaled to its interval
(Gate's formula divides the 8 h rate by 8/N). The rate settled at T is the average over the whole
period, i.e. the last rate published before T.

The interval of a contract changes on a schedule drawn from the seed: `SWITCH_COIN` goes from 8 h to
4 h at an 8 h boundary inside 2024-03-01..14 and back to 8 h one to four days later; every other
contract keeps 8 h. Switches land on 8 h boundaries, so both grids stay aligned to 00:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from loopback import paths
from loopback.paths import rng

SWITCH_COIN = "DOGE"
SWITCH_FROM = datetime(2024, 3, 1, tzinfo=UTC)  # the 8 h -> 4 h switch lies in [3, 36] periods after
MINUTES_PER_DAY = 1440
PERIOD_MINUTES = paths.PERIOD_SECONDS // 60  # 8 h, the table period of `paths.gate_funding`
MINUTE_NOISE = 1.2e-4  # spread of one minute's funding rate around the period's level (8 h terms)


@lru_cache(maxsize=64)
def schedule(seed: int, symbol: str) -> tuple[tuple[datetime, float], ...]:
    """(from, interval hours) segments of one contract, oldest first; the first holds since EPOCH."""
    start = datetime.combine(paths.EPOCH, datetime.min.time(), UTC)
    if symbol.split("_")[0] != SWITCH_COIN:
        return ((start, 8.0),)
    r = rng(seed, "gate-schedule", symbol)
    switch = SWITCH_FROM + timedelta(hours=8 * int(r.integers(3, 37)))
    revert = switch + timedelta(hours=8 * int(r.integers(3, 13)))
    return ((start, 8.0), (switch, 4.0), (revert, 8.0))


def switch_time(seed: int, symbol: str = f"{SWITCH_COIN}_USDT") -> datetime:
    """When `symbol` moves from 8 h to 4 h (the second segment of its schedule)."""
    return schedule(seed, symbol)[1][0]


def interval_at(seed: int, symbol: str, moment: datetime) -> float:
    """Interval hours of the period ending at funding time `moment` (or running at a time between)."""
    hours = 8.0
    for start, length in schedule(seed, symbol):
        if start < moment:
            hours = length
    return hours


def funding_times(seed: int, symbol: str, day: date) -> list[datetime]:
    """Settlement times within [day 00:00, next day 00:00) UTC, from the schedule."""
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    times, t = [], midnight
    while t < midnight + timedelta(days=1):
        times.append(t)
        t += timedelta(hours=interval_at(seed, symbol, t + timedelta(minutes=1)))
    return times


def _minute_starts(seed: int, symbol: str, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per absolute minute since EPOCH: the minute its funding period opened, and the period's length."""
    begin = np.zeros(len(minutes), np.int64)
    length = np.full(len(minutes), PERIOD_MINUTES, np.int64)
    origin = datetime.combine(paths.EPOCH, datetime.min.time(), UTC)
    for start, hours in schedule(seed, symbol):
        at = int((start - origin).total_seconds() // 60)
        inside = minutes >= at
        begin[inside], length[inside] = at, int(hours * 60)
    return begin + (minutes - begin) // length * length, length


def running_rates(seed: int, symbol: str, day: date) -> np.ndarray:
    """The `funding_rate` Gate publishes in each minute of `day` (1440 values, rounded to 6 places)."""
    asset = symbol.split("_")[0]
    index = paths.day_index(day)
    minutes = np.arange((index - 1) * MINUTES_PER_DAY, (index + 1) * MINUTES_PER_DAY)  # yesterday too
    opened, length = _minute_starts(seed, symbol, minutes)
    base, drift = paths.gate_funding(seed, asset)
    table = minutes // PERIOD_MINUTES
    noise = np.concatenate(
        [rng(seed, "gate-minute", asset, i).standard_normal(MINUTES_PER_DAY) for i in (index - 1, index)]
    )
    level = base[table] + drift[table] * (minutes % PERIOD_MINUTES) / PERIOD_MINUTES
    own = (level + MINUTE_NOISE * noise) * length / PERIOD_MINUTES  # Gate: the 8 h rate / (8 / N)
    total = np.concatenate(([0.0], np.cumsum(own)))
    first = opened - minutes[0]  # position of each minute's period start (>= 0 for today's minutes)
    today = slice(MINUTES_PER_DAY, 2 * MINUTES_PER_DAY)
    k = np.arange(2 * MINUTES_PER_DAY)[today] - first[today] + 1
    average = (total[MINUTES_PER_DAY + 1 :] - total[first[today]]) / k
    return np.round(np.clip(average, -0.003, 0.003), 6) + 0.0


def before_settlement(seed: int, symbol: str, day: date, seconds: np.ndarray) -> np.ndarray:
    """Per update (seconds into `day`): whether it lies within two minutes before a settlement."""
    midnight = datetime.combine(day, datetime.min.time(), UTC)
    offsets = [(t - midnight).total_seconds() for t in funding_times(seed, symbol, day)]
    ends = np.array([*offsets[1:], paths.DAY_SECONDS])  # the day's settlements after midnight
    position = np.minimum(np.searchsorted(ends, seconds, side="right"), len(ends) - 1)
    return ends[position] - seconds <= 120
