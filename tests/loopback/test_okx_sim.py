"""The sample feed's OKX swaps: raw lines in the venue's real V5 shapes, ground truth from the state."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

import orjson
import pytest

from loopback import groundtruth, okx_sim
from loopback.generator import SampleFeed
from pipelines.core.columns import OKX
from pipelines.venues.normalize import normalize_lines
from pipelines.venues.okx import V5_CHANNELS
from tests.venues.tardis_node import missing_reason, node_records

SYMBOLS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]  # ETH, the second, escalates 8 -> 4 -> 2 -> 1 h and back
SEED = 7
SWITCH = okx_sim.switch_day(SEED)


@pytest.fixture(scope="module")
def feed():
    return SampleFeed(seed=SEED, interval_seconds=10, symbols={OKX: SYMBOLS})


def messages(feed, day):
    _, _, lines = feed.day_lines(OKX, day)
    return [(line[:28], orjson.loads(line[29:])) for line in lines]


def test_a_day_of_two_symbols_generates_quickly(feed):
    started = time.perf_counter()
    SampleFeed(seed=SEED + 1, interval_seconds=10, symbols={OKX: SYMBOLS}).day_lines(OKX, SWITCH)
    assert time.perf_counter() - started < 3  # about 0.7 s alone; slack for a loaded machine
    first = okx_sim.SAMPLE_FIRST_DAY
    assert first <= SWITCH < first + timedelta(days=okx_sim.EPISODE_SPAN_DAYS)


def test_lines_parse_and_carry_the_v5_shapes(feed):
    seen = {}
    for local, msg in messages(feed, SWITCH):
        if "event" in msg:
            assert msg["event"] == "subscribe" and msg["arg"]["channel"] in V5_CHANNELS
            continue
        channel, inst = msg["arg"]["channel"], msg["arg"]["instId"]
        (item,) = msg["data"]
        assert item["instId"] == inst and item["ts"].isdigit()
        seen.setdefault(channel, set()).add(inst)
        if channel == "funding-rate":
            assert int(item["fundingTime"]) > _ms(local)  # always the coming funding time
            assert int(item["nextFundingTime"]) > int(item["fundingTime"])
            assert item["nextFundingRate"] == "" or math.isfinite(float(item["nextFundingRate"]))
        else:
            key = {"tickers": "last", "mark-price": "markPx", "index-tickers": "idxPx", "open-interest": "oi"}
            assert float(item[key[channel]]) > 0
    assert seen == {
        "tickers": set(SYMBOLS),
        "mark-price": set(SYMBOLS),
        "funding-rate": set(SYMBOLS),
        "open-interest": set(SYMBOLS),
        "index-tickers": {"BTC-USDT", "ETH-USDT"},
    }


def _ms(local: str) -> int:
    return int(datetime.fromisoformat(local[:23] + "+00:00").timestamp() * 1000)


def _funding_items(feed, symbol, days):
    return [
        (local, msg["data"][0])
        for day in days
        for local, msg in messages(feed, day)
        if "data" in msg and msg["arg"]["channel"] == "funding-rate" and msg["arg"]["instId"] == symbol
    ]


def test_funding_times_rates_and_statements_are_the_ground_truth(feed):
    episode = okx_sim.episode(SEED)
    days = [SWITCH - timedelta(days=1), SWITCH, SWITCH + timedelta(days=1)]
    for symbol in SYMBOLS:
        items = _funding_items(feed, symbol, days)
        settled = [s for day in days for s in feed.settlements(OKX, symbol, day)]
        shown = {int(i["fundingTime"]): i["fundingRate"] for _, i in items}
        stated = {int(i["prevFundingTime"]): i["settFundingRate"] for _, i in items}
        assert {i["method"] for _, i in items} == {"next_period"} and {i["settState"] for _, i in items} == {
            "settled"
        }
        for t, rate, interval in settled[1:]:  # the first was published the day before these
            ms = int(t.timestamp() * 1000)
            assert float(shown[ms]) == rate == float(stated[ms])  # shown for T, then stated at T
            before = max(x for x in stated if x < ms) if any(x < ms for x in stated) else None
            if before is not None:
                assert (ms - before) / 3_600_000 == interval  # consecutive prevFundingTimes
        if symbol == "BTC-USDT-SWAP":
            assert {h for _, _, h in settled} == {8.0}
    hours = [h for day in days for _, _, h in feed.settlements(OKX, "ETH-USDT-SWAP", day)]
    assert hours.index(4.0) < hours.index(2.0) < hours.index(1.0) and 8.0 in hours
    # After the revert the feed shows the hourly funding time for a few minutes: never settled.
    stale = episode.revert - 15 * 60 + 3600
    items = _funding_items(feed, "ETH-USDT-SWAP", days)
    late = [_ms(local) for local, i in items if int(i["fundingTime"]) == stale * 1000]
    assert late and max(late) // 1000 >= episode.revert and max(late) // 1000 < episode.stale_until
    assert stale not in {
        int(t.timestamp()) for day in days for t, _, _ in feed.settlements(OKX, "ETH-USDT-SWAP", day)
    }


def test_normalized_lines_equal_the_ground_truth_rows(feed):
    _, _, lines = feed.day_lines(OKX, SWITCH)
    ours = list(normalize_lines(OKX, [line.rstrip("\n") for line in lines]))
    for symbol in SYMBOLS:
        truth = groundtruth.normalized(feed.symbol_day(OKX, symbol, SWITCH))
        expected = [tuple(None if v != v else v for v in row) for row in truth.itertuples(index=False)]
        expected = [(*row[:4], None if row[4] is None else int(row[4]), *row[5:]) for row in expected]
        assert [r[:11] for r in ours if r[1] == symbol] == expected, symbol  # + the STATED fields
    assert len(ours) > 2 * 15_000


@pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
def test_tardis_node_maps_the_sample_lines_like_arbdb(feed):
    _, _, lines = feed.day_lines(OKX, SWITCH)
    head = [line.rstrip("\n") for line in lines[:6000]]
    # arbdb's records add the settlement OKX states (STATED) after tardis-node's 11 fields
    assert node_records(OKX, head) == [r[:11] for r in normalize_lines(OKX, head)]
