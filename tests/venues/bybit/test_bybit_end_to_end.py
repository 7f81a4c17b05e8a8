"""Bybit end to end: the loopback Tardis server -> extract (replay and datasets) -> load -> `funding`.

The sample feed's SOL moves from 8 h to 2 h funding at 08:00 of a seeded day (2024-03-04 for seed
7); BTC stays at 8 h. Three days around the change are extracted by both sources through the real
tardis_dev client, loaded with `load_extracted`, and the stored settlements are the generator's
ground truth (rendered from its state, not from the lines): rate and interval per settlement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loopback import bybit_sim
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import BYBIT
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at

SYMBOLS = ["BTCUSDT", "SOLUSDT"]
FEED = SampleFeed(seed=7, interval_seconds=10, symbols={BYBIT: SYMBOLS})
SWITCH = datetime.fromtimestamp(bybit_sim.switch_ms(7) / 1000, UTC)
START = datetime.combine(SWITCH.date() - timedelta(days=1), datetime.min.time(), UTC)
DAYS = [START + timedelta(days=n) for n in range(3)]
END = DAYS[-1] + timedelta(days=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with start_in_thread(FEED, data_dir=tmp_path_factory.mktemp("bybit-sample")) as handle:
        yield handle


@pytest.fixture
def tardis(settings, server):
    return pointed_at(settings.tardis, server)


def load(tardis, path, source: str):
    """Every day of both symbols into a fresh database; returns it and the extracts."""
    db, extracts = open_db(path), []
    for day in DAYS:
        got = extract_range(tardis, BYBIT, SYMBOLS, day, day + timedelta(days=1), source)
        assert got.malformed == 0 and got.messages > 0
        load_extracted(db, got, {s: 8.0 for s in SYMBOLS}, day=day.date().isoformat())
        extracts.append(got)
    return db, extracts


def truth(symbol: str) -> dict:
    """Ground-truth settlements after the first midnight (its evidence lies before the range) up to
    the midnight ending the range (decided by the range's last minute)."""
    days = [d.date() for d in DAYS] + [END.date()]
    rows = [row for d in days for row in FEED.settlements(BYBIT, symbol, d)]
    return {t: (rate, hours) for t, rate, hours in rows if START < t <= END}


def stored(db, symbol: str) -> dict:
    frame = read_funding(db, BYBIT, symbol, START, END + timedelta(minutes=1))
    assert (frame["apr"] == frame["rate"] * 8760 / frame["interval_hours"]).all()
    return dict(
        zip(
            frame["funding_time"].dt.to_pydatetime(),
            zip(frame["rate"], frame["interval_hours"], strict=True),
            strict=True,
        )
    )


def test_the_range_holds_the_interval_change():
    assert SWITCH.hour == 8 and START.date() < SWITCH.date() < END.date()
    assert date(2024, 3, 2) <= SWITCH.date() <= date(2024, 3, 11)


def test_replay_and_datasets_load_the_ground_truth_settlements_and_the_same_minutes(tardis, tmp_path):
    replay_db, replay = load(tardis, tmp_path / "replay.db", "replay")
    datasets_db, datasets = load(tardis, tmp_path / "datasets.db", "datasets")
    for ours, theirs in zip(replay, datasets, strict=True):
        assert len(ours.rows) > 2 * 1400
        assert ours.rows == theirs.rows
    for symbol in SYMBOLS:
        expected = truth(symbol)
        assert stored(replay_db, symbol) == expected, symbol
        assert stored(datasets_db, symbol) == expected, symbol
        minutes = read_minutes(replay_db, BYBIT, symbol, START, END)
        assert minutes.equals(read_minutes(datasets_db, BYBIT, symbol, START, END))
        assert len(minutes) == 3 * 1440
    sol = truth("SOLUSDT")
    assert {h for t, (_, h) in sol.items() if t <= SWITCH} == {8.0}
    assert {h for t, (_, h) in sol.items() if t > SWITCH} == {2.0}
    assert len(sol) == 2 + 2 + 7 + 12 + 1  # 03-03 08, 16; 03-04 00, 08 (8 h), 10..22; 03-05 x12; 03-06 00
    assert {h for _, h in truth("BTCUSDT").values()} == {8.0}
