"""`pipelines.run.backfill` split and reordered, against the loopback Tardis server on real SQLite files:
any split or order of the same days ends with the tables of one uninterrupted backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipelines.run import backfill
from pipelines.settings import Transform
from pipelines.store import open_db
from tests.fixtures.tables import differences, snapshot

NOW = datetime(2024, 4, 1, tzinfo=UTC)
D = date.fromisoformat


@pytest.fixture
def cfg(tardis_settings):
    """Short lookback so a few days carry z-scores, and a low threshold so some windows flag."""
    transform = Transform(lookback_windows=6, min_periods=3, z_threshold=1.5, net_carry_apr_floor=0.2)
    return tardis_settings.model_copy(update={"transform": transform})


def run(cfg, path, *ranges, llm=True):
    db = open_db(path)
    try:
        for start, end in ranges:
            backfill(db, cfg, D(start), D(end), pairs=(cfg.pair("BTC"),), source="replay", llm=llm, now=NOW)
    finally:
        db.close()
    return snapshot(path)


@pytest.mark.parametrize(
    "pieces",
    [
        [
            ("2024-03-01", "2024-03-03"),
            ("2024-03-03", "2024-03-05"),
        ],  # the seam window, then the days after it
        [("2024-03-03", "2024-03-05"), ("2024-03-01", "2024-03-03")],  # earlier days last
    ],
    ids=["forward", "backward"],
)
def test_split_backfill_equals_one_backfill(cfg, tmp_path, pieces):
    whole = run(cfg, tmp_path / "whole.db", ("2024-03-01", "2024-03-05"))
    split = run(cfg, tmp_path / "split.db", *pieces)
    assert whole["verdicts"], "the sample should flag some windows"
    assert differences(split, whole) == {}
    seam = [w for w in split["windows"] if "2024-03-03T00:00:00Z" in w]
    assert seam and "settlement missing" not in repr(seam)
