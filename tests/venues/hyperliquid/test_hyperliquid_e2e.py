"""Hyperliquid end to end: the loopback Tardis server -> extract (replay and datasets) -> load -> the
`tickers` and `funding` tables, against the sample generator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from loopback import hyperliquid_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import HYPERLIQUID
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db
from pipelines.venues.registry import venue
from tests.fixtures.tardis import pointed_at

DAY = datetime(2024, 11, 7, tzinfo=UTC)  # both days have a websocket disconnect (seed 7)
COINS = ["BTC", "ETH"]
DAYS = [DAY, DAY + timedelta(days=1)]


def test_the_days_have_disconnects():
    assert all(len(hyperliquid_sim.sessions(7, day.date())) == 2 for day in DAYS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    feed = SampleFeed(seed=7, interval_seconds=10, symbols={HYPERLIQUID: COINS})
    with start_in_thread(feed, data_dir=tmp_path_factory.mktemp("tardis-sample")) as handle:
        yield handle


@pytest.fixture
def tardis(settings, server):
    return pointed_at(settings.tardis, server)


@pytest.fixture
def loaded(tardis, tmp_path):
    """One database per source, its days loaded in opposite orders (the order must change nothing)."""
    dbs = {}
    for source, days in (("replay", DAYS), ("datasets", DAYS[::-1])):
        db = dbs[source] = open_db(tmp_path / f"{source}.db")
        for day in days:
            got = extract_range(tardis, HYPERLIQUID, COINS, day, day + timedelta(days=1), source)
            assert got.malformed == 0 and set(got.symbols) == set(COINS)
            intervals = {coin: venue(HYPERLIQUID).interval_hours for coin in COINS}
            load_extracted(db, got, intervals, day=day.date().isoformat())
    yield dbs
    for db in dbs.values():
        db.close()


def test_replay_and_datasets_give_the_same_minute_rows(tardis):
    for day in DAYS:
        replay = extract_range(tardis, HYPERLIQUID, COINS, day, day + timedelta(days=1), "replay")
        datasets = extract_range(tardis, HYPERLIQUID, COINS, day, day + timedelta(days=1), "datasets")
        assert len(replay.rows) >= 2 * 1430 and replay.symbols == {"BTC": 1440, "ETH": 1440}
        assert replay.rows == datasets.rows


def opening_rate(feed: SampleFeed, coin: str, funding_time: datetime) -> float:
    """From the simulated state: the last funding published before the first minute of the period
    that `funding_time` closes is over."""
    opened = funding_time - timedelta(hours=1)
    sd = feed.symbol_day(HYPERLIQUID, coin, opened.date())
    rates = sd.values["funding_rate"]
    shown = rates[(sd.ts_ms < (opened.timestamp() + 60) * 1000) & ~np.isnan(rates)]
    return float(shown[-1])


def test_both_sources_store_the_generators_hourly_settlements(loaded, server):
    end = DAY + timedelta(days=3)
    for coin in COINS:
        truth = {
            t: (rate, hours)
            for d in range(3)
            for t, rate, hours in server.feed.settlements(HYPERLIQUID, coin, (DAY + timedelta(days=d)).date())
        }
        for source, db in loaded.items():
            stored = read_funding(db, HYPERLIQUID, coin, DAY, end)
            times = stored["funding_time"].dt.to_pydatetime().tolist()
            # every hour from 01:00 of the first day to midnight after the last; the first midnight
            # needs the minutes before it, which were not loaded
            assert times == [DAY + timedelta(hours=h) for h in range(1, 49)], (source, coin)
            got = dict(zip(times, zip(stored["rate"], stored["interval_hours"], strict=True), strict=True))
            assert got == {t: truth[t] for t in times}, (source, coin)
            assert (stored["apr"] == stored["rate"] * 8760).all()
            # the forecast: what the feed showed by the end of the period's first minute
            predicted = dict(zip(times, stored["predicted_rate"], strict=True))
            assert predicted == {t: opening_rate(server.feed, coin, t) for t in times}, (source, coin)
            assert (stored["predicted_rate"] != stored["rate"]).mean() > 0.9


def test_both_sources_store_the_same_minute_history_and_funding(loaded):
    for coin in COINS:
        replay = read_minutes(loaded["replay"], HYPERLIQUID, coin, DAY, DAY + timedelta(days=2))
        datasets = read_minutes(loaded["datasets"], HYPERLIQUID, coin, DAY, DAY + timedelta(days=2))
        assert len(replay) == 2 * 1440 and replay.equals(datasets)
        assert replay[["mark_price", "index_price", "funding_rate", "open_interest"]].notna().all().all()
        assert replay[["last_price", "predicted_funding_rate", "funding_timestamp"]].isna().all().all()
        funding = [
            read_funding(db, HYPERLIQUID, coin, DAY, DAY + timedelta(days=3)) for db in loaded.values()
        ]
        assert funding[0].equals(funding[1])
