"""binance-futures against tardis-node, case by case.

`test_match_*`: arbdb gives the hand-written records, and so does tardis-node's mapper.
`test_deviation_*`: arbdb gives the hand-written records; tardis-node gives the junk named in
pipelines/venues/binance/README.md's deviation rows (shown by running it; that half skips without node).
"""

from __future__ import annotations

import json

from pipelines.core.columns import BINANCE
from tests.venues.tardis_node import arbdb_records, node_records

LOCAL = ["2024-03-01T08:00:00.1234567Z", "2024-03-01T08:00:01.0000010Z", "2024-03-01T08:00:02.5000000Z"]
LOCAL_US = [1_709_280_000_123_456, 1_709_280_001_000_001, 1_709_280_002_500_000]
E0 = 1_709_280_000_000  # ms, 123 ms before the first local time
T1 = 1_709_308_800_000  # next funding time, 16:00
NAN = "NaN"
MISSING = object()


def lines(*messages: object) -> list[str]:
    return [f"{LOCAL[i]} {json.dumps(m)}" for i, m in enumerate(messages)]


def mark(
    E: object = E0, p: object = "100.5", i: object = "100.4", r: object = "0.0001", T: object = T1
) -> dict:  # noqa: N803
    data = {"e": "markPriceUpdate", "E": E, "s": "BTCUSDT", "p": p, "i": i, "r": r, "T": T}
    return {"stream": "btcusdt@markPrice@1s", "data": {k: v for k, v in data.items() if v is not MISSING}}


def ticker(c: object = "100.6", E: object = E0) -> dict:  # noqa: N803
    data = {k: v for k, v in {"e": "24hrTicker", "E": E, "s": "BTCUSDT", "c": c}.items() if v is not MISSING}
    return {"stream": "btcusdt@ticker", "data": data}


def open_interest(value: object) -> dict:
    return {
        "stream": "btcusdt@openInterest",
        "generated": True,
        "data": {"symbol": "BTCUSDT", "openInterest": value},
    }


def rec(n: int, ts: object = E0 * 1000, funding: object = T1 * 1000, rate: object = 0.0001, oi: object = None,
        last: object = None, index: object = 100.4, mark_price: object = 100.5) -> tuple:  # fmt: skip
    return (BINANCE, "BTCUSDT", ts, LOCAL_US[n], funding, rate, None, oi, last, index, mark_price)


# -- where arbdb matches tardis-node ---------------------------------------------------------------


def test_match_a_first_open_interest_row_keeps_its_local_time_against_an_earlier_event_time():
    replay = lines(open_interest("500.5"), mark(), mark(E=E0 + 2_000, p="100.7"))
    expected = [
        rec(0, ts=LOCAL_US[0], funding=None, rate=None, oi=500.5, index=None, mark_price=None),
        rec(1, ts=LOCAL_US[0], oi=500.5),  # E0 is 123 ms before that local time: no step back
        rec(2, ts=(E0 + 2_000) * 1000, oi=500.5, mark_price=100.7),
    ]
    assert arbdb_records(BINANCE, replay) == expected
    assert node_records(BINANCE, replay) == expected


def test_match_an_index_update_then_the_mark_price_index_emits_the_same_values_again():
    index_update = {
        "stream": "btcusdt@indexPrice",
        "data": {"e": "indexPriceUpdate", "i": "BTCUSDT", "p": "99"},
    }
    replay = lines(mark(), index_update, mark(E=E0 + 1))
    # The remembered 99 replaces 100.4, then `i` puts 100.4 back: changed twice, so a row.
    expected = [rec(0), rec(2, ts=(E0 + 1) * 1000)]
    assert arbdb_records(BINANCE, replay) == expected
    assert node_records(BINANCE, replay) == expected


def test_match_delivery_style_rates_are_not_read():
    replay = lines(mark(r="", T=0), mark(r="0.00000000", T=0, p="100.7"), mark(r="", p="100.8"))
    expected = [
        rec(0, funding=None, rate=None),
        rec(1, funding=None, rate=None, mark_price=100.7),
        rec(2, funding=None, rate=None, mark_price=100.8),
    ]
    assert arbdb_records(BINANCE, replay) == expected
    assert node_records(BINANCE, replay) == expected


# -- documented deviations ---------------------------------------------------------------------------


def test_deviation_null_rate_index_or_open_interest_keep_the_previous_value():
    replay = lines(mark(r=None, i=None), open_interest("500.5"), open_interest(None))
    assert arbdb_records(BINANCE, replay) == [
        rec(0, rate=None, index=None),  # T is still read beside a null r
        rec(1, rate=None, index=None, oi=500.5),
    ]
    assert node_records(BINANCE, replay) == [
        rec(0, rate=0.0, index=0.0),
        rec(1, rate=0.0, index=0.0, oi=500.5),
        rec(2, rate=0.0, index=0.0, oi=0.0),
    ]


def test_deviation_a_missing_or_unparseable_price_keeps_the_previous_one_and_emits_nothing():
    replay = lines(mark(), mark(E=E0 + 1, p=MISSING), ticker(c="abc", E=E0 + 2))
    assert arbdb_records(BINANCE, replay) == [rec(0)]
    assert node_records(BINANCE, replay) == [
        rec(0),
        rec(1, ts=(E0 + 1) * 1000, mark_price=NAN),
        rec(2, ts=(E0 + 2) * 1000, mark_price=NAN, last=NAN),  # NaN never equals itself
    ]


def test_deviation_a_rate_without_a_usable_funding_time_keeps_the_previous_funding_time():
    replay = lines(mark(), mark(r="0.0002", T=MISSING), mark(r="0.0003", T=None))
    assert arbdb_records(BINANCE, replay) == [rec(0), rec(1, rate=0.0002), rec(2, rate=0.0003)]
    assert node_records(BINANCE, replay) == [
        rec(0),
        rec(1, funding=NAN, rate=0.0002),
        rec(2, funding=0, rate=0.0003),
    ]


def test_deviation_a_first_message_without_event_time_takes_the_local_time():
    replay = lines(mark(E=MISSING), mark(p="100.7"), mark(E=E0 + 5_000, p="100.8"))
    assert arbdb_records(BINANCE, replay) == [
        rec(0, ts=LOCAL_US[0]),
        rec(1, ts=LOCAL_US[0], mark_price=100.7),  # E0 is earlier than the kept local time
        rec(2, ts=(E0 + 5_000) * 1000, mark_price=100.8),
    ]
    assert node_records(BINANCE, replay) == [
        rec(0, ts=NAN),
        rec(1, ts=NAN, mark_price=100.7),
        rec(2, ts=NAN, mark_price=100.8),  # Invalid Date until a disconnect
    ]


def test_deviation_an_index_update_without_a_price_is_ignored():
    bad = {"stream": "btcusdt@indexPrice", "data": {"e": "indexPriceUpdate", "i": "BTCUSDT", "p": "x"}}
    replay = lines(bad, mark(i=MISSING))
    assert arbdb_records(BINANCE, replay) == [rec(1, index=None)]
    assert node_records(BINANCE, replay) == [rec(1, index=NAN)]
