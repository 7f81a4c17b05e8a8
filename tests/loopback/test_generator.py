"""The sample feed: deterministic per day, realistic raw lines, and ground truth that agrees with them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson
import pytest

from loopback import generator, paths, simulate
from loopback.generator import SampleFeed
from pipelines.core.columns import BITFINEX, DERIVATIVE_TICKER, GATE

DAY = date(2024, 3, 5)
PREFIX = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z $")
SYMBOLS = {GATE: ["BTC_USDT", "ETH_USDT"], BITFINEX: ["BTCF0:USTF0", "ETHF0:USTF0"]}


@pytest.fixture(scope="module")
def feed() -> SampleFeed:
    return SampleFeed(seed=7, interval_seconds=20, symbols=SYMBOLS)


def forget_caches() -> None:
    """Drop in-memory caches so a second generation really starts from scratch."""
    generator._symbol_day.cache_clear()
    for cached in (paths._log_anchors, paths.regimes, paths.gate_funding, paths.bitfinex_funding):
        cached.cache_clear()


def parse(lines: list[str]) -> list[tuple[datetime, object]]:
    """(local time, decoded message) per line; None for a disconnect (empty line)."""
    out = []
    for line in lines:
        if line == "\n":
            out.append((None, None))
            continue
        stamp = datetime.fromisoformat(line[:26]).replace(tzinfo=UTC)
        out.append((stamp, orjson.loads(line[29:])))
    return out


def test_a_day_alone_equals_the_same_day_inside_a_range(feed, tmp_path):
    feed.prepare_range([DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)], tmp_path / "range")
    forget_caches()
    alone = SampleFeed(seed=7, interval_seconds=20, symbols=SYMBOLS)
    for exchange in (GATE, BITFINEX):
        ranged = feed.day_path(exchange, DAY, tmp_path / "range")
        single = alone.prepare(exchange, DAY, tmp_path / "alone")
        assert (ranged / "lines.txt").read_bytes() == (single / "lines.txt").read_bytes()
        assert alone.dataset_csv(exchange, SYMBOLS[exchange][0], DAY) == feed.dataset_csv(
            exchange, SYMBOLS[exchange][0], DAY
        )


def test_prepare_is_cached_on_disk_and_keyed_by_the_feed(feed, tmp_path):
    path = feed.prepare(GATE, DAY, tmp_path)
    stamp = (path / "lines.txt").stat().st_mtime_ns
    assert feed.prepare(GATE, DAY, tmp_path) == path
    assert (path / "lines.txt").stat().st_mtime_ns == stamp
    other = SampleFeed(seed=8, interval_seconds=20, symbols=SYMBOLS)
    assert other.day_path(GATE, DAY, tmp_path) != path
    assert SampleFeed(seed=7, interval_seconds=20, symbols=SYMBOLS).day_path(GATE, DAY, tmp_path) == path


def test_prices_run_on_across_midnight_and_look_real(feed):
    before = feed.symbol_day(GATE, "BTC_USDT", DAY - timedelta(days=1)).values["mark_price"]
    after = feed.symbol_day(GATE, "BTC_USDT", DAY).values["mark_price"]
    assert abs(after[0] / before[-1] - 1) < 0.003
    assert 20_000 < np.median(after) < 200_000
    eth = feed.symbol_day(BITFINEX, "ETHF0:USTF0", DAY).values["mark_price"]
    assert 1_000 < np.median(eth) < 10_000


def test_gate_and_bitfinex_marks_stay_a_few_bps_apart(feed):
    gate = feed.symbol_day(GATE, "BTC_USDT", DAY)
    bfx = feed.symbol_day(BITFINEX, "BTCF0:USTF0", DAY)
    gate_mark = np.interp(bfx.ts_ms, gate.ts_ms, gate.values["mark_price"])
    spread_bps = (gate_mark / bfx.values["mark_price"] - 1) * 1e4
    assert 0.3 < np.std(spread_bps) < 10 and np.abs(spread_bps).max() < 40
    basis_bps = (bfx.values["mark_price"] / bfx.values["index_price"] - 1) * 1e4
    assert np.abs(np.median(basis_bps)) < 15


def test_every_line_has_the_28_char_local_timestamp_a_few_ms_after_the_exchange(feed):
    _, _, lines = feed.day_lines(GATE, DAY)
    lags = [
        (stamp - datetime.fromtimestamp(m.get("time_ms", m["time"] * 1000) / 1000, UTC)).total_seconds()
        for stamp, m in parse(lines)
        if m.get("event") == "update"
    ]
    assert min(lags) >= 0 and max(lags) < 3.5 and np.quantile(lags, 0.99) < 0.035
    for line in lines + feed.day_lines(BITFINEX, DAY)[2]:
        assert line == "\n" or PREFIX.match(line[:29].encode()), line[:40]


def test_gate_raw_messages_have_the_documented_irregularities(feed):
    messages = [m for _, m in parse(feed.day_lines(GATE, DAY)[2])]
    updates = [m for m in messages if m["event"] == "update"]
    assert any(m["event"] == "subscribe" for m in messages)
    assert any(isinstance(m["result"], dict) for m in updates)
    tickers = [m["result"][0] if isinstance(m["result"], list) else m["result"] for m in updates]
    assert any("total_size" not in t for t in tickers)
    assert all(
        isinstance(t["mark_price"], str)
        and t["funding_rate"] == t.get("funding_rate_indicative", t["funding_rate"])
        for t in tickers
    )


def disconnect_day(feed: SampleFeed) -> date:
    for offset in range(60):
        day = DAY + timedelta(days=offset)
        if len(simulate.bitfinex_connections(feed.seed, day)) > 1:
            return day
    raise AssertionError("no disconnect in 60 days")


def test_bitfinex_disconnect_brings_new_subscriptions_and_channel_ids(feed):
    day = disconnect_day(feed)
    parsed = parse(feed.day_lines(BITFINEX, day)[2])
    gap = next(i for i, (_, m) in enumerate(parsed) if m is None)
    before = {m["chanId"] for _, m in parsed[:gap] if isinstance(m, dict) and m.get("event") == "subscribed"}
    after = {
        m["chanId"]: m["key"]
        for _, m in parsed[gap:]
        if isinstance(m, dict) and m.get("event") == "subscribed"
    }
    assert set(after.values()) == {"deriv:tBTCF0:USTF0", "deriv:tETHF0:USTF0"}
    assert not before & set(after)
    first_update = next(m for _, m in parsed[gap:] if isinstance(m, list) and isinstance(m[1], list))
    assert first_update[0] in after and len(first_update[1]) == 23 and first_update[-2] == "status"
    assert any(isinstance(m, list) and m[1] == "hb" for _, m in parsed)


def test_bitfinex_settlement_is_current_funding_of_the_first_update_after_t(feed):
    parsed = parse(feed.day_lines(BITFINEX, DAY)[2])
    updates = [
        m for _, m in parsed if isinstance(m, list) and isinstance(m[1], list) and m[-1] == "BTCF0:USTF0"
    ]
    settled = feed.settlements(BITFINEX, "BTCF0:USTF0", DAY)
    assert [t.hour for t, _, _ in settled] == [0, 8, 16]
    assert {hours for _, _, hours in settled} == {8.0}
    for funding_time, rate, _ in settled:
        t_ms = int(funding_time.timestamp() * 1000)
        first_after = next(m for m in updates if m[3] > t_ms)
        assert first_after[1][11] == rate
        assert all(m[1][7] == t_ms for m in updates if t_ms - 8 * 3600_000 < m[3] <= t_ms)
        last_before = [m for m in updates if m[3] <= t_ms]
        if last_before and rate:  # the accrued rate has grown to (about) the value settled at T
            assert abs(last_before[-1][1][8] - rate) <= abs(rate) * 0.2


def test_gate_settlement_is_the_last_rate_published_before_t(feed):
    lines = feed.day_lines(GATE, DAY - timedelta(days=1))[2] + feed.day_lines(GATE, DAY)[2]
    published = []
    for _, m in parse(lines):
        if m.get("event") == "update":
            ticker = m["result"][0] if isinstance(m["result"], list) else m["result"]
            if ticker["contract"] == "ETH_USDT":
                published.append((m.get("time_ms", m["time"] * 1000), float(ticker["funding_rate"])))
    for funding_time, rate, _ in feed.settlements(GATE, "ETH_USDT", DAY):
        t_ms = int(funding_time.timestamp() * 1000)
        assert [r for ts, r in published if ts < t_ms][-1] == rate


def test_funding_has_regimes_outliers_and_common_bitfinex_zeros():
    feed = SampleFeed(seed=7, interval_seconds=600, symbols=SYMBOLS)
    days = [DAY + timedelta(days=i) for i in range(12)]
    gate = [r for d in days for _, r, _ in feed.settlements(GATE, "BTC_USDT", d)]
    bfx = [r for d in days for _, r, _ in feed.settlements(BITFINEX, "BTCF0:USTF0", d)]
    assert len(set(gate)) > 20 and np.std(gate) > 2e-5
    assert 0.05 < np.mean(np.array(bfx) == 0) < 0.9
    assert max(abs(r) for r in gate + bfx) < 0.0035
    # over a year of periods the tables show regime shifts and outliers that make windows stand out
    level = paths.regimes(7, "BTC")[1900:3000]
    assert len(set(level)) >= 3 and np.sum(level[1:] != level[:-1]) >= 10
    base, _ = paths.gate_funding(7, "BTC")
    z = (base[1900:3000] - np.median(base[1900:3000])) / np.std(base[1900:3000])
    assert np.sum(np.abs(z) > 4) >= 3


def test_dataset_csv_has_tardis_columns_and_rules(feed):
    text = feed.dataset_csv(GATE, "BTC_USDT", DAY).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == DERIVATIVE_TICKER
    body = rows[1:]
    assert len(body) > 4000
    stamps = [int(r[2]) for r in body]
    assert stamps == sorted(stamps) and all(len(r[2]) == 16 and len(r[3]) == 16 for r in body)
    assert all(r[4] == "" for r in body)  # Gate carries no funding timestamp
    assert all(a[4:] != b[4:] for a, b in zip(body, body[1:], strict=False))
    bfx = list(csv.reader(io.StringIO(feed.dataset_csv(BITFINEX, "BTCF0:USTF0", DAY).decode())))[1:]
    assert all(int(r[4]) % 28_800_000_000 == 0 for r in bfx)


def reference_normalize(exchange: str, lines: list[str]) -> dict[str, list[tuple]]:
    """A literal reading of tardis-data.md, written independently of the generator."""
    state, times, channels, rows = {}, {}, {}, {}
    for stamp, m in parse(lines):
        if m is None:
            state, times, channels = {}, {}, {}
            continue
        local = int(stamp.timestamp() * 1_000_000)
        if exchange == GATE:
            if m.get("channel") != "futures.tickers" or m.get("event") != "update":
                continue
            t = m["result"][0] if isinstance(m["result"], list) else m["result"]
            symbol, ts = t["contract"], (m["time_ms"] if "time_ms" in m else m["time"] * 1000) * 1000
            keys = (
                None,
                "funding_rate",
                "funding_rate_indicative",
                "total_size",
                "last",
                "index_price",
                "mark_price",
            )
            new = [None if k is None or k not in t else float(t[k]) for k in keys]
        else:
            if isinstance(m, dict):
                if m.get("event") == "subscribed":
                    channels[m["chanId"]] = m["key"].removeprefix("deriv:t")
                continue
            if not isinstance(m[1], list) or m[0] not in channels:
                continue
            symbol, ts, s = channels[m[0]], m[3] * 1000, m[1]
            new = [s[7] * 1000, s[11], s[8], s[17], s[2], s[3], s[14]]
        old = state.get(symbol, [None] * 7)
        new = [o if n is None else n for n, o in zip(new, old, strict=True)]
        times[symbol] = max(times.get(symbol, ts), ts)
        if new != old:
            state[symbol] = new
            rows.setdefault(symbol, []).append((times[symbol], local, *new))
    return rows


@pytest.mark.parametrize("exchange", [GATE, BITFINEX])
def test_raw_lines_normalize_to_exactly_the_ground_truth_csv(exchange):
    feed = SampleFeed(seed=11, interval_seconds=10, symbols=SYMBOLS)
    day = disconnect_day(feed) if exchange == BITFINEX else DAY
    got = reference_normalize(exchange, feed.day_lines(exchange, day)[2])
    for symbol in SYMBOLS[exchange]:
        rows = list(csv.reader(io.StringIO(feed.dataset_csv(exchange, symbol, day).decode())))[1:]
        expected = [(int(r[2]), int(r[3]), *(float(c) if c else None for c in r[4:])) for r in rows]
        assert got[symbol] == expected, symbol
