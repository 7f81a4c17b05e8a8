"""The sample feed's Bybit lines: real shapes, intervals per coin, and a ground truth consistent with
them (the ground truth comes from the simulated state; here it is checked against the lines)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from loopback import bybit_sim
from loopback.generator import SampleFeed
from loopback.groundtruth import normalized
from pipelines.core.columns import BYBIT
from pipelines.venues.normalize import normalize_lines

V5_DAY, OLD_DAY = date(2024, 3, 5), date(2022, 6, 1)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]


def feed(symbols=("BTCUSDT", "SOLUSDT")) -> SampleFeed:
    return SampleFeed(seed=7, interval_seconds=10, symbols={BYBIT: list(symbols)})


def messages(sample: SampleFeed, day: date) -> list[dict]:
    return [json.loads(line[29:]) for line in sample.day_lines(BYBIT, day)[2]]


def test_a_day_of_two_symbols_generates_in_under_a_second():
    sample = feed()
    started = time.perf_counter()
    sample.day_lines(BYBIT, date(2024, 3, 7))
    assert time.perf_counter() - started < 1.0


def test_v5_lines_are_a_subscription_reply_a_snapshot_then_deltas_of_changed_fields():
    msgs = messages(feed(), V5_DAY)
    replies = [m for m in msgs if "topic" not in m]
    assert len(replies) == 2 and all(m["op"] == "subscribe" and m["success"] for m in replies)
    btc = [m for m in msgs if m.get("topic") == "tickers.BTCUSDT"]
    assert btc[0]["type"] == "snapshot" and {m["type"] for m in btc[1:]} == {"delta"}
    full = {"lastPrice", "markPrice", "indexPrice", "openInterest", "nextFundingTime", "fundingRate"}
    assert full <= set(btc[0]["data"]) and "openInterestValue" in btc[0]["data"]
    deltas = [set(m["data"]) for m in btc[1:]]
    assert any("fundingRate" not in d for d in deltas) and any("fundingRate" in d for d in deltas)
    assert all(isinstance(m["ts"], int) and isinstance(m["data"]["symbol"], str) for m in btc)
    assert all(isinstance(v, str) for m in btc for v in m["data"].values())


def test_pre_v5_lines_are_instrument_info_snapshot_and_update_deltas():
    msgs = messages(feed(), OLD_DAY)
    sol = [m for m in msgs if m.get("topic") == "instrument_info.100ms.SOLUSDT"]
    assert sol[0]["type"] == "snapshot" and "funding_rate_e6" in sol[0]["data"]
    assert all(m["type"] == "delta" and len(m["data"]["update"]) == 1 for m in sol[1:])
    assert all(m["timestamp_e6"] == str(int(m["timestamp_e6"])) for m in sol)
    assert sol[0]["data"]["next_funding_time"].endswith(":00:00Z")
    assert not any(m.get("topic", "").startswith("tickers.") for m in msgs)


@pytest.mark.parametrize("day", [V5_DAY, OLD_DAY])
def test_the_lines_normalize_to_the_ground_truth(day):
    """tardis-node-compatible normalization of the raw lines gives the rows rendered from the state."""
    sample = feed()
    records = list(
        normalize_lines(
            BYBIT, sample.day_lines(BYBIT, day)[2], on_error=lambda n, why: pytest.fail(f"line {n}: {why}")
        )
    )
    for symbol in sample.symbols[BYBIT]:
        truth = normalized(sample.symbol_day(BYBIT, symbol, day))
        ours = [r for r in records if r[1] == symbol]
        assert len(ours) == len(truth) > 1000
        assert [r[2] for r in ours] == truth["timestamp"].tolist()
        assert [r[4] for r in ours] == truth["funding_timestamp"].astype("int64").tolist()
        assert [r[5] for r in ours] == truth["funding_rate"].tolist()
        assert [r[10] for r in ours] == truth["mark_price"].tolist()


def next_funding_times(sample: SampleFeed, symbol: str, day: date) -> list[datetime]:
    """The distinct `nextFundingTime` values the day's V5 lines show, in order."""
    seen: list[datetime] = []
    for m in messages(sample, day):
        value = m.get("data", {}).get("nextFundingTime") if m.get("topic") == f"tickers.{symbol}" else None
        moment = None if value is None else datetime.fromtimestamp(int(value) / 1000, UTC)
        if moment is not None and (not seen or seen[-1] != moment):
            seen.append(moment)
    return seen


def test_intervals_per_coin_and_the_lines_show_the_true_next_funding_time():
    sample = feed(SYMBOLS)
    for symbol, hours in (("BTCUSDT", 8), ("ETHUSDT", 4), ("DOGEUSDT", 1)):
        truth = sample.settlements(BYBIT, symbol, V5_DAY)
        assert {h for _, _, h in truth} == {hours} and len(truth) == 24 // hours
        shown = next_funding_times(sample, symbol, V5_DAY)
        assert shown == [t for t, _, _ in truth[1:]] + [truth[0][0] + timedelta(days=1)]


def test_sol_moves_from_8_h_to_2_h_on_a_seeded_day_inside_march_2024():
    switch = datetime.fromtimestamp(bybit_sim.switch_ms(7) / 1000, UTC)
    assert date(2024, 3, 2) <= switch.date() <= date(2024, 3, 11) and switch.hour == 8
    assert bybit_sim.switch_ms(8) != bybit_sim.switch_ms(7) or bybit_sim.switch_ms(9) != bybit_sim.switch_ms(
        7
    )
    sample = feed()
    truth = sample.settlements(BYBIT, "SOLUSDT", switch.date())
    assert [(t.hour, h) for t, _, h in truth] == [(0, 8.0), (8, 8.0)] + [(h, 2.0) for h in range(10, 24, 2)]
    shown = next_funding_times(sample, "SOLUSDT", switch.date())
    assert shown == [t for t, _, _ in truth[1:]] + [switch.replace(hour=0) + timedelta(days=1)]


def test_the_last_rate_shown_before_each_funding_time_is_the_settled_one():
    sample = feed()
    for symbol in sample.symbols[BYBIT]:
        records = [r for r in normalize_lines(BYBIT, sample.day_lines(BYBIT, V5_DAY)[2]) if r[1] == symbol]
        for moment, rate, _ in sample.settlements(BYBIT, symbol, V5_DAY)[1:]:
            due = int(moment.timestamp() * 1_000_000)
            before = [r for r in records if r[2] < due and r[4] == due]
            assert before and before[-1][5] == rate and due - before[-1][2] < 60_000_000


def test_rates_are_bybit_sized():
    sample = feed(SYMBOLS)
    for symbol in SYMBOLS:
        rows = [row for day in range(1, 15) for row in sample.settlements(BYBIT, symbol, date(2024, 3, day))]
        assert max(abs(rate) for _, rate, _ in rows) <= 0.00375
        interest = sum(rate == round(0.0001 * hours / 8, 8) for _, rate, hours in rows)  # the interest leg
        assert len(rows) / 10 < interest < len(rows)


def test_eth_goes_hourly_at_the_cap_and_back_with_each_schedule_shown_minutes_late():
    """Seed 7: the lines' nextFundingTime is the ground truth's next funding time, except the old one
    for `switch_lag` after the cap settlement and for `revert_lag` after the revert settlement."""
    ep = bybit_sim.episode(7)
    cap, revert = (datetime.fromtimestamp(ms / 1000, UTC) for ms in (ep.cap_ms, ep.revert_ms))
    assert cap.date() == revert.date()  # seed 7: 04:00 to 20:00 on one day
    sample = feed(["ETHUSDT"])
    truth = sample.settlements(BYBIT, "ETHUSDT", cap.date())
    assert [(t.hour, h) for t, _, h in truth if t <= cap] == [(h, 4.0) for h in range(0, cap.hour + 1, 4)]
    assert {h for t, _, h in truth if cap < t <= revert} == {1.0}
    assert [(rate, h) for t, rate, h in truth if t == cap] == [(bybit_sim.CAP, 4.0)]
    times = [t for t, _, _ in truth] + [truth[0][0] + timedelta(days=1)]
    for m in messages(sample, cap.date()):
        shown = m.get("data", {}).get("nextFundingTime") if m.get("topic") == "tickers.ETHUSDT" else None
        if shown is None:
            continue
        at = m["ts"]
        real = next(t for t in times if t.timestamp() * 1000 > at)
        if ep.cap_ms <= at < ep.cap_ms + ep.switch_lag_ms:
            real = cap + timedelta(hours=4)
        elif ep.revert_ms <= at < ep.revert_ms + ep.revert_lag_ms:
            real = revert + timedelta(hours=1)
        assert int(shown) == int(real.timestamp() * 1000), at
