"""Held-out check (issue 17): the sample feed's interval-switch episodes served over the replay API,
on seeds no other test uses, loaded day by day in a shuffled order; every stored settlement of every
venue equals what the simulated venue settled (time, rate and interval), and every settlement the
loaded days can decide is stored.

The expected values are the generator's ground truth (`SampleFeed.settlements`, computed from the
simulated state, never from rendered lines or from arbdb's rules).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from loopback.generator import SampleFeed
from loopback.sims import served, sim
from loopback.tardis_server import start_in_thread
from pipelines.config.settings import load_settings
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding
from pipelines.store import open_db
from pipelines.venues.registry import VENUES

pytestmark = pytest.mark.slow

HELD_OUT_SEEDS = (4099, 5113)  # used nowhere else
FIRST = date(2024, 3, 1)
DAYS = 14  # the demo range, where every venue's episodes fall
INTERVAL_SECONDS = 60  # one update a minute per symbol and channel: every minute seen, small data


def _range(exchange: str) -> tuple[date, int]:
    """The demo range, where every venue's episodes fall; a venue whose history starts later (Hyperliquid,
    hourly, no switches) gets a few days from its start."""
    start = date.fromisoformat(VENUES[exchange].history_start)
    return (FIRST, DAYS) if start <= FIRST else (start + timedelta(days=2), 3)


def _days(exchange: str) -> list[date]:
    first, count = _range(exchange)
    return [first + timedelta(days=i) for i in range(count)]


def _loaded(server, tmp, exchange: str, symbols: list[str], seed: int):
    config = tmp / "config.yaml"
    config.write_text(
        f"database: {tmp / 'x.db'}\ntardis:\n  endpoint: {server.url}\n"
        f"  datasets_endpoint: {server.datasets_url}\n  cache_dir: {tmp / 'cache'}\n"
        f"  download_dir: {tmp / 'downloads'}\n  timeout_seconds: 20\n  day_timeout_seconds: 120\n"
    )
    tardis = load_settings(config, env={}).tardis
    db = open_db(tmp / f"{exchange}.db")
    hours = {s: float(VENUES[exchange].interval_hours) for s in symbols}
    order = _days(exchange)
    random.Random(seed).shuffle(order)  # any order of loads ends with the same tables
    for day in order:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        got = extract_range(tardis, exchange, symbols, start, start + timedelta(days=1), "replay")
        load_extracted(db, got, hours, day=day.isoformat())
    return db


def _truth(feed: SampleFeed, exchange: str, symbol: str) -> dict[datetime, tuple[float, float]]:
    days = _days(exchange)
    every = [s for d in [*days, days[-1] + timedelta(days=1)] for s in feed.settlements(exchange, symbol, d)]
    return {t: (rate, hours) for t, rate, hours in every}


@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
@pytest.mark.parametrize("exchange", sorted(served()))
def test_every_stored_settlement_is_what_the_venue_settled(tmp_path, exchange, seed):
    symbols = list(sim(exchange).symbols)
    feed = SampleFeed(seed=seed, interval_seconds=INTERVAL_SECONDS, symbols={exchange: symbols})
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        db = _loaded(server, tmp_path, exchange, symbols, seed)
    first, count = _range(exchange)
    lo = datetime(first.year, first.month, first.day, tzinfo=UTC)
    hi = lo + timedelta(days=count)
    for symbol in symbols:
        truth = _truth(feed, exchange, symbol)
        stored = read_funding(db, exchange, symbol, lo - timedelta(days=1), hi + timedelta(days=1))
        got = {
            t: (rate, hours)
            for t, rate, hours in zip(
                stored["funding_time"].dt.to_pydatetime(),
                stored["rate"],
                stored["interval_hours"],
                strict=True,
            )
        }
        wrong = {t: (v, truth.get(t)) for t, v in got.items() if truth.get(t) != pytest.approx(v, abs=1e-12)}
        assert not wrong, f"{exchange} {symbol}: stored settlements the venue did not settle: {wrong}"
        # Every settlement the data decides is there: all but the first period of the range (its
        # opening is not in the data) and the range's last instant (decided by the next day).
        decidable = {t for t in truth if lo + timedelta(hours=8) < t < hi}
        missing = sorted(decidable - set(got))
        assert not missing, f"{exchange} {symbol}: settlements not stored: {missing}"
