"""Bybit's automatic switch to hourly funding at the cap and its revert, end to end
(pipelines/venues/bybit/README.md).

The sample feed's ETH (4 h) settles at the cap at a seeded funding time, pays hourly, and goes back
to 4 h after a seeded hourly settlement; each new schedule reaches the feed minutes late (a stale
`nextFundingTime`). The days around the episode are served by the loopback Tardis server, extracted
through the real tardis_dev client, loaded with `load_extracted`, and the stored `funding` rows must
be the generator's ground truth (time, rate, interval, from its simulated state): nothing at a time
that was only shown, nothing missing, every settlement decided by the data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import bybit_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.config.settings import Tardis
from pipelines.core.columns import BYBIT
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at

SYMBOL = "ETHUSDT"
HOUR = timedelta(hours=1)


def moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def span(seed: int) -> tuple[datetime, datetime]:
    """Midnight of the day before the cap to the midnight after the revert's day."""
    ep = bybit_sim.episode(seed)
    start = datetime.combine(moment(ep.cap_ms).date() - timedelta(days=1), datetime.min.time(), UTC)
    end = datetime.combine(moment(ep.revert_ms).date() + timedelta(days=1), datetime.min.time(), UTC)
    return start, end


def load_episode(seed: int, path) -> tuple[dict, dict]:
    """(stored, ground truth) {funding time: (rate, interval hours)} after loading the episode's days
    from a loopback server serving seed `seed`; also checks every stored row is evidence "data"."""
    feed = SampleFeed(seed=seed, interval_seconds=10, symbols={BYBIT: [SYMBOL]})
    start, end = span(seed)
    db = open_db(path)
    with start_in_thread(feed, data_dir=path.parent / f"sample-{seed}") as server:
        cache = {"cache_dir": path.parent / f"cache-{seed}", "download_dir": path.parent / f"dl-{seed}"}
        tardis = pointed_at(Tardis(**cache), server)  # the defaults, on the loopback server
        day = start
        while day < end:
            got = extract_range(tardis, BYBIT, [SYMBOL], day, day + timedelta(days=1), "replay")
            assert got.malformed == 0 and got.messages > 0
            load_extracted(db, got, {SYMBOL: 8.0}, day=day.date().isoformat())
            day += timedelta(days=1)
    frame = read_funding(db, BYBIT, SYMBOL, start, end + timedelta(minutes=1))
    assert set(frame["evidence"]) == {"data"} and frame["warning"].isna().all()
    assert set(frame["predicted_kind"]) == {"estimate"}  # V5: the rate shown is a running estimate
    assert (frame["apr"] == frame["rate"] * 8760 / frame["interval_hours"]).all()
    stored = dict(
        zip(
            frame["funding_time"].dt.to_pydatetime(),
            zip(frame["rate"], frame["interval_hours"], strict=True),
            strict=True,
        )
    )
    days = [(start + timedelta(days=n)).date() for n in range((end - start).days + 1)]
    rows = [row for d in days for row in feed.settlements(BYBIT, SYMBOL, d)]
    truth = {t: (rate, hours) for t, rate, hours in rows if start < t <= end}
    return stored, truth


@pytest.fixture(scope="module")
def seed7(tmp_path_factory):
    return load_episode(7, tmp_path_factory.mktemp("bybit-episode") / "db.sqlite")


def test_the_seed_7_episode_lies_in_the_demo_range():
    ep = bybit_sim.episode(7)
    cap, revert = moment(ep.cap_ms), moment(ep.revert_ms)
    assert cap.hour % 4 == 0 and revert.hour % 4 == 0 and cap < revert
    assert datetime(2024, 3, 1, tzinfo=UTC) < cap < revert < datetime(2024, 3, 14, tzinfo=UTC)
    assert 60_000 <= ep.switch_lag_ms <= 240_000 and 16 * 60_000 <= ep.revert_lag_ms <= 19 * 60_000


def test_stored_funding_is_the_ground_truth_through_the_episode(seed7):
    stored, truth = seed7
    assert stored == truth


def test_the_switch_to_hourly_at_the_cap(seed7):
    """The cap settlement pays 4 h at the cap; the next one, an hour later, pays 1 h; the old 4 h
    schedule's next time (cap + 4 h), shown for a few minutes, is stored as the hourly settlement it
    later really is, with 1 h."""
    stored, truth = seed7
    cap = moment(bybit_sim.episode(7).cap_ms)
    assert stored[cap] == truth[cap] == (bybit_sim.CAP, 4.0)
    assert stored[cap + HOUR][1] == 1.0 and stored[cap + HOUR] == truth[cap + HOUR]
    assert stored[cap + 4 * HOUR] == truth[cap + 4 * HOUR] and truth[cap + 4 * HOUR][1] == 1.0


def test_the_revert_to_4_h_with_the_hourly_next_time_shown_for_minutes(seed7):
    """After the revert settlement R the feed still shows R + 1 h for 16-19 minutes: R + 1 h never
    settles, and R + 4 h pays 4 h (main stored 3 h, measured from the abandoned R + 1 h)."""
    stored, truth = seed7
    revert = moment(bybit_sim.episode(7).revert_ms)
    assert revert + HOUR not in stored and revert + HOUR not in truth
    assert stored[revert + 4 * HOUR] == truth[revert + 4 * HOUR]
    assert truth[revert + 4 * HOUR][1] == 4.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_episodes_store_the_ground_truth(seed, tmp_path):
    """Property: whatever day, hour, length and lags the seed draws, stored funding = ground truth."""
    stored, truth = load_episode(seed, tmp_path / "db.sqlite")
    assert stored == truth
    revert = moment(bybit_sim.episode(seed).revert_ms)
    assert truth[revert + 4 * HOUR][1] == 4.0


def stored_rows(db, start: datetime, end: datetime, symbol: str = SYMBOL) -> dict:
    frame = read_funding(db, BYBIT, symbol, start, end)
    return {row.funding_time.to_pydatetime(): row for row in frame.itertuples()}


def test_a_history_starting_at_a_funding_time_stores_a_hint_until_the_earlier_minutes_arrive(tmp_path):
    """The first load starts at 04:00 (as a scheduled window does): ETH's 08:00 period ran at 04:00,
    so 4 or 8 h (08:00 lies on both grids): stored as a hint, 4 h as the next time shown (12:00) says,
    with a warning (main: 4 h as a fact). Loading 00:00-04:00 shows 04:00 settle: 4 h from the data."""
    feed = SampleFeed(seed=7, interval_seconds=10, symbols={BYBIT: [SYMBOL]})
    day = datetime(2024, 3, 5, tzinfo=UTC)
    cut, end = day + 4 * HOUR, day + timedelta(days=1)
    truth = {t: (rate, hours) for t, rate, hours in feed.settlements(BYBIT, SYMBOL, day.date())}
    db = open_db(tmp_path / "db.sqlite")
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        cache = {"cache_dir": tmp_path / "cache", "download_dir": tmp_path / "dl"}
        tardis = pointed_at(Tardis(**cache), server)
        load_extracted(db, extract_range(tardis, BYBIT, [SYMBOL], cut, end, "replay"), {SYMBOL: 8.0})
        first = stored_rows(db, day, end + HOUR)
        load_extracted(db, extract_range(tardis, BYBIT, [SYMBOL], day, cut, "replay"), {SYMBOL: 8.0})
        then = stored_rows(db, day, end + HOUR)
    eight = day + 8 * HOUR
    assert sorted(first) == [t for t in truth if t > cut] + [end]
    assert sorted(then) == [t for t in truth if t > day] + [end]
    assert (first[eight].rate, first[eight].interval_hours) == truth[eight] == (truth[eight][0], 4.0)
    assert first[eight].evidence == "hint"
    assert first[eight].warning == (
        "Bybit ETHUSDT 2024-03-05 08:00: interval 4 h assumed, the data shows no earlier settlement;"
        " could be 4/8 h"
    )
    assert {r.evidence for t, r in first.items() if t != eight} == {"data"}
    ends = {t: (r.rate, r.interval_hours) for t, r in then.items() if t < end}
    assert ends == {t: truth[t] for t in truth if t > day}
    assert {r.evidence for r in then.values()} == {"data"} and then[eight].warning is None


def test_before_v5_the_stored_predicted_rate_is_a_forecast(tmp_path):
    """instrument_info days (2022-06): settlements equal the ground truth, `predicted_kind` forecast
    (the rate for T was fixed a period ahead; `predicted_funding_rate_e6` forecast the next)."""
    feed = SampleFeed(seed=7, interval_seconds=10, symbols={BYBIT: ["BTCUSDT"]})
    start = datetime(2022, 6, 1, tzinfo=UTC)
    end = start + timedelta(days=2)
    db = open_db(tmp_path / "db.sqlite")
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        cache = {"cache_dir": tmp_path / "cache", "download_dir": tmp_path / "dl"}
        tardis = pointed_at(Tardis(**cache), server)
        for n in range(2):
            got = extract_range(
                tardis, BYBIT, ["BTCUSDT"], start + n * 24 * HOUR, start + (n + 1) * 24 * HOUR
            )
            load_extracted(db, got, {"BTCUSDT": 8.0})
    rows = stored_rows(db, start, end + timedelta(minutes=1), "BTCUSDT")
    truth = [
        row for n in range(3) for row in feed.settlements(BYBIT, "BTCUSDT", (start + n * 24 * HOUR).date())
    ]
    assert {t: (r.rate, r.interval_hours) for t, r in rows.items()} == {
        t: (rate, h) for t, rate, h in truth if start < t <= end
    }
    assert {r.predicted_kind for r in rows.values()} == {"forecast"}
    assert {r.evidence for r in rows.values()} == {"data"}
    # 16:00 on the 1st onwards: the forecast shown during the period before (none for the first).
    assert all(r.predicted_rate == r.predicted_rate for t, r in rows.items() if t > start + 8 * HOUR)


def test_a_gap_in_the_history_makes_the_next_interval_a_hint(tmp_path):
    """DOGE (hourly), loaded as 00:00-11:20 and 12:40-24:00: the feed last showed 12:00 at 11:19 and,
    after the gap, first shows a time at 13:00 (the next change; a replay starting mid-period knows no
    funding time until then). 12:00 and 13:00 are unknown: nothing stored. 14:00 paid 1 h or 2 h:
    a hint with 1 h, the spacing to the next time shown, and a warning (main: 2 h as a fact)."""
    feed = SampleFeed(seed=7, interval_seconds=10, symbols={BYBIT: ["DOGEUSDT"]})
    day = datetime(2024, 3, 5, tzinfo=UTC)
    gap = (day + timedelta(hours=11, minutes=20), day + timedelta(hours=12, minutes=40))
    truth = {t: (rate, hours) for t, rate, hours in feed.settlements(BYBIT, "DOGEUSDT", day.date())}
    db = open_db(tmp_path / "db.sqlite")
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        cache = {"cache_dir": tmp_path / "cache", "download_dir": tmp_path / "dl"}
        tardis = pointed_at(Tardis(**cache), server)
        for start, end in ((day, gap[0]), (gap[1], day + timedelta(days=1))):
            got = extract_range(tardis, BYBIT, ["DOGEUSDT"], start, end, "replay")
            load_extracted(db, got, {"DOGEUSDT": 8.0})
    rows = stored_rows(db, day, day + timedelta(days=1), "DOGEUSDT")
    hidden = {day + 12 * HOUR, day + 13 * HOUR}
    assert sorted(rows) == sorted(t for t in truth if t > day and t not in hidden)
    assert {t: (r.rate, r.interval_hours) for t, r in rows.items()} == {t: truth[t] for t in rows}
    fourteen = day + 14 * HOUR
    assert {t for t, r in rows.items() if r.evidence == "hint"} == {fourteen}
    assert rows[fourteen].warning == (
        "Bybit DOGEUSDT 2024-03-05 14:00: interval 1 h assumed, the data has a gap across 12:00;"
        " could be 1/2 h"
    )
