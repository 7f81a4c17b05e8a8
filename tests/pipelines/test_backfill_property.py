"""The proof that splits and orders do not matter: hypothesis draws a random split of a few days into
backfills, maybe an overlapping extra backfill and some scheduled windows (`run_window`), runs them
in a random order on a fresh SQLite file against the loopback Tardis server, and compares every
table with one uninterrupted backfill of the same days."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.config.settings import Transform, load_settings
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.window import windows_between
from pipelines.flows.backfill import backfill
from pipelines.flows.run import run_window
from pipelines.store import open_db
from tests.conftest import SMALL_CONFIG
from tests.fixtures.tables import differences, snapshot
from tests.fixtures.tardis import pointed_at

START = date(2024, 3, 1)
DAYS = 4
NOW = datetime(2024, 4, 1, tzinfo=UTC)
# Scheduled windows read 5 minutes into the next day, so only windows before the last day qualify.
SCHEDULABLE = len(
    windows_between(*(datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=d) for d in (0, DAYS - 1)))
)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    """One pair on a sparse feed (one update a minute), short lookbacks so z-scores and flags occur."""
    tmp = tmp_path_factory.mktemp("property")
    feed = SampleFeed(seed=11, interval_seconds=60, symbols={GATE: ["BTC_USDT"], BITFINEX: ["BTCF0:USTF0"]})
    config = tmp / "config.yaml"
    config.write_text(SMALL_CONFIG.format(db=tmp / "unused.db", tmp=tmp))
    base = load_settings(config, env={})
    with start_in_thread(feed, data_dir=tmp / "tardis") as server:
        tardis = pointed_at(base.tardis, server)
        transform = Transform(lookback_windows=6, min_periods=3, z_threshold=1.5, net_carry_apr_floor=0.2)
        yield base.model_copy(update={"tardis": tardis, "transform": transform, "pairs": [base.pair("BTC")]})


def execute(cfg, path: Path, plan) -> dict:
    db = open_db(path)
    pair = cfg.pair("BTC")
    try:
        for op in plan:
            if op[0] == "backfill":
                first, last = (START + timedelta(days=d) for d in op[1:])
                backfill(db, cfg, first, last, pairs=(pair,), source="replay", llm=True, now=NOW)
            else:
                window = windows_between(datetime(2024, 3, 1, tzinfo=UTC), NOW)[op[1]]
                run_window(cfg, db, pair, window, run_id=f"scheduled:{op[1]}", now=NOW, llm=True)
    finally:
        db.close()
    return snapshot(path)


@pytest.fixture(scope="module")
def whole(cfg, tmp_path_factory):
    return execute(cfg, tmp_path_factory.mktemp("whole") / "arbdb.db", [("backfill", 0, DAYS)])


@st.composite
def plans(draw):
    """A split of the days into backfills, maybe one overlapping backfill and scheduled windows,
    in any order."""
    cuts = sorted(draw(st.sets(st.integers(1, DAYS - 1))))
    bounds = [0, *cuts, DAYS]
    ops = [("backfill", a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    ops += draw(
        st.lists(
            st.tuples(st.integers(0, DAYS - 1), st.integers(1, DAYS))
            .filter(lambda t: t[0] < t[1])
            .map(lambda t: ("backfill", *t)),
            max_size=1,
        )
    )
    ops += [("window", i) for i in draw(st.sets(st.integers(0, SCHEDULABLE - 1), max_size=2))]
    return draw(st.permutations(ops))


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans())
def test_any_split_and_order_equals_one_backfill(cfg, whole, plan):
    assert whole["verdicts"] and whole["windows"], "the sample should flag some windows"
    with tempfile.TemporaryDirectory() as tmp:
        got = execute(cfg, Path(tmp) / "arbdb.db", plan)
    assert differences(got, whole) == {}, plan
