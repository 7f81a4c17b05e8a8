"""The sample feed's Hyperliquid: raw lines in the real shapes, and ground truth that agrees with them."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from loopback import hyperliquid_sim, paths
from loopback.generator import SampleFeed
from pipelines.core.columns import HYPERLIQUID
from tests.loopback.test_generator import parse

DAY = date(2024, 11, 5)
COINS = ["BTC", "ETH"]
CTX_KEYS = {"funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx", "midPx",
            "impactPxs", "dayBaseVlm"}  # fmt: skip
READ = ("funding", "openInterest", "oraclePx", "markPx")


@pytest.fixture(scope="module")
def feed() -> SampleFeed:
    return SampleFeed(seed=7, interval_seconds=10, symbols={HYPERLIQUID: COINS})


def disconnect_day(feed: SampleFeed) -> date:
    """The first day from DAY with a websocket disconnect."""
    day = DAY
    while len(hyperliquid_sim.sessions(feed.seed, day)) < 2:
        day += timedelta(days=1)
    return day


def test_a_day_of_two_coins_generates_in_under_a_second():
    feed = SampleFeed(seed=3, interval_seconds=10, symbols={HYPERLIQUID: COINS})
    started = time.perf_counter()
    _, _, lines = feed.day_lines(HYPERLIQUID, DAY)
    assert time.perf_counter() - started < 1.0
    assert len(lines) > 2 * 8000


def test_lines_parse_and_carry_the_real_shapes(feed):
    day = disconnect_day(feed)
    messages = parse(feed.day_lines(HYPERLIQUID, day)[2])
    ctx = [m for _, m in messages if m is not None and m["channel"] == "activeAssetCtx"]
    subs = [m for _, m in messages if m is not None and m["channel"] == "subscriptionResponse"]
    assert {m["data"]["coin"] for m in ctx} == set(COINS)
    assert all(set(m["data"]["ctx"]) <= CTX_KEYS for m in ctx)
    values = [v for m in ctx for k, v in m["data"]["ctx"].items() if k != "impactPxs"]
    assert all(type(v) is str and float(v) == float(v) for v in values)  # decimal strings
    assert sum(set(m["data"]["ctx"]) == CTX_KEYS for m in ctx) > 0.95 * len(ctx)
    for key in ("funding", "openInterest", "oraclePx"):  # now and then one is missing
        assert 0 < sum(key not in m["data"]["ctx"] for m in ctx) < 0.02 * len(ctx)
    assert any(m["data"]["ctx"]["markPx"].endswith(".0") for m in ctx)  # a whole price keeps `.0`
    disconnects = sum(m is None for _, m in messages)
    assert disconnects >= 1 and len(subs) == len(COINS) * (disconnects + 1)
    assert {m["data"]["subscription"]["type"] for m in subs} == {"activeAssetCtx"}


def reference_normalize(lines: list[str]) -> dict[str, list[tuple]]:
    """A literal reading of tardis-node's Hyperliquid mapper, written independently of the generator:
    per upper-cased coin, a present field replaces the value, a row on any change, stamped local."""
    state: dict[str, list] = {}
    rows: dict[str, list[tuple]] = {}
    for stamp, m in parse(lines):
        if m is None:
            state = {}
            continue
        if m["channel"] != "activeAssetCtx":
            continue
        symbol, ctx = m["data"]["coin"].upper(), m["data"]["ctx"]
        local = int(stamp.timestamp() * 1_000_000)
        old = state.get(symbol, [None] * 4)
        new = [float(ctx[k]) if k in ctx else o for k, o in zip(READ, old, strict=True)]
        if new != old:
            state[symbol] = new
            funding, oi, oracle, mark = new
            rows.setdefault(symbol, []).append((local, local, None, funding, None, oi, None, oracle, mark))
    return rows


def test_raw_lines_normalize_to_exactly_the_ground_truth_csv(feed):
    day = disconnect_day(feed)
    got = reference_normalize(feed.day_lines(HYPERLIQUID, day)[2])
    for coin in COINS:
        rows = list(csv.reader(io.StringIO(feed.dataset_csv(HYPERLIQUID, coin, day).decode())))[1:]
        expected = [(int(r[2]), int(r[3]), *(float(c) if c else None for c in r[4:])) for r in rows]
        assert (
            len(expected) > 8000 and {r[0] for r in rows} == {HYPERLIQUID} and {r[1] for r in rows} == {coin}
        )
        assert got[coin] == expected, coin


def test_settlements_are_hourly_and_the_rate_of_the_hour(feed):
    settled = feed.settlements(HYPERLIQUID, "BTC", DAY)
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    assert [t for t, _, _ in settled] == [start + timedelta(hours=h) for h in range(24)]
    assert {hours for _, _, hours in settled} == {1.0}
    # every 10 s an update, so the last one before T is in the hour's final minute: the exact rate
    table = hyperliquid_sim.hourly_rates(feed.seed, "BTC")
    first_hour = paths.day_index(DAY) * 24
    assert [rate for _, rate, _ in settled] == table[first_hour - 1 : first_hour + 23].tolist()


def test_settlement_is_the_last_funding_published_before_t(feed):
    sd = feed.symbol_day(HYPERLIQUID, "ETH", DAY)
    for funding_time, rate, _ in feed.settlements(HYPERLIQUID, "ETH", DAY)[1:]:
        ms = int(funding_time.timestamp() * 1000)
        before = sd.values["funding_rate"][(sd.ts_ms < ms) & ~np.isnan(sd.values["funding_rate"])]
        assert rate == before[-1]
        after = sd.values["funding_rate"][(sd.ts_ms >= ms) & ~np.isnan(sd.values["funding_rate"])]
        assert after[0] != rate  # the next hour opens off its own rate: the settled one is gone


def test_rates_are_hourly_level_with_the_interest_floor_common():
    rates = np.concatenate(
        [hyperliquid_sim.hourly_rates(7, coin)[: 24 * 365] for coin in ("BTC", "ETH", "SOL")]
    )
    assert 0.1 < np.mean(rates == hyperliquid_sim.INTEREST) < 0.6
    assert np.abs(rates).max() <= 0.0005 and 2e-6 < np.median(np.abs(rates)) < 5e-5
    assert (rates < 0).mean() > 0.05  # negative regimes pay shorts
