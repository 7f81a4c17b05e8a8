"""Bitfinex end to end: the loopback Tardis server -> replay extract -> load -> the `funding` table,
against the sample generator's ground truth (`loopback.groundtruth.bitfinex_settled`), across the
funding times of two days loaded in either order (pipelines/venues/bitfinex/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import BITFINEX
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at

DAY = datetime(2024, 3, 1, tzinfo=UTC)
SYMBOLS = ["BTCF0:USTF0", "ETHF0:USTF0"]
DAYS = [DAY, DAY + timedelta(days=1)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    feed = SampleFeed(seed=7, interval_seconds=10, symbols={BITFINEX: SYMBOLS})
    with start_in_thread(feed, data_dir=tmp_path_factory.mktemp("tardis-sample")) as handle:
        yield handle


@pytest.fixture
def loaded(settings, server, tmp_path):
    """One database per load order (the order must change nothing)."""
    tardis = pointed_at(settings.tardis, server)
    dbs = {}
    for name, days in (("forward", DAYS), ("backward", DAYS[::-1])):
        db = dbs[name] = open_db(tmp_path / f"{name}.db")
        for day in days:
            got = extract_range(tardis, BITFINEX, SYMBOLS, day, day + timedelta(days=1), "replay")
            assert got.malformed == 0 and set(got.symbols) == set(SYMBOLS)
            load_extracted(db, got, dict.fromkeys(SYMBOLS, 8.0), day=day.date().isoformat())
    yield dbs
    for db in dbs.values():
        db.close()


def test_stored_funding_equals_the_generators_settlements(loaded, server):
    for symbol in SYMBOLS:
        truth = [s for day in DAYS for s in server.feed.settlements(BITFINEX, symbol, day.date())]
        assert [t for t, _, _ in truth] == [DAY + timedelta(hours=8 * k) for k in range(6)]
        # The first loaded minute already shows 08:00 as the next funding time: nothing loaded shows
        # 00:00 of the first day as one, so it is not stored. 08:00 through 16:00 of the last day are.
        truth = truth[1:]
        for name, db in loaded.items():
            stored = read_funding(db, BITFINEX, symbol, DAY, DAY + timedelta(days=3))
            got = list(
                zip(
                    stored["funding_time"].dt.to_pydatetime().tolist(),
                    stored["rate"].tolist(),
                    stored["interval_hours"].tolist(),
                    strict=True,
                )
            )
            assert got == truth, (name, symbol)
            assert set(stored["evidence"]) == {"data"} and set(stored["predicted_kind"]) == {"estimate"}
            assert stored["warning"].isna().all()


def test_the_rate_paid_at_t_is_the_one_shown_after_t_not_before(loaded, server):
    # Across each funding time the sample feed changes CURRENT_FUNDING: the stored rate is the value
    # published after T, never the one of the period T closes.
    sd = server.feed.symbol_day(BITFINEX, SYMBOLS[0], DAY.date())
    stored = read_funding(loaded["forward"], BITFINEX, SYMBOLS[0], DAY, DAY + timedelta(days=1))
    for t, rate in zip(stored["funding_time"].dt.to_pydatetime(), stored["rate"], strict=True):
        t_ms = int(t.timestamp() * 1000)
        before = sd.values["funding_rate"][sd.ts_ms < t_ms]
        after = sd.values["funding_rate"][sd.ts_ms > t_ms]
        assert rate == after[0]
        if len(before):
            assert before[-1] != after[0]


def test_a_wrong_configured_interval_yields_to_the_data_and_warns(settings, server, tmp_path):
    # 4 h configured for a feed whose funding times are 8 h apart: the stored settlements are the
    # generator's (8 h, APR over 8 h) and each says the configuration disagrees. Fails on main,
    # which stored the configured 4 h (APR doubled) without a word.
    tardis = pointed_at(settings.tardis, server)
    symbol = SYMBOLS[0]
    db = open_db(tmp_path / "wrong.db")
    for day in DAYS:
        got = extract_range(tardis, BITFINEX, [symbol], day, day + timedelta(days=1), "replay")
        load_extracted(db, got, {symbol: 4.0}, day=day.date().isoformat())
    stored = read_funding(db, BITFINEX, symbol, DAY, DAY + timedelta(days=3))
    truth = [s for day in DAYS for s in server.feed.settlements(BITFINEX, symbol, day.date())][1:]
    assert (
        list(
            zip(
                stored["funding_time"].dt.to_pydatetime(),
                stored["rate"],
                stored["interval_hours"],
                strict=True,
            )
        )
        == truth
    )
    assert stored["apr"].tolist() == pytest.approx([rate * 1095 for _, rate, _ in truth])
    assert stored["warning"].tolist() == [
        f"Bitfinex {symbol} {t:%Y-%m-%d %H:%M}: interval 8 h in the data, 4 h configured" for t, _, _ in truth
    ]
    assert set(stored["evidence"]) == {"data"}
    db.close()
