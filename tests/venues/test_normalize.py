"""pipelines.venues.normalize: raw replay lines -> derivative_ticker records, rule by rule
(tardis-data.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.normalize_bench import bench_baseline, bench_normalize, sample_lines
from pipelines.core.columns import BITFINEX, DERIVATIVE_TICKER, GATE
from pipelines.core.errors import ArbdbError
from pipelines.venues.normalize import MalformedLine, UnknownExchange, make_normalizer, normalize_lines

DATA = Path(__file__).parents[1] / "data"
TS = "2024-03-01T08:00:00.1234567Z"
LOCAL = 1_709_280_000_123_456  # TS in microseconds
T0 = 1_709_280_000_000  # 2024-03-01T08:00:00Z in ms


def gate(result, time_ms: int | None = T0 + 123, time: int | None = None, event: str = "update") -> str:
    """A Gate futures.tickers message; `time` defaults to `time_ms` in whole seconds."""
    msg = {"time": time if time is not None else (time_ms or T0) // 1000, "channel": "futures.tickers"}
    if time_ms is not None:
        msg["time_ms"] = time_ms
    msg.update(event=event, result=result)
    return json.dumps(msg)


BTC = {
    "contract": "BTC_USDT",
    "last": "61990.1",
    "change_percentage": "1.23",
    "total_size": "512345",
    "volume_24h": "123456",
    "mark_price": "61995.2",
    "funding_rate": "0.000104",
    "funding_rate_indicative": "0.000101",
    "index_price": "61980.7",
    "quanto_base_rate": "",
}
BTC_RECORD = (GATE, "BTC_USDT", 1_709_280_000_123_000, LOCAL, None, 0.000104, 0.000101, 512345.0, 61990.1,
              61980.7, 61995.2)  # fmt: skip


def status(last=61990.5, spot=61985.0, next_funding=T0 + 8 * 3_600_000, accrued=0.00001234, current=0.0001,
           mark=61995.2, oi=12345.6, size=23) -> list:  # fmt: skip
    """A Bitfinex STATUS_ARRAY with the given fields (others realistic placeholders)."""
    values = [T0 - 100, None, last, spot, None, 1234567.89, None, next_funding, accrued, 5, None, current,
              None, None, mark, None, None, oi, None, None, None, -0.0025, 0.0025]  # fmt: skip
    return values[:size]


def bfx(chan, values, ts_ms=T0 + 1000, symbol: str | None = None) -> str:
    """`[chanId, STATUS_ARRAY, seq, ts]`, with the trailing `"status", symbol` when given."""
    msg = [chan, values, 101, ts_ms] + (["status", symbol] if symbol else [])
    return json.dumps(msg)


def subscribed(chan: int, symbol: str = "BTCF0:USTF0") -> str:
    return json.dumps({"event": "subscribed", "channel": "status", "chanId": chan, "key": f"deriv:t{symbol}"})


def bfx_record(ts_ms=T0 + 1000, local=LOCAL, symbol="BTCF0:USTF0", **fields) -> tuple:
    """The record `status(**fields)` gives on a fresh normalizer."""
    defaults = dict(next_funding=T0 + 8 * 3_600_000, current=0.0001, accrued=0.00001234, oi=12345.6,
                    last=61990.5, spot=61985.0, mark=61995.2)  # fmt: skip
    f = {**defaults, **fields}
    funding_ts = None if f["next_funding"] is None else f["next_funding"] * 1000
    return (BITFINEX, symbol, ts_ms * 1000, local, funding_ts, f["current"], f["accrued"], f["oi"], f["last"],
            f["spot"], f["mark"])  # fmt: skip


# -- make_normalizer and the local timestamp ------------------------------------------------------------


def test_unknown_exchange_is_a_clear_arbdb_error():
    with pytest.raises(UnknownExchange, match="kraken-futures") as err:
        make_normalizer("kraken-futures")
    assert isinstance(err.value, ArbdbError)
    with pytest.raises(UnknownExchange):
        normalize_lines("kraken-futures", [])  # checked at once, not at the first next()


@pytest.mark.parametrize(
    ("prefix", "micros"),
    [
        ("2024-03-01T08:00:00.1234567Z", 1_709_280_000_123_456),
        ("2024-03-01T08:00:00.0000000Z", 1_709_280_000_000_000),
        ("2024-02-29T23:59:59.9999999Z", 1_709_251_199_999_999),
        ("2019-09-14T00:00:01.0000010Z", 1_568_419_201_000_001),
    ],
)
def test_local_timestamp_prefix_to_microseconds(prefix, micros):
    normalizer = make_normalizer(GATE)
    (record,) = normalizer.feed(prefix, gate([BTC]))
    assert record[3] == micros
    assert normalizer.feed(prefix.encode(), gate([{**BTC, "last": "1"}]))[0][3] == micros  # bytes too


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(datetime(2019, 1, 1), datetime(2030, 1, 1)), min_size=1, max_size=20))
def test_local_timestamp_matches_datetime_across_cached_seconds_and_minutes(moments):
    normalizer = make_normalizer(GATE)
    for moment in moments:
        ticks = moment.microsecond * 10 + moment.second % 10  # 100 ns digit from the seconds, any value
        prefix = f"{moment:%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z"
        expected = (
            moment.replace(tzinfo=UTC, microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)
        ) // timedelta(microseconds=1) + ticks // 10
        assert normalizer._local_us(prefix.encode()) == expected


@pytest.mark.parametrize(
    "prefix",
    [
        "2024-03-01 08:00:00.1234567Z",
        "2024-13-01T08:00:00.1234567Z",
        "2024-03-01T08:00:60.1234567Z",
        "2024-03-01T08:00:00.12345Z",
        "2024-03-01T08:00:00.123456xZ",
        "2024-03-01T08:00:00.1234567+",
        "",
    ],
)
def test_bad_local_timestamp_is_malformed(prefix):
    with pytest.raises(MalformedLine, match="bad timestamp prefix"):
        make_normalizer(GATE).feed(prefix, gate([BTC]))


# -- gate-io-futures ---------------------------------------------------------------------------------------


def test_gate_list_result_numbers_as_strings():
    assert make_normalizer(GATE).feed(TS, gate([BTC])) == [BTC_RECORD]


def test_gate_single_object_result_same_as_list():
    assert make_normalizer(GATE).feed(TS, gate(BTC)) == [BTC_RECORD]


def test_gate_several_tickers_in_one_message():
    eth = {"contract": "ETH_USDT", "last": "3401.55", "mark_price": "3401.6"}
    records = make_normalizer(GATE).feed(TS, gate([BTC, eth]))
    assert records == [BTC_RECORD, (GATE, "ETH_USDT", 1_709_280_000_123_000, LOCAL, None, None, None, None,
                                    3401.55, None, 3401.6)]  # fmt: skip


def test_gate_time_ms_else_whole_seconds():
    normalizer = make_normalizer(GATE)
    assert normalizer.feed(TS, gate([BTC], time_ms=T0 + 777))[0][2] == (T0 + 777) * 1000
    other = make_normalizer(GATE)
    assert other.feed(TS, gate([BTC], time_ms=None, time=1_709_280_005))[0][2] == 1_709_280_005_000_000


def test_gate_missing_null_or_empty_fields_keep_previous_values():
    normalizer = make_normalizer(GATE)
    normalizer.feed(TS, gate([BTC]))
    update = {"contract": "BTC_USDT", "last": "61999.9", "mark_price": "", "index_price": None}
    (record,) = normalizer.feed(TS, gate([update], time_ms=T0 + 500))
    assert record == BTC_RECORD[:2] + ((T0 + 500) * 1000, LOCAL) + BTC_RECORD[4:8] + (
        61999.9,
        61980.7,
        61995.2,
    )


def test_gate_open_interest_only_when_total_size_present():
    ticker = {k: v for k, v in BTC.items() if k != "total_size"}
    (record,) = make_normalizer(GATE).feed(TS, gate([ticker]))
    assert record[DERIVATIVE_TICKER.index("open_interest")] is None
    assert record[DERIVATIVE_TICKER.index("funding_timestamp")] is None  # Gate never has one


@pytest.mark.parametrize(
    "message",
    [
        gate([BTC], event="subscribe"),
        gate({"status": "success"}, event="subscribe"),
        json.dumps({"time": 1709280000, "channel": "futures.trades", "event": "update", "result": [BTC]}),
        json.dumps({"time": 1709280000, "channel": "futures.tickers", "event": "unsubscribe"}),
    ],
)
def test_gate_non_update_events_and_other_channels_are_ignored(message):
    assert make_normalizer(GATE).feed(TS, message) == []


def test_gate_emits_only_on_value_change_and_timestamp_never_moves_back():
    normalizer = make_normalizer(GATE)
    assert normalizer.feed(TS, gate([BTC], time_ms=T0 + 1000)) == [BTC_RECORD[:2] + ((T0 + 1000) * 1000,) +
                                                                    BTC_RECORD[3:]]  # fmt: skip
    later_same_values = {**BTC, "volume_24h": "999999", "change_percentage": "2.5"}
    assert normalizer.feed(TS, gate([later_same_values], time_ms=T0 + 2000)) == []  # timestamp-only change
    (record,) = normalizer.feed(TS, gate([{**BTC, "last": "61000.5"}], time_ms=T0 + 1500))  # goes back
    assert record[2] == (T0 + 2000) * 1000
    assert record[DERIVATIVE_TICKER.index("last_price")] == 61000.5


def test_gate_symbols_filter():
    eth = {"contract": "ETH_USDT", "last": "3401.55"}
    assert make_normalizer(GATE, ["btc_usdt "]).feed(TS, gate([eth, BTC])) == [BTC_RECORD]
    assert make_normalizer(GATE, ["SOL_USDT"]).feed(TS, gate([eth, BTC])) == []


def test_gate_disconnect_resets_state():
    normalizer = make_normalizer(GATE)
    normalizer.feed(TS, gate([BTC]))
    assert normalizer.feed(TS, gate([BTC])) == []
    normalizer.disconnect()
    assert normalizer.feed(TS, gate([BTC])) == [BTC_RECORD]
    normalizer.disconnect()
    (record,) = normalizer.feed(TS, gate([{"contract": "BTC_USDT", "last": "1.5"}]))
    assert record[4:] == (None, None, None, None, 1.5, None, None)  # nothing carried over


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            '{"time":1709280000,"time_ms":1709280000123,"channel":"futures.tickers","event":"upd',
            "truncated JSON",
        ),
        ('{"time":1709280000,"result":[{"contract":"BTC_USDT","last":"1"', "truncated JSON"),
        ("{'time': 1}", "bad JSON"),
        ("", "empty message"),
        ("[1, 2]", "wrong shape"),
        (gate("BTC_USDT"), "wrong shape"),
        ('{"channel":"futures.tickers","event":"update","time":1}', "wrong shape"),  # no result
    ],
)
def test_gate_malformed_messages(message, reason):
    with pytest.raises(MalformedLine, match=reason):
        make_normalizer(GATE).feed(TS, message)


# -- bitfinex-derivatives ----------------------------------------------------------------------------------


def test_bitfinex_chan_id_map_and_message_timestamp():
    normalizer = make_normalizer(BITFINEX)
    assert normalizer.feed(TS, subscribed(4242)) == []
    assert normalizer.feed(TS, bfx(4242, status())) == [bfx_record()]  # ts from message[3], not STATUS[0]


def test_bitfinex_trailing_status_symbol_without_subscription():
    record = make_normalizer(BITFINEX).feed(TS, bfx(17, status(), symbol="ETHF0:USTF0"))
    assert record == [bfx_record(symbol="ETHF0:USTF0")]


def test_bitfinex_heartbeats_unknown_channels_and_events_ignored():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    assert normalizer.feed(TS, json.dumps([4242, "hb", 102, T0])) == []
    assert normalizer.feed(TS, bfx(9999, status())) == []
    assert normalizer.feed(TS, json.dumps({"event": "info", "version": 2, "platform": {"status": 1}})) == []
    trades = {"event": "subscribed", "channel": "trades", "chanId": 7, "symbol": "tBTCF0:USTF0"}
    assert normalizer.feed(TS, json.dumps(trades)) == []
    assert normalizer.feed(TS, json.dumps([7, [[1, T0, 0.1, 61990.5]]])) == []  # a trades payload


def test_bitfinex_early_12_element_arrays_keep_mark_and_oi():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    assert normalizer.feed(TS, bfx(4242, status(size=12))) == [bfx_record(mark=None, oi=None)]
    normalizer.feed(TS, bfx(4242, status(), ts_ms=T0 + 2000))
    (record,) = normalizer.feed(TS, bfx(4242, status(size=12, last=62000.0), ts_ms=T0 + 3000))
    assert record == bfx_record(ts_ms=T0 + 3000, last=62000.0)  # mark and OI from the full array


def test_bitfinex_nulls_keep_previous_values():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    normalizer.feed(TS, bfx(4242, status()))
    nulls = status(last=61000.0, mark=None, oi=None, next_funding=None, current=None)
    assert normalizer.feed(TS, bfx(4242, nulls, ts_ms=T0 + 2000)) == [
        bfx_record(ts_ms=T0 + 2000, last=61000.0)
    ]


def test_bitfinex_zero_funding_rate_is_a_value():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    normalizer.feed(TS, bfx(4242, status()))
    (record,) = normalizer.feed(TS, bfx(4242, status(current=0, accrued=0.0), ts_ms=T0 + 2000))
    assert record == bfx_record(ts_ms=T0 + 2000, current=0.0, accrued=0.0)
    assert record[DERIVATIVE_TICKER.index("funding_rate")] == 0.0
    assert normalizer.feed(TS, bfx(4242, status(current=0, accrued=0.0), ts_ms=T0 + 3000)) == []


def test_bitfinex_emit_on_change_and_monotonic_timestamp():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    normalizer.feed(TS, bfx(4242, status(), ts_ms=T0 + 5000))
    assert normalizer.feed(TS, bfx(4242, status(), ts_ms=T0 + 6000)) == []
    (record,) = normalizer.feed(TS, bfx(4242, status(mark=1.0), ts_ms=T0 + 4000))
    assert record[2] == (T0 + 6000) * 1000


def test_bitfinex_disconnect_resets_state_and_chan_id_map():
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    normalizer.feed(TS, bfx(4242, status()))
    normalizer.disconnect()
    assert normalizer.feed(TS, bfx(4242, status())) == []  # unknown until re-subscribed
    normalizer.feed(TS, subscribed(4244))
    assert normalizer.feed(TS, bfx(4244, status())) == [bfx_record()]  # fresh state: emits again


def test_bitfinex_symbols_filter():
    normalizer = make_normalizer(BITFINEX, ["ETHF0:USTF0"])
    normalizer.feed(TS, subscribed(4242, "BTCF0:USTF0"))
    normalizer.feed(TS, subscribed(4343, "ETHF0:USTF0"))
    assert normalizer.feed(TS, bfx(4242, status())) == []
    assert normalizer.feed(TS, bfx(4343, status())) == [bfx_record(symbol="ETHF0:USTF0")]


@pytest.mark.parametrize(
    "message",
    ["[4242]", "42", "[]"],
)
def test_bitfinex_malformed_messages(message):
    normalizer = make_normalizer(BITFINEX)
    normalizer.feed(TS, subscribed(4242))
    with pytest.raises(MalformedLine, match="wrong shape"):
        normalizer.feed(TS, message)


# -- normalize_lines ----------------------------------------------------------------------------------------


def read_expected(exchange: str) -> list[tuple]:
    """The hand-computed CSV next to a sample replay, parsed back into records."""
    rows = (DATA / f"{exchange}.csv").read_text().splitlines()[1:]
    return [tuple(_cell(i, c) for i, c in enumerate(row.split(","))) for row in rows]


def _cell(i: int, text: str):
    if i < 2:
        return text
    if text == "":
        return None
    return int(text) if i < 5 else float(text)


@pytest.mark.parametrize(
    ("exchange", "errors"),
    [
        (GATE, [(6, "truncated JSON"), (9, "bad timestamp prefix")]),
        (
            BITFINEX,
            [(10, "truncated JSON"), (15, "wrong shape: neither an event object nor a channel array")],
        ),
    ],
)
def test_normalize_lines_on_sample_replays(exchange, errors):
    errs = []
    lines = (DATA / f"{exchange}.replay").read_bytes().splitlines(keepends=True)
    records = list(normalize_lines(exchange, lines, on_error=lambda n, r: errs.append((n, r))))
    assert records == read_expected(exchange)
    assert errs == errors


def test_normalize_lines_accepts_str_crlf_and_reports_short_lines():
    errs = []
    lines = [f"{TS} {subscribed(1)}\r\n", "2024-03-01T08:00:00.1\n", "\r\n", f"{TS} {subscribed(2)}",
             f"{TS} {bfx(1, status())}\n", f"{TS} {bfx(2, status())}\n"]  # fmt: skip
    records = list(normalize_lines(BITFINEX, lines, on_error=lambda n, r: errs.append((n, r))))
    assert records == [bfx_record()]  # chanId 1 was forgotten at the disconnect (line 3)
    assert errs == [(2, "truncated line")]


# -- properties -------------------------------------------------------------------------------------------

price = st.decimals(min_value="0.1", max_value="100000", places=2).map(str)
maybe_price = st.one_of(st.none(), st.just(""), price)
gate_tickers = st.fixed_dictionaries(
    {"contract": st.sampled_from(["BTC_USDT", "ETH_USDT"])},
    optional={k: maybe_price for k in ("last", "mark_price", "index_price", "funding_rate", "total_size")},
)
gate_messages = st.tuples(gate_tickers, st.integers(T0, T0 + 10_000)).map(
    lambda m: gate([m[0]], time_ms=m[1])
)
bfx_messages = st.builds(
    lambda chan, ts, last, mark, current, size: bfx(
        chan, status(last=last, mark=mark, current=current, size=size), ts_ms=ts
    ),  # fmt: skip
    st.sampled_from([1, 2]),
    st.integers(T0, T0 + 10_000),
    st.one_of(st.none(), st.floats(1, 1e5)),
    st.one_of(st.none(), st.floats(1, 1e5)),
    st.one_of(st.none(), st.sampled_from([0, 0.0, 0.0001, -0.0002])),
    st.sampled_from([12, 18, 23]),
)


def _normalizer(exchange: str):
    normalizer = make_normalizer(exchange)
    if exchange == BITFINEX:
        normalizer.feed(TS, subscribed(1, "BTCF0:USTF0"))
        normalizer.feed(TS, subscribed(2, "ETHF0:USTF0"))
    return normalizer


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.tuples(st.just(GATE), st.lists(gate_messages, max_size=30)),
                 st.tuples(st.just(BITFINEX), st.lists(bfx_messages, max_size=30))))  # fmt: skip
def test_property_repeat_never_emits_and_timestamps_never_go_back(case):
    exchange, messages = case
    normalizer = _normalizer(exchange)
    last_ts: dict[str, int] = {}
    for message in messages:
        for record in normalizer.feed(TS, message):
            assert record[2] >= last_ts.get(record[1], 0)
            last_ts[record[1]] = record[2]
        assert normalizer.feed(TS, message) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(gate_tickers, max_size=30))
def test_property_gate_matches_a_plain_model(tickers):
    keys = ("funding_rate", "funding_rate_indicative", "total_size", "last", "index_price", "mark_price")
    normalizer, model = make_normalizer(GATE), {}
    for ticker in tickers:
        old = model.get(ticker["contract"], [None] * 6)
        new = [
            float(ticker[k]) if ticker.get(k) not in (None, "") else o for k, o in zip(keys, old, strict=True)
        ]
        model[ticker["contract"]] = new
        expected = [] if new == old else [(GATE, ticker["contract"], (T0 + 123) * 1000, LOCAL, None, *new)]
        assert normalizer.feed(TS, gate([ticker])) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=20,
)
shaped = st.one_of(
    json_values,
    st.builds(lambda r, t: {"time": t, "channel": "futures.tickers", "event": "update", "result": r},
              json_values, json_values),
    st.builds(lambda c, v, t: [c, v, 1, t], json_values, json_values, json_values),
    st.builds(lambda c, v, s: [c, v, 1, T0, "status", s], json_values, json_values, json_values),
    st.builds(lambda c, k: {"event": "subscribed", "channel": "status", "chanId": c, "key": k},
              json_values, json_values),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([GATE, BITFINEX]), st.lists(shaped, max_size=8))
def test_property_any_json_is_records_or_malformed_never_a_crash(exchange, messages):
    normalizer = _normalizer(exchange)
    for message in messages:
        try:
            records = normalizer.feed(TS, json.dumps(message))
        except MalformedLine:
            continue
        for record in records:
            assert len(record) == len(DERIVATIVE_TICKER) and type(record[1]) is str
    lines = [f"{TS} {json.dumps(m)}" for m in messages]
    errs = []
    list(normalize_lines(exchange, lines, on_error=lambda n, r: errs.append(n)))  # never raises


# -- micro-benchmark helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", [GATE, BITFINEX])
def test_bench_helpers_on_sample_lines(exchange):
    lines = sample_lines(exchange, 300)
    errs = []
    assert len(list(normalize_lines(exchange, lines, on_error=lambda n, r: errs.append(r)))) > 200
    assert errs == []
    assert bench_normalize(lines) > 0 and bench_baseline(lines) > 0
