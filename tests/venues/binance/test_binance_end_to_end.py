"""binance-futures end to end: the loopback Tardis server -> extract (replay and datasets, through the
real tardis_dev client) -> normalize -> load -> the `funding` table holds the generator's
ground-truth settlements, rate and interval, across the seeded move from 8 h to 4 h funding."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from loopback import binance_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.config.settings import load_settings
from pipelines.core.columns import BINANCE
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db

SEED = 7
MOVED, SWITCH_MS = binance_sim.switch(SEED)
SWITCH = datetime.fromtimestamp(SWITCH_MS / 1000, UTC)
FIRST = datetime(SWITCH.year, SWITCH.month, SWITCH.day, tzinfo=UTC)  # the day of the move, and the next
DAYS = (FIRST, FIRST + timedelta(days=1))
OTHER = next(s for s in binance_sim.SYMBOLS if s != MOVED)


@pytest.fixture(scope="module")
def binance_server(tmp_path_factory):
    feed = SampleFeed(seed=SEED, interval_seconds=10, symbols={BINANCE: [MOVED, OTHER]})
    with start_in_thread(feed, data_dir=tmp_path_factory.mktemp("binance-sample")) as server:
        yield server


@pytest.fixture(scope="module")
def loaded(binance_server, tmp_path_factory):
    """Both days loaded by each source into its own database: {source: (db, [extracts])}."""
    tmp = tmp_path_factory.mktemp("binance-e2e")
    config = tmp / "config.yaml"
    config.write_text(
        f"database: {tmp / 'x.db'}\ntardis:\n  endpoint: {binance_server.url}\n"
        f"  datasets_endpoint: {binance_server.datasets_url}\n  cache_dir: {tmp / 'cache'}\n"
        f"  download_dir: {tmp / 'downloads'}\n  timeout_seconds: 10\n  day_timeout_seconds: 60\n"
    )
    tardis = load_settings(config, env={}).tardis
    out = {}
    for source in ("replay", "datasets"):
        db, extracts = open_db(tmp / f"{source}.db"), []
        for day in DAYS:
            got = extract_range(tardis, BINANCE, [MOVED, OTHER], day, day + timedelta(days=1), source)
            load_extracted(db, got, {MOVED: 8.0, OTHER: 8.0}, day=day.date().isoformat())
            extracts.append(got)
        out[source] = (db, extracts)
    return out


def truth(feed: SampleFeed, symbol: str) -> list[tuple]:
    """Ground-truth settlements the two loaded days can decide: from 08:00 of the first day (the
    first minute opens its period) to midnight after the last."""
    days = [d.date() for d in DAYS] + [(DAYS[-1] + timedelta(days=1)).date()]
    every = [s for d in days for s in feed.settlements(BINANCE, symbol, d)]
    lo, hi = FIRST + timedelta(hours=8), DAYS[-1] + timedelta(days=1)
    return [(t, rate, hours) for t, rate, hours in every if lo <= t <= hi]


@pytest.mark.parametrize("source", ["replay", "datasets"])
def test_the_funding_table_holds_the_ground_truth_across_the_interval_change(binance_server, loaded, source):
    db, _ = loaded[source]
    for symbol in (MOVED, OTHER):
        stored = read_funding(db, BINANCE, symbol, FIRST - timedelta(days=1), DAYS[-1] + timedelta(days=2))
        got = list(
            zip(
                stored["funding_time"].dt.to_pydatetime(),
                stored["rate"],
                stored["interval_hours"],
                strict=True,
            )
        )
        expected = truth(binance_server.feed, symbol)
        assert got == expected, (source, symbol)
        assert (stored["apr"] == stored["rate"] * 8760 / stored["interval_hours"]).all()
    hours = {t: h for t, _, h in truth(binance_server.feed, MOVED)}
    assert hours[SWITCH] == 8.0 and hours[SWITCH + timedelta(hours=4)] == 4.0  # the move is in range
    assert {h for _, _, h in truth(binance_server.feed, OTHER)} == {8.0}


def test_replay_and_datasets_give_the_same_minute_rows(loaded):
    (replay_db, replay), (datasets_db, datasets) = loaded["replay"], loaded["datasets"]
    for by_replay, by_datasets in zip(replay, datasets, strict=True):
        assert by_replay.malformed == by_datasets.malformed == 0
        assert len(by_replay.rows) == 2 * 1440
        assert by_replay.rows == by_datasets.rows
    for symbol in (MOVED, OTHER):
        a = read_minutes(replay_db, BINANCE, symbol, DAYS[0], DAYS[-1] + timedelta(days=1))
        b = read_minutes(datasets_db, BINANCE, symbol, DAYS[0], DAYS[-1] + timedelta(days=1))
        assert (
            a.equals(b) and a[["mark_price", "index_price", "last_price", "funding_rate"]].notna().all().all()
        )


def test_replay_asks_every_channel_with_lower_case_symbols(binance_server, loaded):
    feeds = [r for r in binance_server.requests if r.path.endswith(f"/data-feeds/{BINANCE}")]
    assert feeds and all(r.status == 200 for r in feeds)
    filters = json.loads(feeds[0].query["filters"])
    assert {f["channel"] for f in filters} == {"markPrice", "ticker", "openInterest"}
    assert all(f["symbols"] == sorted([MOVED.lower(), OTHER.lower()]) for f in filters)
    # The server, like Binance's stream names, knows the lower-case spelling only.
    upper = json.dumps([{"channel": "markPrice", "symbols": [MOVED]}])
    url = f"{binance_server.url}/data-feeds/{BINANCE}?from={FIRST:%Y-%m-%d}&filters={quote(upper)}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 404


@pytest.mark.parametrize("configured", [8.0, 1.0])
def test_loading_the_days_in_reverse_order_gives_the_same_funding_table(loaded, tmp_path, configured):
    db, extracts = loaded["replay"]
    again = open_db(tmp_path / "reverse.db")
    for got in reversed(extracts):
        load_extracted(again, got, {MOVED: configured, OTHER: configured}, day=got.start.date().isoformat())
    for symbol in (MOVED, OTHER):
        span = (FIRST - timedelta(days=1), DAYS[-1] + timedelta(days=2))
        assert read_funding(again, BINANCE, symbol, *span).equals(read_funding(db, BINANCE, symbol, *span))
