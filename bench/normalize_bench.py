"""Normalizer micro-benchmark: messages per second of `normalize_lines` vs a bare replay decode.

Realistic in-memory replay lines for each venue, normalized with a fresh normalizer each run (best of
3), against what `tardis_dev.replay` itself does per line (json.loads + datetime.fromisoformat). The
lines of every venue are the loopback sample feed's own (`venue_lines`: every message shape the
venue sends, two symbols); `sample_lines` are hand-made Gate/Bitfinex lines kept for the tests.

    python -m bench.normalize_bench [COUNT]    # default 200000 lines per venue
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import orjson

from pipelines.core.columns import BITFINEX, GATE
from pipelines.venues.normalize import PREFIX_LEN, normalize_lines
from pipelines.venues.registry import VENUES

log = logging.getLogger(__name__)


def bench_normalize(lines: Sequence[bytes | str], exchange: str | None = None, repeat: int = 3) -> float:
    """Messages per second of `normalize_lines` over in-memory replay lines, best of `repeat` runs
    (each with a fresh normalizer); the exchange is sniffed from the first line when None."""
    if exchange is None:
        exchange = GATE if b"futures.tickers" in _as_bytes(lines[0]) else BITFINEX

    def run() -> None:
        for _ in normalize_lines(exchange, lines):
            pass

    return _best_rate(run, len(lines), repeat)


def bench_baseline(lines: Sequence[bytes | str], repeat: int = 3) -> float:
    """Messages per second of a bare `tardis_dev.replay` decode (json.loads + datetime.fromisoformat)."""
    import json

    def run() -> None:
        for line in lines:
            line = _as_bytes(line)
            if len(line) <= 1:  # a disconnect marker: tardis_dev yields None, nothing to decode
                continue
            datetime.fromisoformat(line[: PREFIX_LEN - 2].decode("utf-8"))
            json.loads(line[PREFIX_LEN + 1 :])

    return _best_rate(run, len(lines), repeat)


def _best_rate(run: Callable[[], None], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def _as_bytes(line: bytes | str) -> bytes:
    return line if type(line) is bytes else line.encode()


def sample_lines(exchange: str, count: int, symbols: Sequence[str] = (), seed: int = 1) -> list[bytes]:
    """Realistic replay lines (full-size raw messages, prices random-walking) for benchmarks."""
    import random

    rng = random.Random(seed)
    symbols = symbols or (("BTC_USDT", "ETH_USDT") if exchange == GATE else ("BTCF0:USTF0", "ETHF0:USTF0"))
    start_ms = 1_709_280_000_000
    lines = [] if exchange == GATE else [_bfx_subscribed(i, s) for i, s in enumerate(symbols)]
    prices = [62000.0 if i == 0 else 3400.0 for i in range(len(symbols))]
    for n in range(count - len(lines)):
        i = n % len(symbols)
        prices[i] = round(prices[i] * (1 + rng.gauss(0, 2e-5)), 1)
        ms = start_ms + n * 250 + rng.randrange(50)
        message = (_gate_message if exchange == GATE else _bfx_message)(i, symbols[i], prices[i], ms, n)
        lines.append(_prefix(ms + 3) + b" " + message + b"\n")
    return lines


def venue_lines(exchange: str, count: int, seed: int = 1) -> list[bytes]:
    """About `count` replay lines of `exchange` from the sample feed (first two default symbols),
    as many sample days as it takes, in replay order."""
    from datetime import date, timedelta

    from loopback.generator import SampleFeed
    from loopback.sims import sim

    symbols = list(sim(exchange).symbols[:2])
    per_day = 2 * 86_400 / 2.0  # two symbols, one update per 2 s each
    interval = max(0.05, min(60.0, 2.0 * per_day / max(count, 1)))
    feed = SampleFeed(seed=seed, interval_seconds=interval, symbols={exchange: symbols})
    lines: list[bytes] = []
    day = date(2024, 3, 1)
    while len(lines) < count:
        lines.extend(line.encode() for line in feed.day_lines(exchange, day)[2])
        day += timedelta(days=1)
    return lines[:count]


def _prefix(ms: int) -> bytes:
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}4567Z".encode()


def _gate_message(i: int, symbol: str, price: float, ms: int, n: int) -> bytes:
    ticker = {
        "contract": symbol, "last": f"{price}", "change_percentage": "1.0321",
        "total_size": f"{512345 + n // 4}",
        "volume_24h": "1234567", "volume_24h_base": "12345", "volume_24h_quote": "765432100",
        "volume_24h_settle": "765432100", "mark_price": f"{price + 0.3:.1f}", "funding_rate": "0.000104",
        "funding_rate_indicative": "0.000104", "index_price": f"{price - 1.2:.1f}", "quanto_base_rate": "",
        "low_24h": "60012.3", "high_24h": "62987.1", "price_type": "last", "change_utc0": "0.9",
        "change_utc8": "0.4",
    }  # fmt: skip
    return orjson.dumps(
        {
            "time": ms // 1000,
            "time_ms": ms,
            "channel": "futures.tickers",
            "event": "update",
            "result": [ticker],
        }
    )


def _bfx_message(i: int, symbol: str, price: float, ms: int, n: int) -> bytes:
    status = [ms, None, price, price - 1.5, None, 1234567.89, None, 1_709_308_800_000, 1.2e-05 + n * 1e-9,
              5, None, 0.0001, None, None, price + 0.4, None, None, 1234.5 + n // 4, None, None, None, -0.001,
              0.001]  # fmt: skip
    return orjson.dumps([100 + i, status, n, ms, "status", symbol])


def _bfx_subscribed(i: int, symbol: str) -> bytes:
    message = {"event": "subscribed", "channel": "status", "chanId": 100 + i, "key": f"deriv:t{symbol}"}
    return _prefix(1_709_280_000_000) + b" " + orjson.dumps(message) + b"\n"


if __name__ == "__main__":  # python -m bench.normalize_bench [COUNT]: msgs/s vs the bare-replay baseline
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    for exchange_id in VENUES:
        sample = venue_lines(exchange_id, total)
        fast, base = bench_normalize(sample, exchange_id), bench_baseline(sample)
        log.info("%s: normalize %.0f msgs/s, bare replay decode %.0f msgs/s", exchange_id, fast, base)
