"""The normalizers against tardis-node, case by case (issue #8).

`test_match_*`: arbdb gives the hand-written expected records, and so does tardis-node's own mapper.
`test_deviation_*`: arbdb gives the hand-written expected records; tardis-node gives the junk the
"Deviations from tardis-node" tables of docs/computation.md and
pipelines/venues/{gate,bitfinex}/README.md name
(shown by running it). The tardis-node half skips when node or the npm package is missing; the arbdb
half always runs first.
"""

from __future__ import annotations

import json

from pipelines.core.columns import BITFINEX, GATE
from tests.venues.tardis_node import arbdb_records, node_output, node_records

LOCAL = ["2024-03-01T08:00:00.1234567Z", "2024-03-01T08:00:01.0000010Z", "2024-03-01T08:00:02.5000000Z"]
LOCAL_US = [1_709_280_000_123_456, 1_709_280_001_000_001, 1_709_280_002_500_000]
T0 = 1_709_280_000_000  # ms
NAN = "NaN"


def lines(*messages: object) -> list[str]:
    """Replay lines, one local timestamp each from LOCAL; a None message is a disconnect (empty line)."""
    texts = [m if isinstance(m, str) else json.dumps(m) for m in messages]
    return [
        "" if m is None else f"{LOCAL[i]} {text}"
        for i, (m, text) in enumerate(zip(messages, texts, strict=True))
    ]


def gate(result: object, **times: object) -> dict:
    """A Gate update; `times` are `time`/`time_ms` (default time_ms T0+5, time T0 in seconds)."""
    stamp = {"time": T0 // 1000, "time_ms": T0 + 5, **times}
    present = {k: v for k, v in stamp.items() if v != "missing"}
    return {**present, "channel": "futures.tickers", "event": "update", "result": result}


def ticker(symbol: str = "BTC_USDT", last: object = "100.5", **fields: object) -> dict:
    base = {"contract": symbol, "last": last, "mark_price": "100.4", "index_price": "100.3",
            "funding_rate": "0.0001", "funding_rate_indicative": "0.0002", "total_size": "500"}  # fmt: skip
    return {k: v for k, v in {**base, **fields}.items() if v != "missing"}


def g_rec(
    ts_us: int, local_us: int, symbol: str = "BTC_USDT", last: float = 100.5, oi: object = 500.0
) -> tuple:
    return (GATE, symbol, ts_us, local_us, None, 0.0001, 0.0002, oi, last, 100.3, 100.4)


SUB = {"event": "subscribed", "channel": "status", "chanId": 42, "key": "deriv:tBTCF0:USTF0"}


def status(last: object = 100.5, funding_ts: object = T0 + 3_600_000, spot: object = 100.3) -> list:
    values = [T0, None, last, spot, None, 1.5, None, funding_ts, 0.00002, 5, None, 0.0001,
              None, None, 100.4, None, None, 900.0, None, None, None, -0.0025, 0.0025]  # fmt: skip
    return values


def b_rec(ts_us: object, local_us: int, last: float = 100.5, funding_us: object = (T0 + 3_600_000) * 1000,
          symbol: str = "BTCF0:USTF0", spot: float = 100.3) -> tuple:  # fmt: skip
    return (BITFINEX, symbol, ts_us, local_us, funding_us, 0.0001, 0.00002, 900.0, last, spot, 100.4)


def assert_both(exchange: str, replay: list[str], expected: list[tuple]) -> None:
    assert arbdb_records(exchange, replay) == expected
    assert node_records(exchange, replay) == expected


def node_rows(exchange: str, replay: list[str]) -> list[tuple]:
    """tardis-node's rows (errors included as ("error", message))."""
    return [tuple(e[2:]) if e[0] == "row" else ("error", e[2]) for e in node_output(exchange, replay)]


# -- where arbdb now matches tardis-node ---------------------------------------------------------------


def test_match_gate_nested_result_is_dropped_whole_and_leaves_state_untouched():
    # The nested message would have set BTC's values: the later identical ticker would then emit nothing.
    replay = lines(gate([[ticker()]]), gate([ticker()], time_ms=T0 + 9), gate(ticker(last="101")))
    ts = (T0 + 9) * 1000  # the exchange time never goes back to the third message's T0 + 5
    assert_both(GATE, replay, [g_rec(ts, LOCAL_US[1]), g_rec(ts, LOCAL_US[2], last=101.0)])


def test_match_gate_list_stops_at_the_first_ticker_without_contract():
    later = [ticker("ETH_USDT"), {"last": "3"}, ticker("SOL_USDT")]
    replay = lines(gate(later), gate([ticker("SOL_USDT")]))
    ts = (T0 + 5) * 1000
    assert_both(GATE, replay, [g_rec(ts, LOCAL_US[0], "ETH_USDT"), g_rec(ts, LOCAL_US[1], "SOL_USDT")])


def test_match_gate_time_ms_null_keeps_the_previous_timestamp():
    replay = lines(gate(ticker()), gate(ticker(last="101"), time_ms=None, time=T0 // 1000 + 60))
    ts = (T0 + 5) * 1000
    assert_both(GATE, replay, [g_rec(ts, LOCAL_US[0]), g_rec(ts, LOCAL_US[1], last=101.0)])


def test_match_gate_whole_seconds_time_and_missing_total_size():
    replay = lines(gate(ticker(total_size="missing"), time_ms="missing"), gate(ticker(), time_ms="missing"))
    ts = T0 * 1000
    assert_both(GATE, replay, [g_rec(ts, LOCAL_US[0], oi=None), g_rec(ts, LOCAL_US[1])])


def test_match_bitfinex_null_recorded_timestamp_emits_the_change_with_the_timestamp_unchanged():
    replay = lines(SUB, [42, status(), 7, T0 + 1000], [42, status(last=101.0), 8, None])
    ts = (T0 + 1000) * 1000
    assert_both(BITFINEX, replay, [b_rec(ts, LOCAL_US[1]), b_rec(ts, LOCAL_US[2], last=101.0)])


def test_match_bitfinex_a_string_before_the_last_element_must_be_status():
    # chanId 42 is a status channel, yet a message naming another channel is not a status update.
    replay = lines(SUB, [42, status(), 7, T0 + 1000, "trades", "BTCF0:USTF0"])
    assert_both(BITFINEX, replay, [])


def test_match_bitfinex_status_suffix_names_the_symbol_even_for_an_unknown_chan_id():
    replay = lines([99, status(), 7, T0 + 1000, "status", "ETHF0:USTF0"])
    assert_both(BITFINEX, replay, [b_rec((T0 + 1000) * 1000, LOCAL_US[0], symbol="ETHF0:USTF0")])


def test_match_bitfinex_chan_id_map_keeps_status_ids_and_strips_only_deriv_t():
    other = {"event": "subscribed", "channel": "trades", "chanId": 42, "symbol": "tBTCF0:USTF0"}
    plain = {"event": "subscribed", "channel": "status", "chanId": 43, "key": "deriv:BTCF0"}
    replay = lines(SUB, other, plain)
    replay += [
        f"{LOCAL[2]} {json.dumps([42, status(), 7, T0])}",
        f"{LOCAL[2]} {json.dumps([43, status(), 7, T0])}",
    ]
    expected = [b_rec(T0 * 1000, LOCAL_US[2]), b_rec(T0 * 1000, LOCAL_US[2], symbol="deriv:BTCF0")]
    assert_both(BITFINEX, replay, expected)


# -- deliberate deviations: what tardis-node stores, and what arbdb stores instead ---------------------


def test_deviation_gate_null_and_empty_values_keep_the_previous_value_not_zero():
    replay = lines(gate(ticker()), gate(ticker(last=None, total_size=None)), gate(ticker(last="")))
    ts = (T0 + 5) * 1000
    assert arbdb_records(GATE, replay) == [g_rec(ts, LOCAL_US[0])]
    zeros = [g_rec(ts, LOCAL_US[1], last=0, oi=0), g_rec(ts, LOCAL_US[2], last=0)]
    assert node_rows(GATE, replay) == [g_rec(ts, LOCAL_US[0]), *zeros]


def test_deviation_gate_missing_key_keeps_the_previous_value_not_nan_rows_every_message():
    replay = lines(gate(ticker()), gate(ticker(mark_price="missing")), gate(ticker(mark_price="missing")))
    ts = (T0 + 5) * 1000
    assert arbdb_records(GATE, replay) == [g_rec(ts, LOCAL_US[0])]
    junk = [g_rec(ts, local)[:10] + (NAN,) for local in LOCAL_US[1:]]
    assert node_rows(GATE, replay) == [g_rec(ts, LOCAL_US[0]), *junk]


def test_deviation_gate_unparseable_and_infinite_strings_keep_the_previous_value():
    replay = lines(gate(ticker()), gate(ticker(last="abc")), gate(ticker(last="1e400", index_price="1_000")))
    ts = (T0 + 5) * 1000
    assert arbdb_records(GATE, replay) == [g_rec(ts, LOCAL_US[0])]
    nan_row = g_rec(ts, LOCAL_US[1])[:8] + (NAN, 100.3, 100.4)
    inf_row = g_rec(ts, LOCAL_US[2])[:8] + ("Infinity", NAN, 100.4)
    assert node_rows(GATE, replay) == [g_rec(ts, LOCAL_US[0]), nan_row, inf_row]


def test_deviation_bitfinex_infinite_number_keeps_the_previous_value():
    replay = lines(
        SUB, [42, status(), 7, T0], f"[42,{json.dumps(status())[:-1].replace('100.5', '1e400', 1)}],8,{T0}]"
    )
    assert arbdb_records(BITFINEX, replay) == [b_rec(T0 * 1000, LOCAL_US[1])]
    infinite = b_rec(T0 * 1000, LOCAL_US[2], last="Infinity")
    assert node_rows(BITFINEX, replay) == [b_rec(T0 * 1000, LOCAL_US[1]), infinite]


def test_deviation_bitfinex_null_next_funding_time_keeps_the_previous_one_not_1970():
    replay = lines(SUB, [42, status(), 7, T0], [42, status(last=101.0, funding_ts=None), 8, T0])
    expected = [b_rec(T0 * 1000, LOCAL_US[1]), b_rec(T0 * 1000, LOCAL_US[2], last=101.0)]
    assert arbdb_records(BITFINEX, replay) == expected
    assert node_rows(BITFINEX, replay) == [
        expected[0],
        b_rec(T0 * 1000, LOCAL_US[2], last=101.0, funding_us=0),
    ]


def test_deviation_first_row_without_exchange_time_takes_the_local_time_not_1970():
    gate_replay = lines(gate(ticker(), time_ms=None), gate(ticker(last="101")))
    gate_expected = [g_rec(LOCAL_US[0], LOCAL_US[0]), g_rec((T0 + 5) * 1000, LOCAL_US[1], last=101.0)]
    bfx_replay = lines(SUB, [42, status(), 7, None])
    assert arbdb_records(GATE, gate_replay) == gate_expected
    assert arbdb_records(BITFINEX, bfx_replay) == [b_rec(LOCAL_US[1], LOCAL_US[1])]
    assert node_rows(GATE, gate_replay) == [g_rec(0, LOCAL_US[0]), gate_expected[1]]
    assert node_rows(BITFINEX, bfx_replay) == [b_rec(0, LOCAL_US[1])]


def test_deviation_gate_first_message_without_any_time_does_not_poison_later_rows():
    replay = lines(gate(ticker(), time_ms="missing", time="missing"), gate(ticker(last="101")))
    expected = [g_rec(LOCAL_US[0], LOCAL_US[0]), g_rec((T0 + 5) * 1000, LOCAL_US[1], last=101.0)]
    assert arbdb_records(GATE, replay) == expected
    assert node_rows(GATE, replay) == [g_rec(NAN, LOCAL_US[0]), g_rec(NAN, LOCAL_US[1], last=101.0)]


def test_deviation_gate_contract_that_is_not_a_string_gives_no_row():
    replay = lines(gate([ticker(), ticker(symbol=None)]))
    ts = (T0 + 5) * 1000
    assert arbdb_records(GATE, replay) == [g_rec(ts, LOCAL_US[0])]
    assert node_rows(GATE, replay) == [g_rec(ts, LOCAL_US[0]), g_rec(ts, LOCAL_US[0], symbol=None)]


def test_match_bitfinex_update_without_a_status_array_still_moves_the_time_forward():
    # tardis-node reads no fields from a non-array payload, yet records its timestamp.
    replay = lines(SUB, [42, {}, 7, T0 + 5000], [42, status(), 8, T0])
    assert_both(BITFINEX, replay, [b_rec((T0 + 5000) * 1000, LOCAL_US[2])])


def test_deviation_bitfinex_update_without_recorded_timestamp_does_not_poison_later_rows():
    replay = lines(SUB, [42, status()], [42, status(last=101.0), 8, T0])
    expected = [b_rec(LOCAL_US[1], LOCAL_US[1]), b_rec(T0 * 1000, LOCAL_US[2], last=101.0)]
    assert arbdb_records(BITFINEX, replay) == expected
    assert node_rows(BITFINEX, replay) == [b_rec(NAN, LOCAL_US[1]), b_rec(NAN, LOCAL_US[2], last=101.0)]


def test_match_fractional_exchange_times_are_cut_to_whole_milliseconds():
    # A JavaScript Date holds whole milliseconds: 5.9 ms is 5 ms (arbdb rounded to microseconds).
    seconds = T0 / 1000 + 0.0127  # whole-second era field with a fraction: 12.7 ms -> 12 ms
    gate_replay = lines(
        gate(ticker(), time_ms=T0 + 5.9), gate(ticker(last="101"), time_ms="missing", time=seconds)
    )
    gate_expected = [g_rec((T0 + 5) * 1000, LOCAL_US[0]), g_rec((T0 + 12) * 1000, LOCAL_US[1], last=101.0)]
    assert_both(GATE, gate_replay, gate_expected)
    bfx_replay = lines(SUB, [42, status(funding_ts=T0 + 0.7), 7, T0 + 3.99])
    assert_both(BITFINEX, bfx_replay, [b_rec((T0 + 3) * 1000, LOCAL_US[1], funding_us=T0 * 1000)])
