"""Differential test: arbdb's normalizers against tardis-node's own mappers, row for row, every column.

Our own seeded generator writes replay files mixing every real message shape (below, per exchange),
many seeds of several hundred lines each. All seeds of one exchange go to ONE node process and one
arbdb run, separated by disconnects (an empty line resets both sides), so the module stays fast.
A second, smaller generator writes odd shapes no exchange sends, to cover the mappers' other
paths. Floats are compared exactly (node prints the shortest round-trip form, which Python reads back to
the same double).

Inputs behind the documented deviations (docs/computation.md, "Deviations from tardis-node"):
- excluded from the generator: Gate null/""/missing value keys other than `total_size` being
  missing (tardis-node stores 0 or NaN), unparseable or infinite numbers, a Gate message with
  neither `time_ms` nor `time`, a null NEXT_FUNDING_EVT (1970), non-string contracts;
- generated, and compared after the documented rule: a null exchange time (Gate `time_ms: null`,
  Bitfinex `message[3]: null`) on the first message of a symbol. tardis-node stamps that row 1970
  (timestamp 0), arbdb the row's local time, so a node timestamp of 0 is expected as local_timestamp.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import BITFINEX, GATE
from tests.venues.tardis_node import arbdb_records, missing_reason, node_output, node_records

SEEDS = range(40)
LINES_PER_SEED = 400
START_MS = 1_625_097_600_000  # 2021-07-01T00:00:00Z

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def local_prefix(us: int) -> str:
    """The replay's 28-char local timestamp for `us` microseconds (100 ns digit random-ish)."""
    moment = datetime.fromtimestamp(us // 1_000_000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{us % 1_000_000 * 10 + us % 7:07d}Z"


class Clock:
    """Local time moving forward; the exchange time trails it and sometimes goes backwards."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd, self.local_us = rnd, START_MS * 1000 + rnd.randrange(10**9)

    def tick(self) -> str:
        self.local_us += self.rnd.choice([1, 50, 900, 250_000, 1_000_000, 61_000_000])
        return local_prefix(self.local_us)

    def exchange_ms(self) -> int:
        back = self.rnd.choice([0, 0, 0, 3, 40, 2000, 90_000])  # now and then an earlier time
        return self.local_us // 1000 - back


def walk(rnd: random.Random, value: float, digits: int) -> float:
    """A price or rate that stays put half of the time (so unchanged tickers emit nothing)."""
    return value if rnd.random() < 0.5 else round(value * (1 + rnd.uniform(-0.002, 0.002)), digits)


# -- gate-io-futures -----------------------------------------------------------------------------------

GATE_SYMBOLS = ("BTC_USDT", "ETH_USDT", "SOL_USDT")


def gate_replay(seed: int) -> Iterator[str]:
    """Gate lines: object/list/nested results, several symbols per message, a later ticker without
    contract, missing total_size, time_ms null or missing (whole-second `time`), other channels."""
    rnd, clock = random.Random(seed), Clock(random.Random(seed + 10_000))
    prices = {s: rnd.uniform(1, 60_000) for s in GATE_SYMBOLS}
    rates = {s: round(rnd.uniform(-0.001, 0.001), 6) for s in GATE_SYMBOLS}
    for _ in range(LINES_PER_SEED):
        if rnd.random() < 0.01:
            yield ""  # disconnect
            continue
        yield f"{clock.tick()} {json.dumps(gate_message(rnd, clock, prices, rates))}"


def gate_ticker(rnd: random.Random, symbol: str, prices: dict, rates: dict) -> dict:
    prices[symbol] = walk(rnd, prices[symbol], 2)
    rates[symbol] = walk(rnd, rates[symbol], 6)
    price = prices[symbol]
    ticker = {"contract": symbol, "last": f"{price}", "change_percentage": "0.5",
              "mark_price": f"{walk(rnd, price, 2)}", "index_price": f"{walk(rnd, price, 2)}",
              "funding_rate": f"{rates[symbol]}", "funding_rate_indicative": f"{walk(rnd, rates[symbol], 6)}",
              "total_size": str(rnd.choice([1000, 1001, 2500])), "volume_24h": "1234",
              "quanto_base_rate": ""}  # fmt: skip
    if rnd.random() < 0.15:
        del ticker["total_size"]  # tardis-node: absent means unchanged, like arbdb
    if rnd.random() < 0.3:
        ticker = dict(rnd.sample(list(ticker.items()), len(ticker)))  # key order does not matter
    return ticker


def gate_message(rnd: random.Random, clock: Clock, prices: dict, rates: dict) -> dict:
    kind = rnd.random()
    if kind < 0.06:  # another channel or event of the same connection
        return rnd.choice([
            {"time": clock.local_us // 10**6, "channel": "futures.tickers", "event": "subscribe",
             "result": {"status": "success"}},
            {"time": clock.local_us // 10**6, "channel": "futures.book_ticker", "event": "update",
             "result": {"contract": "BTC_USDT", "b": "1", "a": "2", "t": 5}},
            {"time": clock.local_us // 10**6, "channel": "futures.pong", "event": "", "result": None},
        ])  # fmt: skip
    symbols = rnd.sample(GATE_SYMBOLS, rnd.choice([1, 1, 1, 2, 3])) + (
        [rnd.choice(GATE_SYMBOLS)] * (kind < 0.1)
    )
    tickers: list = [gate_ticker(rnd, s, prices, rates) for s in symbols]
    if kind < 0.16:
        tickers.insert(rnd.randrange(1, len(tickers) + 1), rnd.choice([{"last": "1"}, [tickers[0]], "x"]))
    if len(tickers) == 1 and rnd.random() < 0.4:
        result: object = tickers[0]  # `result` as a single object
    elif kind > 0.95:
        result = [tickers]  # the nested `[[{...}]]` shape of recorded 2021 data
    else:
        result = tickers
    ms = clock.exchange_ms()
    msg: dict = {"time": ms // 1000, "channel": "futures.tickers", "event": "update", "result": result}
    era = rnd.random()
    if era < 0.75:
        msg["time_ms"] = ms
    elif era < 0.82:
        msg["time_ms"] = None  # tardis-node: Date(0), i.e. keep the previous time
    return msg  # else: whole seconds only, as in older data


# -- bitfinex-derivatives ------------------------------------------------------------------------------

BFX_SYMBOLS = ("BTCF0:USTF0", "ETHF0:USTF0", "SOLF0:USTF0")


def bfx_replay(seed: int) -> Iterator[str]:
    """Bitfinex lines: info and subscribed events (status and other channels, reused chanIds),
    heartbeats in both shapes, known and unknown chanIds, with and without the "status", SYMBOL
    suffix, 12-element early arrays, null fields, null recorded timestamps, other channels' data."""
    rnd, clock = random.Random(seed), Clock(random.Random(seed + 20_000))
    state = {s: [rnd.uniform(1, 60_000), round(rnd.uniform(-0.0005, 0.0005), 8)] for s in BFX_SYMBOLS}
    chan_ids = list(range(100, 108))
    for _ in range(LINES_PER_SEED):
        if rnd.random() < 0.01:
            yield ""  # disconnect
            continue
        yield f"{clock.tick()} {json.dumps(bfx_message(rnd, clock, state, chan_ids))}"


def bfx_status(rnd: random.Random, clock: Clock, values: list) -> list:
    values[0] = walk(rnd, values[0], 1)
    values[1] = walk(rnd, values[1], 8)
    price, rate = values
    funding = (clock.local_us // 1000 // 28_800_000 + 1) * 28_800_000
    status = [clock.local_us // 1000, None, price, walk(rnd, price, 1), None, 1234.5, None, funding,
              walk(rnd, rate, 8), rnd.choice([1, 2]), None, rnd.choice([rate, 0]), None, None,
              walk(rnd, price, 1), None, None, rnd.choice([1500.5, 1501.25]), None, None, None,
              -0.0025, 0.0025]  # fmt: skip
    for i in (2, 3, 8, 11, 14, 17):
        if rnd.random() < 0.1:
            status[i] = None  # null keeps the previous value, in tardis-node too
    return status[:12] if rnd.random() < 0.1 else status


def bfx_message(rnd: random.Random, clock: Clock, state: dict, chan_ids: list) -> object:
    chan = rnd.choice(chan_ids)
    symbol = rnd.choice(BFX_SYMBOLS)
    kind = rnd.random()
    if kind < 0.1:
        return {"event": "subscribed", "channel": "status", "chanId": chan, "key": f"deriv:t{symbol}"}
    if kind < 0.14:
        return rnd.choice([
            {"event": "info", "version": 2, "serverId": "abc", "platform": {"status": 1}},
            {"event": "subscribed", "channel": "trades", "chanId": chan, "symbol": f"t{symbol}"},
            {"event": "subscribed", "channel": "status", "chanId": chan, "key": "liq:global"},
            {"event": "conf", "status": "OK", "flags": 98304},
        ])  # fmt: skip
    if kind < 0.22:
        return rnd.choice([[chan, "hb"], [chan, "hb", rnd.randrange(10**6), clock.exchange_ms()]])
    if kind < 0.26:  # another channel's data, with and without its own suffix
        trade = [chan, "te", [1, clock.local_us // 1000, 0.01, 61000.0], 7, clock.exchange_ms()]
        return rnd.choice([trade, [*trade, "trades", symbol]])
    ms = None if rnd.random() < 0.05 else clock.exchange_ms()
    msg = [chan, bfx_status(rnd, clock, state[symbol]), rnd.randrange(10**6), ms]
    return [*msg, "status", symbol] if rnd.random() < 0.5 else msg


# -- odd shapes: not seen in real data, but the two must still agree -----------------------------------


def odd_value(rnd: random.Random) -> object:
    """Number forms both read alike: padded, signed, exponent, bare point, a JSON number, a big int."""
    return rnd.choice(
        ["1.5", " 2 ", 3, 4.25, ".1", "7.", "+3", "1e3", "-0.5", 12345678901234567890, "0.000100"]
    )


def odd_gate_message(rnd: random.Random) -> object:
    keys = ("last", "mark_price", "index_price", "funding_rate", "funding_rate_indicative", "total_size")
    t = {"contract": rnd.choice("AB"), **{k: odd_value(rnd) for k in keys}}
    result = rnd.choice(
        [t, [t], [t, {**t, "contract": "B"}], [], {}, [[t]], [t, [t]], "x", 5, [5, t], [t, 5]]
    )
    msg: dict = {"channel": rnd.choice(["futures.tickers"] * 9 + ["x"]), "event": "update", "result": result}
    era = rnd.random()
    if era < 0.5:
        msg["time_ms"] = rnd.randrange(1000, 5000) + rnd.choice([0, 0.5])
    if era > 0.3:
        msg["time"] = rnd.randrange(1, 5)
    return msg if rnd.random() > 0.05 else rnd.choice([[1], "s", 5, {"a": 1}])


def odd_bfx_message(rnd: random.Random) -> object:
    chan = rnd.choice([1, 2, 3, "1"])
    if rnd.random() < 0.15:
        key = rnd.choice(["deriv:tA", "deriv:B", "liq:global", "deriv:tderiv:tC"])
        return {
            "event": "subscribed",
            "channel": rnd.choice(["status", "trades"]),
            "chanId": chan,
            "key": key,
        }
    st = [1, None, 2.5, 3.5, None, 1, None, rnd.choice([100, 200.5]), 0.1, 1, None, rnd.choice([0.2, 0]),
          None, None, rnd.choice([4.5, 5]), None, None, rnd.choice([6, 7.25])]  # fmt: skip
    ts = rnd.randrange(1000, 5000)
    return rnd.choice([
        [chan, st, 5, ts], [chan, st, 5, ts, "status", rnd.choice("AZ")], [chan, st, 5, ts, "status", 7],
        [chan, st, 5, ts, "x"], [chan, "hb"], [chan, "hb", 5, 6], [chan, st[:12], 5, ts], [chan, {}, 5, ts],
        [chan, 7, 5, ts],
    ])  # fmt: skip


def odd_replay(message) -> list[str]:
    rnd, us, lines = random.Random(7), START_MS * 1000, []
    for _ in range(3000):
        us += rnd.randrange(1, 10**6)
        lines.append("" if rnd.random() < 0.01 else f"{local_prefix(us)} {json.dumps(message(rnd))}")
    return lines


@pytest.mark.parametrize(("exchange", "message"), [(GATE, odd_gate_message), (BITFINEX, odd_bfx_message)])
def test_odd_shapes_give_the_same_rows_as_tardis_node(exchange, message):
    """Shapes no exchange sends (empty/odd results, items that are not tickers, number forms, string
    chanIds, odd suffixes, payloads that are not arrays). arbdb may report some lines as malformed
    where tardis-node ignores or throws on them: only the rows are compared."""
    lines = odd_replay(message)
    assert_same_rows(arbdb_records(exchange, lines, malformed=[]), node_output_rows(exchange, lines))


def node_output_rows(exchange: str, lines: list[str]) -> list[tuple]:
    return [tuple(entry[2:]) for entry in node_output(exchange, lines) if entry[0] == "row"]


# -- the comparison -----------------------------------------------------------------------------------


def all_seeds(replay) -> list[str]:
    lines: list[str] = []
    for seed in SEEDS:
        lines += [*replay(seed), ""]  # a disconnect between seeds: both sides start afresh
    return lines


def documented_rule(row: tuple) -> tuple:
    """tardis-node's 1970 timestamp (a first row with a null exchange time) -> arbdb's local time."""
    return row if row[2] != 0 else (*row[:2], row[3], *row[3:])


def assert_same_rows(ours: list[tuple], theirs: list[tuple]) -> None:
    theirs = [documented_rule(row) for row in theirs]
    for index, (mine, ref) in enumerate(zip(ours, theirs, strict=False)):
        assert mine == ref, f"record {index} differs: arbdb {mine} != tardis-node {ref}"
    assert len(ours) == len(theirs)


@pytest.mark.parametrize(("exchange", "replay"), [(GATE, gate_replay), (BITFINEX, bfx_replay)])
def test_normalize_lines_matches_tardis_node_row_for_row(exchange, replay):
    lines, malformed = all_seeds(replay), []
    ours, theirs = arbdb_records(exchange, lines, malformed), node_records(exchange, lines)
    assert len(theirs) > len(SEEDS) * 50  # the generator really makes rows
    assert_same_rows(ours, theirs)
    assert not malformed, f"arbdb rejected lines tardis-node maps: {malformed[:5]}"


@pytest.mark.parametrize(("exchange", "replay"), [(GATE, gate_replay), (BITFINEX, bfx_replay)])
def test_arbdb_normalize_cli_csv_matches_tardis_node(tmp_path, exchange, replay):
    lines = [line for seed in SEEDS[:5] for line in [*replay(seed), ""]]
    path = tmp_path / "replay.txt"
    path.write_text("".join(line + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["normalize", "--exchange", exchange, str(path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    ours = [tuple(parse_cell(i, cell) for i, cell in enumerate(row)) for row in rows]
    assert_same_rows(ours, node_records(exchange, lines))


def parse_cell(index: int, cell: str) -> object:
    """A CSV cell back to the record's type: text, int microseconds, float, or None when empty."""
    if index < 2:
        return cell
    if cell == "":
        return None
    return int(cell) if index < 5 else float(cell)
