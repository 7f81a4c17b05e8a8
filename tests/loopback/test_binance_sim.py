"""The sample feed's binance-futures: raw lines in Binance's real shapes, ground truth from the state."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from loopback import binance_sim, groundtruth
from loopback.generator import SampleFeed
from pipelines.core.columns import BINANCE
from pipelines.venues.normalize import normalize_lines

DAY = date(2024, 3, 5)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z")  # Tardis' 100 ns local stamp


def feed(symbols=("BTCUSDT", "ETHUSDT"), seed: int = 7) -> SampleFeed:
    return SampleFeed(seed=seed, interval_seconds=10, symbols={BINANCE: list(symbols)})


def parsed(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        assert line[28] == " " and line.endswith("\n")
        assert STAMP.fullmatch(line[:28])
        out.append(orjson.loads(line[29:]))
    return out


def test_lines_parse_and_carry_the_three_streams_shapes():
    _, symbol, lines = feed().day_lines(BINANCE, DAY)
    messages = parsed(lines)
    streams = {m["stream"].split("@", 1)[1] for m in messages}
    assert streams == {"markPrice@1s", "ticker", "openInterest"}
    for m in messages:
        data, name = m["data"], m["stream"].split("@")[0]
        if m["stream"].endswith("@openInterest"):
            assert m["generated"] is True and set(data) == {"symbol", "openInterest", "time"}
            assert data["symbol"].lower() == name and float(data["openInterest"]) > 0
            continue
        assert data["s"].lower() == name and type(data["E"]) is int
        if data["e"] == "markPriceUpdate":
            assert set(data) == {"e", "E", "s", "p", "P", "i", "r", "T"}
            assert data["E"] % 1000 == 0  # markPrice@1s is pushed on the second
            assert data["T"] > data["E"] and data["T"] % 3_600_000 == 0
            assert len(data["r"].split(".")[1]) == 8 and abs(float(data["r"])) < 0.003
            assert 0.98 < float(data["p"]) / float(data["i"]) < 1.02
        else:
            assert data["e"] == "24hrTicker" and {"c", "o", "h", "l", "v", "q", "O", "C"} <= set(data)
    assert sorted(set(symbol.tolist())) == [0, 1]


def test_every_symbol_day_normalizes_to_its_ground_truth_csv_rows():
    f = feed()
    _, number, lines = f.day_lines(BINANCE, DAY)
    for index, name in enumerate(f.symbols[BINANCE]):
        truth = groundtruth.normalized(f.symbol_day(BINANCE, name, DAY))
        expected = [tuple(None if v != v else v for v in row) for row in truth.itertuples(index=False)]
        mine = [line for line, n in zip(lines, number.tolist(), strict=True) if n == index]
        assert list(normalize_lines(BINANCE, mine)) == expected
        assert expected[0][4] is not None  # the day's first update is a markPrice: time, rate, T


def test_the_last_estimate_before_each_funding_time_is_the_settled_rate():
    f = feed()
    for name in f.symbols[BINANCE]:
        sd = f.symbol_day(BINANCE, name, DAY)
        rates, due = sd.values["funding_rate"], sd.extra["funding_ms"]
        for funding_time, rate, hours in f.settlements(BINANCE, name, DAY):
            ms = int(funding_time.timestamp() * 1000)
            if funding_time.hour == 0:
                continue  # decided by the day before's updates
            before = [
                r for r, t, ts in zip(rates, due, sd.extra["event_ms"], strict=True) if t == ms and r == r
            ]
            assert before and before[-1] == rate and hours == 8.0
            assert before[0] != rate or rate == 0.0001  # the period opens away from it (mostly)


def test_one_default_coin_moves_from_8_to_4_hour_funding_on_a_seeded_day():
    moved, at = binance_sim.switch(7)
    switch_at = datetime.fromtimestamp(at / 1000, UTC)
    assert moved in binance_sim.SYMBOLS and date(2024, 3, 4) <= switch_at.date() <= date(2024, 3, 10)
    assert switch_at.hour in (0, 8, 16) and switch_at.minute == 0
    assert {binance_sim.switch(seed)[0] for seed in range(12)} == set(binance_sim.SYMBOLS)
    f = SampleFeed(seed=7, interval_seconds=10, symbols={BINANCE: list(binance_sim.SYMBOLS)})
    day = switch_at.date()
    for name in binance_sim.SYMBOLS:
        got = [s for d in (day, day + timedelta(days=1)) for s in f.settlements(BINANCE, name, d)]
        times = [t for t, _, _ in got]
        assert times == sorted(times) and all(
            b - a == timedelta(hours=h) for (a, _, _), (b, _, h) in zip(got, got[1:], strict=False)
        )
        if name != moved:
            # The mid-period coin pays every 4 h by then (its episodes: the tests below).
            assert {h for _, _, h in got} == ({4.0} if name == binance_sim.mid_switch(7)[0] else {8.0})
            continue
        assert [h for t, _, h in got if t <= switch_at] == [8.0] * len([t for t in times if t <= switch_at])
        assert {h for t, _, h in got if t > switch_at} == {4.0}
        sd = f.symbol_day(BINANCE, name, day + timedelta(days=1))
        shown = sd.extra["funding_ms"][sd.extra["kind"] == binance_sim.MARK_PRICE]
        assert set((shown // 3_600_000 % 24).tolist()) == {0, 4, 8, 12, 16, 20}  # T is the true next time


def shown_times(seed: int, symbol: str, day: date) -> list[tuple[int, int]]:
    """(exchange ms, T ms) of the markPrice updates of a symbol-day, as the stream shows them."""
    sd = SampleFeed(seed=seed, interval_seconds=10, symbols={BINANCE: [symbol]}).symbol_day(
        BINANCE, symbol, day
    )
    is_mark = sd.extra["kind"] == binance_sim.MARK_PRICE
    return list(
        zip(sd.extra["event_ms"][is_mark].tolist(), sd.extra["funding_ms"][is_mark].tolist(), strict=True)
    )


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_mid_period_switch_moves_t_back_and_settles_4_hours_since_the_last_8_hour_time(seed):
    symbol, at = binance_sim.mid_switch(seed)
    assert symbol != binance_sim.switch(seed)[0]
    hour, slot = binance_sim.HOUR_MS, binance_sim.SLOT_MS
    period = at // (2 * slot) * 2 * slot  # the 8 h funding time before the switch
    assert (
        period + hour <= at < period + slot
        and date(2024, 3, 2) <= datetime.fromtimestamp(at / 1000, UTC).date()
    )
    day = datetime.fromtimestamp(at / 1000, UTC).date()
    shown = {t for ms, t in shown_times(seed, symbol, day) if period <= ms < period + slot}
    assert shown == {period + 2 * slot, period + slot}  # 8 h ahead until the switch, then 4 h
    got = {int(t.timestamp() * 1000): h for t, _, h in binance_sim.settled(seed, symbol, day)}
    assert got[period] == 8.0 and got[period + slot] == 4.0 and got.get(period + 2 * slot, 4.0) == 4.0


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_hourly_revert_shows_a_stale_t_for_minutes_and_settles_4_hours_later(seed):
    symbol, start, revert, stale = binance_sim.hourly(seed)
    hour = binance_sim.HOUR_MS
    last = revert // hour * hour
    assert start % binance_sim.SLOT_MS == 0 and last % binance_sim.SLOT_MS == 0
    assert 60_000 <= revert - last <= 15 * 60_000 and 2 * 60_000 <= stale - revert <= 6 * 60_000
    day = datetime.fromtimestamp(last / 1000, UTC).date()
    shown = shown_times(seed, symbol, day)
    assert {t for ms, t in shown if last <= ms < stale} == {last + hour}  # stale until `stale`
    assert {t for ms, t in shown if stale <= ms < last + 3 * hour} == {last + 4 * hour}
    got = [
        (int(t.timestamp() * 1000), h)
        for d in (day, day + timedelta(days=1))
        for t, _, h in binance_sim.settled(seed, symbol, d)
    ]
    after = [(t, h) for t, h in got if t >= last]
    assert after[:2] == [(last, 1.0), (last + 4 * hour, 4.0)]
    assert (start + hour, 1.0) in got or start + hour < day_start(day)


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("name", ["BTCUSDT", "DOGEUSDT"])
def test_prices_and_rates_are_at_the_venues_level(name):
    sd = feed((name,)).symbol_day(BINANCE, name, DAY)
    mark = sd.values["mark_price"][sd.extra["kind"] == binance_sim.MARK_PRICE]
    level = {"BTCUSDT": 60_000, "DOGEUSDT": 0.15}[name]
    assert level / 3 < mark.mean() < level * 3
    rates = [r for _, r, _ in feed((name,)).settlements(BINANCE, name, DAY)]
    assert all(-0.003 <= r <= 0.003 for r in rates)


def test_a_day_of_two_symbols_at_10_seconds_generates_in_about_a_second():
    f = feed(seed=99)
    started = time.perf_counter()
    f.day_lines(BINANCE, DAY)
    assert time.perf_counter() - started < 2.0  # ~0.4 s alone; slack for a loaded machine
