"""OKX end to end: the loopback Tardis server -> replay and datasets extract -> load -> `funding` table.

The feed's second symbol (ETH) lives through the escalation episode the seed draws (8 -> 4 -> 2 -> 1 h,
back to 4 h at :15 with a stale next funding time for a few minutes, then 8 h). Every expected value is
the generator's ground truth (`okx_sim.okx_settled` via `SampleFeed.settlements`). The rule:
pipelines/venues/okx/README.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import okx_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.config.settings import Tardis
from pipelines.core.columns import DERIVATIVE_TICKER, OKX
from pipelines.core.units import apr
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at

SYMBOLS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
SEED = 7
EPISODE = okx_sim.episode(SEED)
FIRST = datetime.fromtimestamp(EPISODE.start, UTC).replace(hour=0) - timedelta(days=1)
LAST = datetime.fromtimestamp(EPISODE.end, UTC).replace(hour=0)
DAYS = [FIRST + timedelta(days=k) for k in range((LAST - FIRST).days + 1)]
WIDTH = len(DERIVATIVE_TICKER)


@pytest.fixture(scope="module")
def okx_server(tmp_path_factory):
    feed = SampleFeed(seed=SEED, interval_seconds=10, symbols={OKX: SYMBOLS})
    with start_in_thread(feed, data_dir=tmp_path_factory.mktemp("okx-sample")) as server:
        yield server


def tardis_in(folder, server):
    """Tardis settings for `server`, caching under `folder`."""
    return pointed_at(Tardis(cache_dir=folder / "cache", download_dir=folder / "dl"), server)


@pytest.fixture(scope="module")
def okx_tardis(okx_server, tmp_path_factory):
    return tardis_in(tmp_path_factory.mktemp("okx-tardis"), okx_server)


@pytest.fixture(scope="module")
def extracts(okx_tardis):
    """Every day of the episode (and the day before) by both sources."""
    return {
        source: [extract_range(okx_tardis, OKX, SYMBOLS, d, d + timedelta(days=1), source) for d in DAYS]
        for source in ("replay", "datasets")
    }


@pytest.fixture(scope="module")
def loaded(extracts, tmp_path_factory):
    """Each source into its own database, configured 8 h."""
    dbs = {}
    for source, days in extracts.items():
        db = dbs[source] = open_db(tmp_path_factory.mktemp(source) / "arbdb.db")
        for day, got in zip(DAYS, days, strict=True):
            assert got.malformed == 0 and len(got.rows) > 2 * 1400
            load_extracted(db, got, dict.fromkeys(SYMBOLS, 8.0), day=day.date().isoformat())
    return dbs


def truth(server, symbol, start=FIRST, end=LAST + timedelta(days=1)):
    """Ground truth settlements in (start, end): 00:00 of the first day needs minutes before it."""
    found = [s for d in DAYS for s in server.feed.settlements(OKX, symbol, d.date())]
    return [s for s in found if start < s[0] < end]


def stored(db, symbol, start=FIRST, end=LAST + timedelta(days=1)):
    frame = read_funding(db, OKX, symbol, start, end)
    return frame.loc[frame["funding_time"] < end].reset_index(drop=True)


def as_tuples(frame):
    times = frame["funding_time"].dt.to_pydatetime()
    return list(zip(times, frame["rate"], frame["interval_hours"], strict=True))


def test_the_episode_is_in_the_demo_range_and_has_every_step():
    hours = [h for _, _, h in _episode_truth()]
    assert datetime(2024, 3, 1, tzinfo=UTC) <= FIRST
    assert datetime(2024, 3, 15, tzinfo=UTC) > LAST
    assert {8.0, 4.0, 2.0, 1.0} <= set(hours)
    assert hours.index(4.0) < hours.index(2.0) < hours.index(1.0)  # escalation in order
    assert EPISODE.revert < EPISODE.stale_until  # the stale next funding time after the revert


def _episode_truth():
    feed = SampleFeed(seed=SEED, interval_seconds=10, symbols={OKX: SYMBOLS})
    return [s for d in DAYS for s in feed.settlements(OKX, "ETH-USDT-SWAP", d.date())]


def test_replay_records_carry_the_settlement_okx_states_and_datasets_the_same_11_fields(extracts, okx_server):
    for replay, datasets in zip(extracts["replay"], extracts["datasets"], strict=True):
        assert [(s, m, r[:WIDTH]) for s, m, r in replay.rows] == datasets.rows
        assert all(len(r) == WIDTH for _, _, r in datasets.rows)  # Tardis' CSV has no stated fields
        assert all(len(r) == WIDTH + 2 for _, _, r in replay.rows)
    # the stated time of each minute is the last settlement before it, its rate the settled one
    rates = {t: rate for t, rate, _ in okx_server.feed.settlements(OKX, "ETH-USDT-SWAP", DAYS[2].date())}
    seen = {r[12]: r[11] for s, _, r in extracts["replay"][2].rows if s == "ETH-USDT-SWAP"}
    for at_us, rate in seen.items():
        at = datetime.fromtimestamp(at_us / 1e6, UTC)
        if at in rates:
            assert rate == rates[at]
    assert len(set(seen) & {int(t.timestamp() * 1e6) for t in rates}) >= len(rates) - 1


def test_replay_stores_the_ground_truth_through_every_switch_stated(loaded, okx_server):
    """Fails on main: the stale 05:00 after the revert made main store the next settlement as 3 h."""
    for symbol in SYMBOLS:
        got = stored(loaded["replay"], symbol)
        assert as_tuples(got) == truth(okx_server, symbol), symbol
        assert (got["apr"] == apr(got["rate"], got["interval_hours"])).all()
        assert (got["stated_rate"] == got["rate"]).all()  # every settlement stated by the feed
        assert set(got["evidence"]) == {"stated"} and got["warning"].isna().all()
        assert set(got["predicted_kind"]) == {"forecast"}
    eth = stored(loaded["replay"], "ETH-USDT-SWAP")
    assert {1.0, 2.0, 4.0, 8.0} <= set(eth["interval_hours"])


def test_datasets_without_statements_give_the_same_settlements_from_the_data(loaded, okx_server):
    """Fails on main: the CSV path has the same stale next funding time."""
    for symbol in SYMBOLS:
        got = stored(loaded["datasets"], symbol)
        assert as_tuples(got) == truth(okx_server, symbol), symbol
        assert got["stated_rate"].isna().all() and set(got["evidence"]) == {"data"}
        assert got["warning"].isna().all()


def test_the_stale_funding_time_is_no_settlement(loaded):
    stale = datetime.fromtimestamp(EPISODE.revert - 15 * 60 + 3600, UTC)  # the hourly time still shown
    minutes = read_minutes(loaded["replay"], OKX, "ETH-USDT-SWAP", stale - timedelta(hours=1), stale)
    assert (minutes["funding_timestamp"] == stale).any()  # the feed did show it
    for db in loaded.values():
        assert stale not in set(stored(db, "ETH-USDT-SWAP")["funding_time"].dt.to_pydatetime())


def test_a_first_day_without_history_takes_the_interval_from_the_evidence(okx_tardis, okx_server, tmp_path):
    """Fails on main: with no earlier minutes main took 08:00's interval from the next rollover (4 h).

    The escalation's first day alone: its first settlement (08:00, 8 h) is followed by 4 h ones."""
    day = datetime.fromtimestamp(EPISODE.start, UTC).replace(hour=0)
    expected = [s for s in okx_server.feed.settlements(OKX, "ETH-USDT-SWAP", day.date()) if s[0] > day]
    assert expected[0][2] != expected[1][2]  # the trap: the next interval differs from the first's
    for source, evidence in (("replay", "stated"), ("datasets", "data")):
        db = open_db(tmp_path / f"{source}.db")
        got = extract_range(okx_tardis, OKX, ["ETH-USDT-SWAP"], day, day + timedelta(days=1), source)
        load_extracted(db, got, {"ETH-USDT-SWAP": 8.0}, day=day.date().isoformat())
        first = stored(db, "ETH-USDT-SWAP", day, day + timedelta(days=1)).iloc[:1]
        assert as_tuples(first) == expected[:1], source
        # 8 h is the only OKX interval as long as the minutes show 08:00 (from 00:00): data, no hint
        assert first["evidence"].tolist() == [evidence] and first["warning"].isna().all()


class MisstatingFeed(SampleFeed):
    """The sample feed, but OKX states `WRONG` as the rate it settled at `AT`."""

    AT = datetime.fromtimestamp(EPISODE.start, UTC) + timedelta(hours=4)
    WRONG = "0.00123"

    def _symbol_lines(self, sd):
        local, lines = super()._symbol_lines(sd)
        mark = f'"prevFundingTime":"{int(self.AT.timestamp() * 1000)}","settFundingRate":"'
        out = []
        for line in lines:
            if mark in line:
                head, tail = line.split(mark)
                line = head + mark + self.WRONG + tail[tail.index('"') :]
            out.append(line)
        return local, out


def test_a_stated_rate_that_differs_from_the_inferred_one_wins_with_a_warning(tmp_path):
    """Fails on main: main never read the stated rate, so it neither stored it nor warned."""
    feed = MisstatingFeed(seed=SEED, interval_seconds=10, symbols={OKX: SYMBOLS})
    day = MisstatingFeed.AT.replace(hour=0)
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        tardis = tardis_in(tmp_path, server)
        got = extract_range(tardis, OKX, ["ETH-USDT-SWAP"], day, day + timedelta(days=1), "replay")
        truth_rate = {t: r for t, r, _ in server.feed.settlements(OKX, "ETH-USDT-SWAP", day.date())}
    db = open_db(tmp_path / "arbdb.db")
    load_extracted(db, got, {"ETH-USDT-SWAP": 8.0}, day=day.date().isoformat())
    row = (
        stored(db, "ETH-USDT-SWAP", day, day + timedelta(days=1))
        .set_index("funding_time")
        .loc[MisstatingFeed.AT]
    )
    assert row["rate"] == row["stated_rate"] == float(MisstatingFeed.WRONG)  # the venue's word wins
    assert row["evidence"] == "stated"
    shown = truth_rate[MisstatingFeed.AT]  # what the feed showed as fundingRate for that period
    assert f"{shown:.10g}" in row["warning"] and MisstatingFeed.WRONG.rstrip("0") in row["warning"]
    assert row["warning"].startswith(f"OKX ETH-USDT-SWAP {MisstatingFeed.AT:%Y-%m-%d %H:%M}")
