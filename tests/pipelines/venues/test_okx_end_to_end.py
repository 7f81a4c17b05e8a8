"""OKX end to end: the loopback Tardis server -> replay and datasets extract -> load -> `funding` table.

Two days around the day the feed's second symbol (ETH) moves from 8 h to 4 h funding, through the
real tardis_dev client. Both sources give the same minute rows, and the settlements derived from them
are the generator's ground truth (rate and interval hours, across the change).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import okx_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.columns import OKX
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db
from pipelines.units import apr
from tests.fixtures.tardis import pointed_at

SYMBOLS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
SEED = 7
SWITCH = okx_sim.switch_day(SEED)
FIRST = datetime(SWITCH.year, SWITCH.month, SWITCH.day, tzinfo=UTC) - timedelta(days=1)
DAYS = [FIRST, FIRST + timedelta(days=1)]


@pytest.fixture(scope="module")
def okx_server(tmp_path_factory):
    feed = SampleFeed(seed=SEED, interval_seconds=10, symbols={OKX: SYMBOLS})
    with start_in_thread(feed, data_dir=tmp_path_factory.mktemp("okx-sample")) as server:
        yield server


@pytest.fixture
def okx_tardis(settings, okx_server):
    return pointed_at(settings.tardis, okx_server)


@pytest.fixture
def loaded(okx_tardis, tmp_path):
    """Both days by both sources, each source into its own database."""
    dbs = {}
    for source in ("replay", "datasets"):
        db = dbs[source] = open_db(tmp_path / f"{source}.db")
        for day in DAYS:
            got = extract_range(okx_tardis, OKX, SYMBOLS, day, day + timedelta(days=1), source)
            assert got.malformed == 0 and len(got.rows) > 2 * 1400
            load_extracted(db, got, dict.fromkeys(SYMBOLS, 8.0), day=day.date().isoformat())
    return dbs


def test_replay_and_datasets_give_the_same_minute_rows(okx_tardis):
    for day in DAYS:
        replay = extract_range(okx_tardis, OKX, SYMBOLS, day, day + timedelta(days=1), "replay")
        datasets = extract_range(okx_tardis, OKX, SYMBOLS, day, day + timedelta(days=1), "datasets")
        assert replay.rows == datasets.rows
        assert {sym for sym, _, _ in replay.rows} == set(SYMBOLS)
        assert all(None not in rec[4:] for _, _, rec in replay.rows)  # every field, index included


def test_the_funding_table_holds_the_generators_settlements(loaded, okx_server):
    end = DAYS[-1] + timedelta(days=1)
    for symbol in SYMBOLS:
        truth = [s for day in DAYS for s in okx_server.feed.settlements(OKX, symbol, day.date())]
        # 00:00 of the first day is decided by minutes before the range: no evidence loaded.
        truth = [s for s in truth if s[0] > FIRST]
        for source, db in loaded.items():
            stored = read_funding(db, OKX, symbol, FIRST, end)
            got = list(
                zip(
                    stored["funding_time"].dt.to_pydatetime(),
                    stored["rate"],
                    stored["interval_hours"],
                    strict=True,
                )
            )
            # the range's end (00:00 after it) is derived too, from the minutes before it
            assert [g for g in got if g[0] < end] == truth, (source, symbol)
            assert (stored["apr"] == apr(stored["rate"], stored["interval_hours"])).all()
    eth = read_funding(loaded["replay"], OKX, "ETH-USDT-SWAP", FIRST, end)
    assert sorted(set(eth["interval_hours"])) == [4.0, 8.0]  # the change is in the data and the table
    predicted = read_funding(loaded["replay"], OKX, "BTC-USDT-SWAP", FIRST, end)["predicted_rate"]
    assert predicted.iloc[1:].notna().all()  # forecast one period ahead, from the loaded minutes


def test_both_sources_store_the_same_minutes_and_funding(loaded):
    end = DAYS[-1] + timedelta(days=1)
    for symbol in SYMBOLS:
        replay, datasets = (read_minutes(loaded[s], OKX, symbol, FIRST, end) for s in ("replay", "datasets"))
        assert len(replay) == 2 * 1440 and replay.equals(datasets)
        f_replay, f_datasets = (
            read_funding(loaded[s], OKX, symbol, FIRST, end) for s in ("replay", "datasets")
        )
        assert f_replay.equals(f_datasets)
