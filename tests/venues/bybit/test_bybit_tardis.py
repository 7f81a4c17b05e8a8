"""The Bybit normalizer against tardis-node, case by case.

`test_match_*`: arbdb gives the hand-written expected records (from messages recorded in tardis-node's
test/mappers.test.ts), and so does tardis-node. `test_deviation_*`: arbdb gives the hand-written
records; tardis-node gives the junk pipelines/venues/bybit/README.md's deviation rows name. The
tardis-node half
skips when node or the npm package is missing.
"""

from __future__ import annotations

import json

import pytest

from pipelines.core.columns import BYBIT
from tests.venues.tardis_node import arbdb_records, missing_reason, node_output, node_records

V5_LOCAL = ["2023-04-05T05:50:21.8000000Z", "2023-04-05T05:50:22.0000000Z", "2023-04-05T05:50:23.0000000Z"]
V5_US = [1_680_673_821_800_000, 1_680_673_822_000_000, 1_680_673_823_000_000]
OLD_LOCAL = [
    "2020-05-28T16:15:03.0000000Z",
    "2020-05-28T16:31:03.0000000Z",
    "2020-05-28T16:31:04.0000000Z",
    "2020-05-28T16:31:05.0000000Z",
]
OLD_US = [1_590_682_503_000_000, 1_590_683_463_000_000, 1_590_683_464_000_000]
FUNDING_US = 1_680_681_600_000_000  # 2023-04-05T08:00:00Z

SNAPSHOT = {
    "topic": "tickers.BTCUSDT", "type": "snapshot", "cs": 50193544280, "ts": 1680673821770,
    "data": {"symbol": "BTCUSDT", "lastPrice": "28550.70", "markPrice": "28552.81", "indexPrice": "28562.25",
             "openInterest": "52774.528", "nextFundingTime": "1680681600000", "fundingRate": "0.0001",
             "bid1Price": "28550.70"},
}  # fmt: skip
OLD_SNAPSHOT = {
    "topic": "instrument_info.100ms.BTCUSDT", "type": "snapshot", "cross_seq": "176990933",
    "timestamp_e6": "1590682502904608",
    "data": {"id": 1, "symbol": "BTCUSDT", "last_price_e4": "94695000", "mark_price_e4": "94751300",
             "index_price_e4": "94739400", "open_interest_e8": "447123000000", "funding_rate_e6": "93",
             "predicted_funding_rate_e6": "100", "next_funding_time": "2020-05-28T16:00:00Z",
             "updated_at": "2020-05-28T16:14:34.000Z"},
}  # fmt: skip
REC = (
    BYBIT,
    "BTCUSDT",
    1_680_673_821_770_000,
    V5_US[0],
    FUNDING_US,
    0.0001,
    None,
    52774.528,
    28550.7,
    28562.25,
    28552.81,
)
OLD_REC = (BYBIT, "BTCUSDT", 1_590_682_502_904_608, OLD_US[0], 1_590_681_600_000_000, 0.000093, 0.0001,
           4471.23, 9469.5, 9473.94, 9475.13)  # fmt: skip


def lines(local: list[str], *messages: object) -> list[str]:
    return [f"{local[i]} {json.dumps(m)}" for i, m in enumerate(messages)]


def delta(ts: object = 1680673822776, **fields: object) -> dict:
    msg = {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", **fields}, "ts": ts}
    return msg if ts != "missing" else {k: v for k, v in msg.items() if k != "ts"}


def old_delta(e6: str, **fields: object) -> dict:
    update = {"id": 1, "symbol": "BTCUSDT", **fields, "updated_at": "2020-05-28T16:31:02.000Z"}
    return {"topic": "instrument_info.100ms.BTCUSDT", "type": "delta", "timestamp_e6": e6,
            "data": {"delete": [], "update": [update], "insert": []}}  # fmt: skip


def node_rows(replay: list[str]) -> list[tuple]:
    if missing_reason():
        pytest.skip(missing_reason())
    return [tuple(e[2:]) for e in node_output(BYBIT, replay) if e[0] == "row"]


def test_match_v5_snapshot_then_delta_of_changed_fields():
    replay = lines(V5_LOCAL, SNAPSHOT, delta(fundingRate="0.00012", bid1Price="1"), delta(bid1Price="2"))
    expected = [REC, (*REC[:2], 1_680_673_822_776_000, V5_US[1], FUNDING_US, 0.00012, *REC[6:])]
    assert arbdb_records(BYBIT, replay) == expected
    if not missing_reason():
        assert node_records(BYBIT, replay) == expected


def test_match_instrument_info_snapshot_and_delta_before_v5():
    replay = lines(OLD_LOCAL, OLD_SNAPSHOT, old_delta("1590683462401579", index_price_e4="94496200"))
    expected = [OLD_REC, (*OLD_REC[:2], 1_590_683_462_401_579, OLD_US[1], *OLD_REC[4:9], 9449.62, 9475.13)]
    assert arbdb_records(BYBIT, replay) == expected
    if not missing_reason():
        assert node_records(BYBIT, replay) == expected


def test_match_the_era_is_the_connections_first_message():
    """An old-era connection that runs past 2023-04-05 keeps reading instrument_info, not tickers."""
    replay = lines(["2023-04-04T23:59:59.0000000Z", *V5_LOCAL[:1]], OLD_SNAPSHOT, SNAPSHOT)
    expected = [(*OLD_REC[:3], 1_680_652_799_000_000, *OLD_REC[4:])]
    assert arbdb_records(BYBIT, replay) == expected
    if not missing_reason():
        assert node_records(BYBIT, replay) == expected


@pytest.mark.parametrize(
    ("field", "value", "junk_index"),
    [
        ("markPrice", None, 10),
        ("indexPrice", "abc", 9),
        ("nextFundingTime", "0", 4),
        ("fundingRate", None, 5),
    ],
)
def test_deviation_v5_null_unparseable_or_zero_value_keeps_the_previous(field, value, junk_index):
    replay = lines(V5_LOCAL, SNAPSHOT, delta(**{field: value, "lastPrice": "28551.00"}))
    expected = [REC, (*REC[:2], 1_680_673_822_776_000, V5_US[1], *REC[4:8], 28551.0, *REC[9:])]
    assert arbdb_records(BYBIT, replay) == expected
    theirs = node_rows(replay)
    assert theirs[1][junk_index] in (0, 0.0, "NaN")


def test_deviation_v5_first_message_without_ts_takes_the_local_time():
    replay = lines(V5_LOCAL, delta("missing", fundingRate="0.0001"), delta(fundingRate="0.0002"))
    ours = arbdb_records(BYBIT, replay)
    assert [r[2] for r in ours] == [V5_US[0], 1_680_673_822_776_000]
    assert [r[2] for r in node_rows(replay)] == ["NaN", "NaN"]  # Invalid Date on every later row too


def test_deviation_instrument_info_null_price_keeps_the_previous():
    replay = lines(
        OLD_LOCAL, OLD_SNAPSHOT, old_delta("1590683462401579", mark_price_e4=None, last_price_e4="1")
    )
    expected = [
        OLD_REC,
        (*OLD_REC[:2], 1_590_683_462_401_579, OLD_US[1], *OLD_REC[4:8], 0.0001, *OLD_REC[9:]),
    ]
    assert arbdb_records(BYBIT, replay) == expected
    assert node_rows(replay)[1][10] == 0


def test_deviation_instrument_info_time_never_moves_back_within_a_millisecond():
    """tardis-node compares whole milliseconds, so an earlier microsecond of the same ms replaces it."""
    first = old_delta("1590683462401579", index_price_e4="94496200")
    second = old_delta("1590683462401001", index_price_e4="94496300")
    replay = lines(OLD_LOCAL, OLD_SNAPSHOT, first, second)
    assert [r[2] for r in arbdb_records(BYBIT, replay)][1:] == [1_590_683_462_401_579] * 2
    assert [r[2] for r in node_rows(replay)][1:] == [1_590_683_462_401_579, 1_590_683_462_401_001]


def test_deviation_instrument_info_open_interest_string_is_read_as_a_number():
    snapshot = {**OLD_SNAPSHOT, "data": {**OLD_SNAPSHOT["data"], "open_interest": "123"}}
    replay = lines(OLD_LOCAL, snapshot)
    assert arbdb_records(BYBIT, replay) == [(*OLD_REC[:7], 123.0, *OLD_REC[8:])]
    assert node_rows(replay)[0][7] == "123"  # tardis-node passes the string through
