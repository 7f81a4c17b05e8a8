"""Differential test for binance-futures: arbdb's normalizer against tardis-node's own mapper
(`BinanceFuturesDerivativeTickerMapper`), row for row, every column, exact floats.

The seeded generator mixes the real shapes of a Tardis binance-futures replay (as recorded in
tardis-node's test/mappers.test.ts): the combined-stream envelope, `@markPrice` (2019, no index)
and `@markPrice@1s` (with `i`, sometimes `P`), quarterly contracts' delivery-style `r: ""` or
`T: 0`, `24hrTicker`, Tardis' generated `@openInterest` polls (with and without `time`),
subscription replies, the connection's other streams (trade, aggTrade, depth, depthSnapshot,
bookTicker, forceOrder), several symbols interleaved, disconnects, event times running backwards,
and dropped fields. tardis-node's index.ts uses one mapper for every date, so there are no eras;
the two markPrice shapes stand for the old and new data.

Inputs behind the documented deviations (pipelines/venues/binance/README.md) are left out here and pinned in
test_binance_deviations.py: null or unparseable values, a missing `p`/`c`, `T` missing or null
beside `r`, and a first message of a symbol without `E`. `E` is dropped only once the symbol has
an exchange time since the last disconnect (tardis-node then keeps it, as arbdb does).
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
from pipelines.core.columns import BINANCE
from tests.venues.tardis_node import arbdb_records, missing_reason, node_output, node_records
from tests.venues.test_normalize_reference import (
    LINES_PER_SEED,
    SEEDS,
    Clock,
    assert_same_rows,
    local_prefix,
    parse_cell,
    walk,
)

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

PERPETUALS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
QUARTERLY = "BTCUSDT_240628"  # a USDT-M delivery contract: markPrice with r "" or T 0
SYMBOLS = (*PERPETUALS, QUARTERLY)
EIGHT_HOURS_MS = 8 * 3_600_000


class Book:
    """The generator's view of the connection: prices and rates per symbol, and which symbols have
    an exchange time since the last disconnect."""

    def __init__(self, rnd: random.Random) -> None:
        self.prices = {s: rnd.uniform(0.1, 60_000) for s in SYMBOLS}
        self.rates = {s: round(rnd.uniform(-0.0005, 0.0008), 8) for s in SYMBOLS}
        self.oi = {s: round(rnd.uniform(100, 90_000), 3) for s in SYMBOLS}
        self.timed: set[str] = set()


def binance_replay(seed: int) -> Iterator[str]:
    rnd, clock = random.Random(seed), Clock(random.Random(seed + 30_000))
    book = Book(rnd)
    for _ in range(LINES_PER_SEED):
        if rnd.random() < 0.01:
            book.timed.clear()
            yield ""  # disconnect
            continue
        yield f"{clock.tick()} {json.dumps(binance_message(rnd, clock, book))}"


def binance_message(rnd: random.Random, clock: Clock, book: Book) -> dict:
    symbol = rnd.choice(SYMBOLS)
    kind = rnd.random()
    if kind < 0.12:
        return other_stream(rnd, clock, symbol)
    if kind < 0.5:
        return mark_price(rnd, clock, book, symbol)
    if kind < 0.8:
        return ticker(rnd, clock, book, symbol)
    return open_interest(rnd, clock, book, symbol)


def event_time(rnd: random.Random, clock: Clock, book: Book, symbol: str) -> dict:
    """`{"E": ms}`, or nothing now and then once the symbol has a time (tardis-node keeps it)."""
    if symbol in book.timed and rnd.random() < 0.04:
        return {}
    book.timed.add(symbol)
    return {"E": clock.exchange_ms()}


def next_funding_ms(clock: Clock, symbol: str) -> int:
    interval = 4 * 3_600_000 if symbol == "SOLUSDT" else EIGHT_HOURS_MS
    return (clock.local_us // 1000 // interval + 1) * interval


def mark_price(rnd: random.Random, clock: Clock, book: Book, symbol: str) -> dict:
    book.prices[symbol] = price = walk(rnd, book.prices[symbol], 2)
    book.rates[symbol] = walk(rnd, book.rates[symbol], 8)
    old_shape = rnd.random() < 0.25  # 2019's `@markPrice`: no index price
    data: dict = {"e": "markPriceUpdate", **event_time(rnd, clock, book, symbol), "s": symbol,
                  "p": f"{walk(rnd, price, 2):.8f}"}  # fmt: skip
    if not old_shape:
        data["P"] = f"{walk(rnd, price, 2):.8f}"
        data["i"] = f"{walk(rnd, price, 2):.8f}"
        if rnd.random() < 0.05:
            del data["i"]
    data["r"], data["T"] = f"{book.rates[symbol]:.8f}", next_funding_ms(clock, symbol)
    if symbol == QUARTERLY:
        data["r"], data["T"] = rnd.choice([("", 0), ("0.00000000", 0), ("", next_funding_ms(clock, symbol))])
    elif rnd.random() < 0.05:
        del data["r"]  # no rate: T is not read either
    if rnd.random() < 0.3:
        data = dict(rnd.sample(list(data.items()), len(data)))  # key order does not matter
    stream = f"{symbol.lower()}@markPrice" + ("" if old_shape else "@1s")
    return {"stream": stream, "data": data}


def ticker(rnd: random.Random, clock: Clock, book: Book, symbol: str) -> dict:
    book.prices[symbol] = price = walk(rnd, book.prices[symbol], 2)
    data = {"e": "24hrTicker", **event_time(rnd, clock, book, symbol), "s": symbol, "p": "-88.17",
            "P": "-0.855", "w": f"{price:.2f}", "c": f"{price:.2f}", "Q": "2.097", "o": f"{price * 1.01:.2f}",
            "h": f"{price * 1.02:.2f}", "l": f"{price * 0.98:.2f}", "v": "20248.900", "q": "207024349.13",
            "O": clock.local_us // 1000 - 86_400_000, "C": clock.local_us // 1000, "F": 148927,
            "L": 181349, "n": 32423}  # fmt: skip
    return {"stream": f"{symbol.lower()}@ticker", "data": data}


def open_interest(rnd: random.Random, clock: Clock, book: Book, symbol: str) -> dict:
    book.oi[symbol] = walk(rnd, book.oi[symbol], 3)
    data: dict = {"symbol": symbol, "openInterest": f"{book.oi[symbol]:.3f}"}
    if rnd.random() < 0.5:
        data["time"] = clock.exchange_ms()  # newer polls carry the REST response time
    return {"stream": f"{symbol.lower()}@openInterest", "generated": True, "data": data}


def other_stream(rnd: random.Random, clock: Clock, symbol: str) -> dict:
    """Messages of the same connection the derivative-ticker mapper must not read."""
    ms, low = clock.exchange_ms(), symbol.lower()
    return rnd.choice([
        {"id": rnd.randrange(1, 10**6), "result": None},
        {"stream": f"{low}@trade", "data": {"e": "trade", "E": ms, "T": ms - 3, "s": symbol, "t": 7,
                                            "p": "11343.67", "q": "0.467", "X": "MARKET", "m": True}},
        {"stream": f"{low}@aggTrade", "data": {"e": "aggTrade", "E": ms, "s": symbol, "p": "10223.74",
                                               "q": "0.236", "f": 1, "l": 1, "T": ms, "m": False}},
        {"stream": f"{low}@depth@100ms", "data": {"e": "depthUpdate", "E": ms, "T": ms, "s": symbol,
                                                  "U": 1, "u": 2, "pu": 0, "b": [["1", "2"]], "a": []}},
        {"stream": f"{low}@depthSnapshot", "generated": True, "data": {"lastUpdateId": 5, "E": ms,
                                                                       "T": ms, "bids": [], "asks": []}},
        {"stream": f"{low}@bookTicker", "data": {"e": "bookTicker", "u": 1, "s": symbol, "b": "1",
                                                 "B": "2", "a": "3", "A": "4", "T": ms, "E": ms}},
        {"stream": f"{low}@forceOrder", "data": {"e": "forceOrder", "E": ms, "o": {"s": symbol, "S": "BUY",
                                                                                    "p": "4793.91"}}},
    ])  # fmt: skip


# -- odd shapes: not seen in real data, but the two must still agree -----------------------------------

ODD_VALUES = ["1.5", " 2 ", 3, 4.25, ".1", "7.", "+3", "1e3", "-0.5", 12345678901234567890, "0.000100"]


def odd_message(rnd: random.Random) -> object:
    """Odd streams and events: index price updates, `symbol` instead of `s`, open interest inside a
    mark price, numbers as JSON numbers or odd strings, fractional times, T 0 or 0.0, no stream."""
    symbol = rnd.choice(["A", "A_1", "B"])
    stream = rnd.choice(["a@markPrice", "a@markPriceX", "a@ticker", "a@tickerX", "a@openInterest",
                         "@indexPrice", "a@indexPrice@1s", "a@trade", "x"])  # fmt: skip
    value = lambda: rnd.choice(ODD_VALUES)  # noqa: E731
    data: dict = {"E": rnd.randrange(1000, 5000) + rnd.choice([0, 0, 0.5])}
    event = rnd.choice(["markPriceUpdate", "24hrTicker", "indexPriceUpdate", None, "other"])
    if event is not None:
        data["e"] = event
    data["s" if rnd.random() < 0.7 else "symbol"] = symbol
    if event == "indexPriceUpdate":
        data.update(i=rnd.choice(["A", "B", "C"]), p=value())
    for key in ("p", "i", "r", "c", "openInterest"):
        if rnd.random() < 0.5:
            data[key] = value()
    if rnd.random() < 0.3:
        data["r"] = ""
    data["T"] = rnd.choice([0, 0.0, rnd.randrange(10**6), rnd.randrange(10**6) + 0.5])
    data.setdefault("p", value())  # tardis-node reads p of every markPriceUpdate (NaN when missing)
    data.setdefault("c", value())
    message: dict = {"stream": stream, "data": data}
    return message if rnd.random() > 0.05 else rnd.choice([[1], "s", 5, {"a": 1}, {"id": 1, "result": None}])


def odd_replay() -> list[str]:
    rnd, us, lines = random.Random(11), 1_625_097_600_000_000, []
    for _ in range(3000):
        us += rnd.randrange(1, 10**6)
        lines.append("" if rnd.random() < 0.01 else f"{local_prefix(us)} {json.dumps(odd_message(rnd))}")
    return lines


# -- the comparison -----------------------------------------------------------------------------------


def all_seeds() -> list[str]:
    lines: list[str] = []
    for seed in SEEDS:
        lines += [*binance_replay(seed), ""]  # a disconnect between seeds: both sides start afresh
    return lines


def test_normalize_lines_matches_tardis_node_row_for_row():
    lines, malformed = all_seeds(), []
    ours, theirs = arbdb_records(BINANCE, lines, malformed), node_records(BINANCE, lines)
    assert len(theirs) > len(SEEDS) * 200  # the generator really makes rows
    assert {row[1] for row in theirs} == set(SYMBOLS)
    assert any(row[4] is None for row in theirs if row[1] == QUARTERLY)  # delivery: no funding time
    assert_same_rows(ours, theirs)
    assert not malformed, f"arbdb rejected lines tardis-node maps: {malformed[:5]}"


def test_odd_shapes_give_the_same_rows_as_tardis_node():
    lines = odd_replay()
    theirs = [tuple(entry[2:]) for entry in node_output(BINANCE, lines) if entry[0] == "row"]
    assert len(theirs) > 500
    assert_same_rows(arbdb_records(BINANCE, lines, malformed=[]), theirs)


def test_arbdb_normalize_cli_csv_matches_tardis_node(tmp_path):
    lines = [line for seed in SEEDS[:5] for line in [*binance_replay(seed), ""]]
    path = tmp_path / "replay.txt"
    path.write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["normalize", "--exchange", BINANCE, str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    ours = [tuple(parse_cell(i, cell) for i, cell in enumerate(row)) for row in rows]
    assert_same_rows(ours, node_records(BINANCE, lines))
