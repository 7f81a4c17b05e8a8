"""Property: whatever the seed's schedule of Gate interval changes, the stored `funding` rows are the
generator's ground truth (time, rate, interval), whichever interval is configured.

Each seed draws its own DOGE_USDT schedule (8 h -> 4 h at a seeded 8 h boundary in 2024-03-01..14,
back to 8 h one to four days later; loopback/gate_sim.py) and its own configured interval. Two days
around each change go through the loopback replay server, `extract_range` and `load_extracted`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopback import gate_sim
from loopback.generator import SampleFeed
from loopback.paths import rng
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import GATE
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted
from pipelines.store import open_db
from tests.fixtures.tardis import pointed_at
from tests.venues.gate.test_gate_end_to_end import stored, truth

SYMBOL = "DOGE_USDT"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("episode", [1, 2])  # the schedule's 8 h -> 4 h change, then its revert
def test_stored_gate_settlements_equal_ground_truth_for_random_schedules(settings, tmp_path, seed, episode):
    feed = SampleFeed(seed=seed, interval_seconds=30, symbols={GATE: [SYMBOL]})
    change = gate_sim.schedule(seed, SYMBOL)[episode][0]
    start = datetime.combine(change.date(), datetime.min.time(), UTC)
    if change.hour == 0:
        start -= timedelta(days=1)  # keep the change inside the range, after its first settlement
    end = start + timedelta(days=2)
    configured = float(rng(seed, "configured", episode).choice([4.0, 8.0]))
    db = open_db(tmp_path / "gate.db")
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        tardis = pointed_at(settings.tardis, server)
        for day in (start, start + timedelta(days=1)):
            got = extract_range(tardis, GATE, [SYMBOL], day, day + timedelta(days=1))
            load_extracted(db, got, {SYMBOL: configured}, day=day.date().isoformat())
    got, frame = stored(db, SYMBOL, start, end)
    expected = truth(feed, SYMBOL, start, end)
    assert {h for _, h in expected.values()} == {4.0, 8.0}
    # Only the range's first settlement (nothing earlier) and last (nothing after) rest on the hint.
    first, last = frame.index.min(), frame.index.max()
    assert frame[frame["evidence"] == "hint"].index.tolist() == [first, last]
    # The first one's interval is unknowable without earlier minutes: the configured one, flagged.
    assert got.pop(first)[0] == expected.pop(first)[0]
    assert got == expected, (seed, episode, configured)
    data = frame[frame["evidence"] == "data"]
    assert (data["warning"].notna() == (data["interval_hours"] != configured)).all()
