"""The okex-swap normalizer against tardis-node, case by case.

`test_match_*`: arbdb gives the hand-written expected records, and so does tardis-node's mapper.
`test_deviation_*`: arbdb gives the hand-written expected records; tardis-node gives the junk that
pipelines/venues/okx/README.md's deviation rows name (shown by running it). The tardis-node half skips
when node or
the npm package is missing; the arbdb half always runs first.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from pipelines.core.columns import OKX
from pipelines.venues.okx import V3_TABLES, V5_CHANNELS, VENUE
from tests.venues.tardis_node import REFERENCE, arbdb_records, missing_reason, node_records

V5_LOCAL = ["2024-03-01T08:00:00.1234567Z", "2024-03-01T08:00:01.0000010Z", "2024-03-01T08:00:02.5000000Z"]
V5_US = [1_709_280_000_123_456, 1_709_280_001_000_001, 1_709_280_002_500_000]
V3_LOCAL = ["2021-07-01T08:00:00.1234567Z", "2021-07-01T08:00:01.0000010Z", "2021-07-01T08:00:02.5000000Z"]
V3_US = [1_625_126_400_123_456, 1_625_126_401_000_001, 1_625_126_402_500_000]
T0 = 1_709_280_000_000  # ms, 2024-03-01T08:00:00Z
NEXT = T0 + 8 * 3_600_000
SWAP = "BTC-USDT-SWAP"


def lines(local: list[str], *messages: object) -> list[str]:
    """Replay lines, one local timestamp each; a None message is a disconnect (empty line)."""
    return ["" if m is None else f"{local[i]} {json.dumps(m)}" for i, m in enumerate(messages)]


def v5(channel: str, *items: dict) -> dict:
    return {"arg": {"channel": channel, "instId": items[0].get("instId")}, "data": list(items)}


def mark(px: object = "100.5", ts: object = str(T0), inst: str = SWAP) -> dict:
    return v5("mark-price", {"instType": "SWAP", "instId": inst, "markPx": px, "ts": ts})


def funding(rate: object = "0.0001", time: object = str(NEXT), nxt: object = "0.0002") -> dict:
    return v5(
        "funding-rate", {"fundingRate": rate, "fundingTime": time, "instId": SWAP, "nextFundingRate": nxt}
    )


def rec(ts: int, local: int, funding_us=None, rate=None, predicted=None, index=None, mark=None, symbol=SWAP):
    return (OKX, symbol, ts, local, funding_us, rate, predicted, None, None, index, mark)


def assert_both(replay: list[str], expected: list[tuple]) -> None:
    assert arbdb_records(OKX, replay) == expected
    assert node_records(OKX, replay) == expected


def assert_deviation(replay: list[str], ours: list[tuple], theirs: list[tuple]) -> None:
    assert arbdb_records(OKX, replay) == ours
    assert node_records(OKX, replay) == theirs


# -- where arbdb matches tardis-node ---------------------------------------------------------------------


def test_match_index_tickers_attach_to_the_swaps_of_that_index_usdc_on_usd():
    index = v5("index-tickers", {"instId": "BTC-USDT", "idxPx": "99.5", "ts": str(T0)})
    usd = v5("index-tickers", {"instId": "ETH-USD", "idxPx": "5.5", "ts": str(T0)})
    replay = lines(
        V5_LOCAL, index, usd, v5("mark-price", *mark()["data"], *mark("7", inst="ETH-USDC-SWAP")["data"])
    )
    assert_both(
        replay,
        [
            rec(T0 * 1000, V5_US[2], index=99.5, mark=100.5),
            rec(T0 * 1000, V5_US[2], index=5.5, mark=7.0, symbol="ETH-USDC-SWAP"),
        ],
    )


def test_match_funding_rate_first_keeps_the_local_time_until_a_later_exchange_time():
    early = str(T0 - 5_000)  # before the kept local time: not taken
    replay = lines(V5_LOCAL, funding(), mark(ts=early), mark("101", ts=str(T0 + 1500)))
    f = (NEXT * 1000, 0.0001, 0.0002)
    assert_both(
        replay,
        [
            rec(V5_US[0], V5_US[0], *f),
            rec(V5_US[0], V5_US[1], *f, mark=100.5),
            rec((T0 + 1500) * 1000, V5_US[2], *f, mark=101.0),
        ],
    )


def test_match_zero_prices_and_empty_next_rate_keep_the_previous_values():
    replay = lines(V5_LOCAL, funding(), funding(nxt=""), mark("0", ts=str(T0 + 9_000)))
    assert_both(replay, [rec(V5_US[0], V5_US[0], NEXT * 1000, 0.0001, 0.0002)])


def test_match_the_era_is_chosen_by_the_connections_first_message():
    v3_mark = {
        "table": "swap/mark_price",
        "data": [{"instrument_id": SWAP, "mark_price": "5", "timestamp": "2021-07-01T08:00:00.000Z"}],
    }
    late = [
        "2021-12-22T23:59:59.0000000Z",
        "2021-12-23T00:00:01.0000000Z",
        "",
        "2021-12-23T00:00:02.0000000Z",
    ]
    replay = [
        f"{late[0]} {json.dumps(v3_mark)}",
        f"{late[1]} {json.dumps(mark())}",
        "",
        f"{late[3]} {json.dumps(mark())}",
    ]
    expected = [
        rec(1_625_126_400_000_000, 1_640_217_599_000_000, mark=5.0),
        rec(T0 * 1000, 1_640_217_602_000_000, mark=100.5),
    ]
    assert_both(replay, expected)


# -- deviations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("junk", [None, ""])
def test_deviation_v5_null_or_empty_funding_rate_keeps_the_previous_rate(junk):
    replay = lines(V5_LOCAL, funding(), funding(rate=junk, nxt="0.0003"))
    ours = [
        rec(V5_US[0], V5_US[0], NEXT * 1000, 0.0001, 0.0002),
        rec(V5_US[0], V5_US[1], NEXT * 1000, 0.0001, 0.0003),
    ]
    theirs = [ours[0], rec(V5_US[0], V5_US[1], NEXT * 1000, 0.0, 0.0003)]
    assert_deviation(replay, ours, theirs)


def test_deviation_v5_null_next_funding_rate_keeps_the_previous_forecast():
    replay = lines(V5_LOCAL, funding(), funding(nxt=None))
    ours = [rec(V5_US[0], V5_US[0], NEXT * 1000, 0.0001, 0.0002)]
    assert_deviation(replay, ours, [*ours, rec(V5_US[0], V5_US[1], NEXT * 1000, 0.0001, 0.0)])


@pytest.mark.parametrize("junk", [None, "", "0"])
def test_deviation_v5_junk_funding_time_keeps_the_previous_one(junk):
    replay = lines(V5_LOCAL, funding(), funding(time=junk))
    ours = [rec(V5_US[0], V5_US[0], NEXT * 1000, 0.0001, 0.0002)]
    assert_deviation(replay, ours, [*ours, rec(V5_US[0], V5_US[1], 0, 0.0001, 0.0002)])


def test_deviation_v5_unparseable_funding_rate_is_not_nan_re_emitted():
    replay = lines(V5_LOCAL, funding(), funding(rate="abc"), funding(rate="abc"))
    ours = [rec(V5_US[0], V5_US[0], NEXT * 1000, 0.0001, 0.0002)]
    nan = rec(V5_US[0], V5_US[1], NEXT * 1000, "NaN", 0.0002)
    assert_deviation(replay, ours, [*ours, nan, (*nan[:3], V5_US[2], *nan[4:])])


def test_deviation_v5_first_item_without_ts_is_not_invalid_ever_after():
    no_ts = v5("mark-price", {"instType": "SWAP", "instId": SWAP, "markPx": "100.5"})
    replay = lines(V5_LOCAL, no_ts, mark("101", ts=str(T0 + 1500)))
    ours = [rec(V5_US[0], V5_US[0], mark=100.5), rec((T0 + 1500) * 1000, V5_US[1], mark=101.0)]
    assert_deviation(replay, ours, [rec("NaN", V5_US[0], mark=100.5), rec("NaN", V5_US[1], mark=101.0)])


def statement(state: str = "settled", rate: object = "0.00015", prev: object = str(T0)) -> dict:
    """A later-era funding-rate item that states the settlement at `prev` (`settFundingRate`)."""
    item = {"fundingRate": "0.0001", "fundingTime": str(NEXT), "instId": SWAP, "instType": "SWAP",
            "method": "current_period", "nextFundingRate": "", "nextFundingTime": str(NEXT + 28_800_000),
            "prevFundingTime": prev, "settFundingRate": rate, "settState": state}  # fmt: skip
    if prev is None:
        del item["prevFundingTime"]
    return v5("funding-rate", item)


def test_deviation_a_settled_statement_rides_on_the_records_after_it():
    """tardis-node drops `settFundingRate`/`prevFundingTime`; arbdb appends them (columns.STATED) to
    the symbol's records from then on. Alone it emits nothing; its first 11 fields are tardis-node's."""
    replay = lines(V5_LOCAL, mark(), statement(), mark("101", ts=str(T0 + 1500)))
    plain = [rec(T0 * 1000, V5_US[0], mark=100.5), rec(T0 * 1000, V5_US[1], NEXT * 1000, 0.0001, mark=100.5)]
    plain.append(rec((T0 + 1500) * 1000, V5_US[2], NEXT * 1000, 0.0001, mark=101.0))
    ours = arbdb_records(OKX, replay)
    assert ours[0] == plain[0] and ours[1:] == [(*r, 0.00015, T0 * 1000) for r in plain[1:]]
    assert node_records(OKX, replay) == plain


@pytest.mark.parametrize("odd", [statement("processing"), statement(prev=None), statement(rate="")])
def test_deviation_only_a_settled_statement_with_its_time_is_kept(odd):
    """`processing` (which funding time it means is not documented), no `prevFundingTime`, no rate."""
    replay = lines(V5_LOCAL, mark(), odd, mark("101", ts=str(T0 + 1500)))
    assert all(len(r) == 11 for r in arbdb_records(OKX, replay))


def test_deviation_a_disconnect_forgets_the_statement():
    replay = lines(V5_LOCAL, statement(), None, mark("101", ts=str(T0 + 1500)))
    assert [len(r) for r in arbdb_records(OKX, replay)] == [13, 11]


@pytest.mark.parametrize("junk", [None, ""])
def test_deviation_v3_null_or_empty_mark_price_keeps_the_previous_price(junk):
    def v3_mark(px):
        return {
            "table": "swap/mark_price",
            "data": [{"instrument_id": SWAP, "mark_price": px, "timestamp": "2021-07-01T08:00:00.000Z"}],
        }

    replay = lines(V3_LOCAL, v3_mark("5"), v3_mark(junk))
    ours = [rec(1_625_126_400_000_000, V3_US[0], mark=5.0)]
    assert_deviation(replay, ours, [*ours, rec(1_625_126_400_000_000, V3_US[1], mark=0.0)])


def test_deviation_v3_funding_without_funding_time_keeps_the_previous_one():
    def v3_funding(**time):
        item = {"estimated_rate": "0.0002", "funding_rate": "0.0001", "instrument_id": SWAP, **time}
        return {"table": "swap/funding_rate", "data": [item]}

    replay = lines(V3_LOCAL, v3_funding(funding_time="2021-07-01T08:00:00.000Z"), v3_funding())
    ours = [rec(V3_US[0], V3_US[0], 1_625_126_400_000_000, 0.0001, 0.0002)]
    assert_deviation(replay, ours, [*ours, rec(V3_US[0], V3_US[1], "NaN", 0.0001, 0.0002)])


# -- replay filters ---------------------------------------------------------------------------------------

FILTERS_JS = """
const { normalizeDerivativeTickers } = require('tardis-dev')
const [when, ...symbols] = process.argv.slice(1)
console.log(JSON.stringify(normalizeDerivativeTickers('okex-swap', new Date(when)).getFilters(symbols)))
"""


@pytest.mark.parametrize(("when", "channels"), [("2024-03-01", V5_CHANNELS), ("2021-07-01", V3_TABLES)])
def test_match_replay_filters_are_tardis_nodes_index_tickers_by_the_swaps_index(when, channels):
    symbols = ["BTC-USDT-SWAP", "eth-usdc-swap", "BTC-USD-SWAP"]
    ours = [(c, names) for c, names in VENUE.filters(symbols) if c in channels]
    assert dict(ours)["index-tickers" if when > "2021-12-23" else "swap/ticker"] == (
        ["BTC-USDT", "ETH-USD", "BTC-USD"] if when > "2021-12-23" else symbols
    )
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        ["node", "-e", FILTERS_JS, when, *symbols], cwd=REFERENCE, capture_output=True, timeout=60, check=True
    )
    theirs = [(f["channel"], f["symbols"]) for f in json.loads(done.stdout)]
    upper = [(c, names if c == "index-tickers" else [s.upper() for s in names]) for c, names in ours]
    assert sorted(upper) == sorted(theirs)


def test_the_venue_names_the_usdt_perpetual_and_requests_every_channel_of_both_mappers():
    assert VENUE.symbol_for("btc") == "BTC-USDT-SWAP" and VENUE.coin_of("ETH-USDT-SWAP") == "ETH"
    assert VENUE.coin_of("ETH-USD-SWAP") is None
    assert set(VENUE.channels) == {*V5_CHANNELS, *V3_TABLES} and VENUE.interval_in_data
    assert (VENUE.history_start, VENUE.interval_hours, VENUE.taker_fee) == ("2019-03-30", 8, 0.0005)
