"""Differential test: arbdb's Bybit normalizer against tardis-node's own mappers, row for row.

A seeded generator writes replay lines around tardis-node's mapper switch (2023-04-05 00:00 UTC):
V5 `tickers` snapshots and deltas carrying only the changed fields, pre-V5 `instrument_info`
snapshots and deltas (snake_case `_e4`/`_e6`/`_e8` strings, inverse integers, the 2022 camelCase
form, 1970 `next_funding_time`, `updated_at` without `timestamp_e6`), several symbols (linear,
inverse, a dated future with empty funding fields), subscription replies, pongs and other topics,
the other era's topic, disconnects, exchange times going backwards and null `ts`. A connection keeps
the mapper of its first message, so a seed that crosses the switch without a disconnect goes on
with the old mapper (and ignores V5 topics) until its next disconnect, in both.

Inputs behind the documented deviations (pipelines/venues/bybit/README.md) are left out: null or
unparseable values
(tardis-node stores 0 or NaN), a V5 `nextFundingTime` of 0, a missing `ts`, string `open_interest`.
Compared after the documented rule: a null `ts` on a symbol's first message (tardis-node 1970,
arbdb the local time), as for Gate and Bitfinex.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import BYBIT
from tests.venues.tardis_node import arbdb_records, missing_reason, node_records
from tests.venues.test_normalize_reference import (
    assert_same_rows,
    local_prefix,
    parse_cell,
    walk,
)

SEEDS = range(40)
LINES_PER_SEED = 400
SWITCH_MS = 1_680_652_800_000  # 2023-04-05T00:00:00Z
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSD", "BTCUSDU23")
INTERVAL_MS = {
    "BTCUSDT": 8 * 3_600_000,
    "ETHUSDT": 4 * 3_600_000,
    "SOLUSDT": 3_600_000,
    "BTCUSD": 8 * 3_600_000,
}

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


class Clock:
    """Local time from about an hour before the switch; the exchange time trails it, sometimes back."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.local_us = (SWITCH_MS - 3_600_000 + rnd.randrange(2 * 3_600_000)) * 1000

    def tick(self) -> str:
        self.local_us += self.rnd.choice([1, 50, 900, 250_000, 1_000_000, 9_000_000, 61_000_000])
        return local_prefix(self.local_us)

    def exchange_ms(self) -> int:
        return self.local_us // 1000 - self.rnd.choice([0, 0, 0, 3, 40, 2000, 90_000])

    def v5(self) -> bool:
        return self.local_us >= SWITCH_MS * 1000


class Market:
    """Per symbol: the values Bybit would show, walking."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.price = {s: rnd.uniform(0.1, 60_000) for s in SYMBOLS}
        self.rate = {s: round(rnd.uniform(-0.001, 0.001), 6) for s in SYMBOLS}
        self.oi = {s: round(rnd.uniform(1, 90_000), 3) for s in SYMBOLS}

    def step(self, symbol: str) -> None:
        self.price[symbol] = max(walk(self.rnd, self.price[symbol], 2), 0.01)
        self.rate[symbol] = walk(self.rnd, self.rate[symbol], 6)
        self.oi[symbol] = walk(self.rnd, self.oi[symbol], 3)

    def next_funding_ms(self, symbol: str, now_ms: int) -> int | None:
        interval = INTERVAL_MS.get(symbol)
        return None if interval is None else (now_ms // interval + 1) * interval


def bybit_replay(seed: int) -> Iterator[str]:
    rnd, clock = random.Random(seed), Clock(random.Random(seed + 30_000))
    market = Market(rnd)
    for _ in range(LINES_PER_SEED):
        if rnd.random() < 0.015:
            yield ""  # disconnect
            continue
        yield f"{clock.tick()} {json.dumps(bybit_message(rnd, clock, market))}"


def bybit_message(rnd: random.Random, clock: Clock, market: Market) -> dict:
    kind = rnd.random()
    if kind < 0.08:  # other messages of the connection
        return other_message(rnd, clock)
    symbol = rnd.choice(SYMBOLS)
    market.step(symbol)
    v5 = clock.v5() if rnd.random() > 0.05 else not clock.v5()  # now and then the other era's topic
    return v5_ticker(rnd, clock, market, symbol) if v5 else instrument_info(rnd, clock, market, symbol)


def other_message(rnd: random.Random, clock: Clock) -> dict:
    ms = clock.exchange_ms()
    return rnd.choice(
        [
            {"success": True, "ret_msg": "", "conn_id": "c0f1", "op": "subscribe"},
            {
                "success": True,
                "ret_msg": "",
                "conn_id": "c0f1",
                "request": {"op": "subscribe", "args": ["trade.BTCUSD"]},
            },
            {"success": True, "ret_msg": "pong", "conn_id": "c0f1", "op": "ping"},
            {
                "topic": "orderbook.50.BTCUSDT",
                "type": "delta",
                "ts": ms,
                "data": {"s": "BTCUSDT", "b": [["1", "2"]], "a": [], "u": 5},
            },
            {
                "topic": "publicTrade.BTCUSDT",
                "type": "snapshot",
                "ts": ms,
                "data": [{"T": ms, "s": "BTCUSDT", "S": "Buy", "v": "0.1", "p": "1"}],
            },
            {
                "topic": "liquidation.BTCUSDT",
                "data": {"symbol": "BTCUSDT", "side": "Sell", "price": "1", "qty": "1", "time": ms},
            },
            {
                "topic": "trade.BTCUSD",
                "data": [{"symbol": "BTCUSD", "price": 1, "size": 1, "trade_id": "x", "side": "Buy"}],
            },
        ]
    )


def v5_ticker(rnd: random.Random, clock: Clock, market: Market, symbol: str) -> dict:
    """A snapshot (every field) or a delta with a random subset of the fields."""
    price = market.price[symbol]
    funding = market.next_funding_ms(symbol, clock.local_us // 1000)
    fields = {
        "lastPrice": f"{price:.2f}", "markPrice": f"{walk(rnd, price, 2):.2f}",
        "indexPrice": f"{walk(rnd, price, 2):.2f}", "openInterest": f"{market.oi[symbol]}",
        "openInterestValue": "1506861070.82", "turnover24h": "4273027716.4294", "price24hPcnt": "0.023333",
        "nextFundingTime": "" if funding is None else str(funding),
        "fundingRate": "" if funding is None else f"{market.rate[symbol]}",
        "bid1Price": f"{price:.2f}", "bid1Size": "2.049", "ask1Price": f"{price + 0.1:.2f}", "ask1Size": "1",
    }  # fmt: skip
    snapshot = rnd.random() < 0.15
    if not snapshot:
        fields = {k: v for k, v in fields.items() if rnd.random() < 0.35}
    data = {"symbol": symbol, **fields}
    msg: dict = {"topic": f"tickers.{symbol}", "type": "snapshot" if snapshot else "delta", "data": data}
    msg["cs"] = rnd.randrange(10**10)
    msg["ts"] = None if rnd.random() < 0.03 else clock.exchange_ms()
    return msg


def e6_time(ms: int) -> str:
    """A `timestamp_e6` whose microseconds depend on the millisecond only (see `_instrument_time`)."""
    return str(ms * 1000 + (ms * 7 % 1000 if ms % 1000 else 0))


def iso(ms: int, millis: bool = True) -> str:
    moment = local_prefix(ms * 1000)
    return f"{moment[:23]}Z" if millis else f"{moment[:19]}Z"


def instrument_info(rnd: random.Random, clock: Clock, market: Market, symbol: str) -> dict:
    """Pre-V5 instrument_info: a snapshot or a `data.update[0]` delta, snake_case or camelCase."""
    ms = clock.exchange_ms()
    info = rnd.choice([snake_info, camel_info])(rnd, clock, market, symbol)
    snapshot = rnd.random() < 0.2
    if not snapshot:
        info = {k: v for k, v in info.items() if k == "symbol" or rnd.random() < 0.4}
    info["updated_at"] = iso(ms // 1000 * 1000, millis=rnd.random() < 0.5)
    msg: dict = {"topic": f"instrument_info.100ms.{symbol}", "type": "snapshot" if snapshot else "delta"}
    if snapshot:
        msg["data"] = info
    else:
        extra = [{"symbol": symbol, "mark_price_e4": "1"}] if rnd.random() < 0.1 else []  # never read
        msg["data"] = {"delete": [], "update": [info, *extra], "insert": []}
        if rnd.random() < 0.3:
            msg["data"] = {"update": [info, *extra]}
    when = rnd.random()
    if when < 0.85:
        msg["timestamp_e6" if "last_price_e4" in info or when < 0.5 else "timestampE6"] = e6_time(ms)
    elif when < 0.9:
        msg["timestamp_e6"] = int(e6_time(ms))  # inverse contracts: a JSON number
    msg["cross_seq"] = str(rnd.randrange(10**9))
    return msg


def snake_info(rnd: random.Random, clock: Clock, market: Market, symbol: str) -> dict:
    price, rate = market.price[symbol], market.rate[symbol]
    inverse = symbol == "BTCUSD"
    e4 = (lambda x: int(round(x * 1e4))) if inverse else (lambda x: str(int(round(x * 1e4))))
    funding = market.next_funding_ms(symbol, clock.local_us // 1000)
    info = {
        "id": 1, "symbol": symbol, "last_price_e4": e4(price), "last_tick_direction": "PlusTick",
        "prev_price_24h_e4": e4(price * 0.97), "mark_price_e4": e4(walk(rnd, price, 2)),
        "index_price_e4": e4(walk(rnd, price, 2)), "funding_rate_e6": str(round(rate * 1e6)),
        "predicted_funding_rate_e6": str(round(walk(rnd, rate, 6) * 1e6)),
        "cross_seq": "177025335", "created_at": "1970-01-01T00:00:00.000Z",
    }  # fmt: skip
    if inverse:
        info["open_interest"] = int(market.oi[symbol])
    else:
        info["open_interest_e8"] = str(int(round(market.oi[symbol] * 1e8)))
    if rnd.random() < 0.3:
        info["last_price"] = f"{price:.2f}"  # read before last_price_e4
    if funding is None or rnd.random() < 0.1:
        info["next_funding_time"] = "1970-01-01T00:00:00Z"  # what Bybit sent for none
    else:
        info["next_funding_time"] = iso(funding, millis=False)
    return info


def camel_info(rnd: random.Random, clock: Clock, market: Market, symbol: str) -> dict:
    price, rate = market.price[symbol], market.rate[symbol]
    funding = market.next_funding_ms(symbol, clock.local_us // 1000) or 0
    mark, index = walk(rnd, price, 2), walk(rnd, price, 2)
    info = {
        "id": 1, "symbol": symbol, "lastPriceE4": str(int(round(price * 1e4))), "lastPrice": f"{price:.2f}",
        "markPriceE4": str(int(round(mark * 1e4))), "markPrice": f"{mark:.2f}",
        "indexPriceE4": str(int(round(index * 1e4))), "indexPrice": f"{index:.2f}",
        "openInterestE8": str(int(round(market.oi[symbol] * 1e8))), "fundingRateE6": str(round(rate * 1e6)),
        "predictedFundingRateE6": str(round(walk(rnd, rate, 6) * 1e6)),
        "nextFundingTime": iso(funding, millis=False), "countDownHour": "7",
    }  # fmt: skip
    for key in ("lastPrice", "markPrice", "indexPrice"):
        if rnd.random() < 0.3:
            del info[key]  # the E4 form alone
    return info


def all_lines() -> list[str]:
    lines: list[str] = []
    for seed in SEEDS:
        lines += [*bybit_replay(seed), ""]
    return lines


def test_generator_mixes_both_eras_and_crossings():
    """The generator really covers both mappers, and seeds that cross the switch in one connection."""
    lines = all_lines()
    text = "\n".join(lines)
    assert text.count('"topic": "tickers.') > 2000 and text.count('"topic": "instrument_info.') > 2000
    crossing = 0
    for seed in SEEDS:
        connection_start = None
        for line in bybit_replay(seed):
            if not line:
                connection_start = None
                continue
            connection_start = connection_start or line[:23]
            crossing += connection_start < "2023-04-05" <= line[:23]
    assert crossing > 100


def test_normalize_lines_matches_tardis_node_row_for_row():
    lines, malformed = all_lines(), []
    ours, theirs = arbdb_records(BYBIT, lines, malformed), node_records(BYBIT, lines)
    assert len(theirs) > len(SEEDS) * 150
    assert {row[1] for row in theirs} == set(SYMBOLS)
    assert_same_rows(ours, theirs)
    assert not malformed, f"arbdb rejected lines tardis-node maps: {malformed[:5]}"


def test_arbdb_normalize_cli_csv_matches_tardis_node(tmp_path):
    lines = [line for seed in SEEDS[:6] for line in [*bybit_replay(seed), ""]]
    path = tmp_path / "replay.txt"
    path.write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["normalize", "--exchange", BYBIT, str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    ours = [tuple(parse_cell(i, cell) for i, cell in enumerate(row)) for row in rows]
    assert len(ours) > 500
    assert_same_rows(ours, node_records(BYBIT, lines))
