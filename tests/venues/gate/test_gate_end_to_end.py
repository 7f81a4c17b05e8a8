"""Gate end to end: the loopback Tardis server -> replay -> load -> `funding`, across an interval change.

The sample feed's DOGE_USDT moves from 8 h to 4 h funding at a seeded 8 h boundary (2024-03-12
16:00 for seed 7; loopback/gate_sim.py); BTC_USDT stays at 8 h. Three days around the change are
replayed through the real tardis_dev client and loaded with `load_extracted`, once with DOGE
configured 8 h (a 4 h contract configured as 8 h after the change) and once configured 4 h (an 8 h
contract configured as 4 h before it). Either way the stored settlements are the generator's ground
truth (time, rate, interval from its simulated state): the configuration is only a hint.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import gate_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import GATE
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at

SYMBOLS = ["BTC_USDT", "DOGE_USDT"]
FEED = SampleFeed(seed=7, interval_seconds=10, symbols={GATE: SYMBOLS})
SWITCH = gate_sim.switch_time(7)
START = datetime.combine(SWITCH.date() - timedelta(days=1), datetime.min.time(), UTC)
DAYS = [START + timedelta(days=n) for n in range(3)]
END = DAYS[-1] + timedelta(days=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start_in_thread(FEED, data_dir=tmp_path_factory.mktemp("gate-sample")) as handle:
        yield handle


@pytest.fixture
def tardis(settings, server):
    return pointed_at(settings.tardis, server)


def load(tardis, path, doge_hours: float):
    """Every day of both contracts into a fresh database, DOGE configured `doge_hours`."""
    db = open_db(path)
    for day in DAYS:
        got = extract_range(tardis, GATE, SYMBOLS, day, day + timedelta(days=1))
        assert got.malformed == 0 and got.messages > 0
        load_extracted(db, got, {"BTC_USDT": 8.0, "DOGE_USDT": doge_hours}, day=day.date().isoformat())
    return db


def truth(feed: SampleFeed, symbol: str, start: datetime, end: datetime) -> dict:
    """Ground truth in (start, end]: the first midnight's evidence lies before the range."""
    days = {(start + timedelta(days=n)).date() for n in range((end - start).days + 1)}
    rows = [row for d in sorted(days) for row in feed.settlements(GATE, symbol, d)]
    return {t: (rate, hours) for t, rate, hours in rows if start < t <= end}


def stored(db, symbol: str, start: datetime, end: datetime):
    frame = read_funding(db, GATE, symbol, start, end + timedelta(minutes=1))
    assert (frame["apr"] == frame["rate"] * 8760 / frame["interval_hours"]).all()
    frame = frame[frame["funding_time"] > start]
    got = dict(
        zip(
            frame["funding_time"].dt.to_pydatetime(),
            zip(frame["rate"], frame["interval_hours"], strict=True),
            strict=True,
        )
    )
    return got, frame.set_index(frame["funding_time"].dt.to_pydatetime())


def test_the_range_holds_the_interval_change():
    assert SWITCH.hour in (0, 8, 16) and START.date() < SWITCH.date() < END.date()
    assert datetime(2024, 3, 2, tzinfo=UTC) <= SWITCH <= datetime(2024, 3, 14, tzinfo=UTC)
    hours = {h for _, (_, h) in truth(FEED, "DOGE_USDT", START, END).items()}
    assert hours == {4.0, 8.0}


def check_evidence(frame, symbol: str):
    """The first settlement has no earlier one in the range and the last no minutes after it: both
    are hints with a warning; every other one rests on the data."""
    first, last = frame.index.min(), frame.index.max()
    assert frame.loc[first, "evidence"] == "hint" and "no earlier settlement" in frame.loc[first, "warning"]
    assert frame.loc[last, "evidence"] == "hint" and symbol in frame.loc[last, "warning"]
    assert set(frame.drop(index=[first, last])["evidence"]) == {"data"}


def test_a_4h_contract_configured_as_8h_stores_the_4h_settlements_the_venue_paid(tardis, tmp_path):
    db = load(tardis, tmp_path / "gate.db", doge_hours=8.0)
    for symbol in SYMBOLS:
        got, frame = stored(db, symbol, START, END)
        assert got == truth(FEED, symbol, START, END), symbol
        check_evidence(frame, symbol)
    _, frame = stored(db, "DOGE_USDT", START, END)
    four = frame[(frame["interval_hours"] == 4.0) & (frame["evidence"] == "data")]
    assert len(four) >= 6
    assert all("interval 8 h configured, data shows 4 h" in w for w in four["warning"])
    eights = frame[(frame["interval_hours"] == 8.0) & (frame["evidence"] == "data")]
    assert len(eights) >= 2 and eights["warning"].isna().all()
    # The window (SWITCH + 8 h - 8 h, SWITCH + 8 h] sums two 4 h settlements, as the venue paid.
    window = {
        t: r
        for t, (r, _) in truth(FEED, "DOGE_USDT", START, END).items()
        if SWITCH < t <= SWITCH + timedelta(hours=8)
    }
    assert len(window) == 2
    assert frame.loc[list(window), "rate"].sum() == pytest.approx(sum(window.values()), abs=1e-12)


def test_an_8h_contract_configured_as_4h_invents_no_settlements(tardis, tmp_path):
    db = load(tardis, tmp_path / "gate.db", doge_hours=4.0)
    got, frame = stored(db, "DOGE_USDT", START, END)
    assert got == truth(FEED, "DOGE_USDT", START, END)
    check_evidence(frame, "DOGE_USDT")
    before = frame[(frame.index < SWITCH) & (frame["evidence"] == "data")]
    assert len(before) >= 2 and set(before["interval_hours"]) == {8.0}
    assert all("interval 4 h configured, data shows 8 h" in w for w in before["warning"])
    after = frame[(frame.index > SWITCH + timedelta(hours=4)) & (frame["evidence"] == "data")]
    assert len(after) >= 6 and after["warning"].isna().all()
