"""`flows.backfill.backfill` split and reordered, against the loopback Tardis server on real SQLite files:
any split or order of the same days ends with the tables of one uninterrupted backfill."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from pipelines.config.settings import Transform
from pipelines.flows.backfill import backfill
from pipelines.store import open_db
from tests.fixtures.llm import online_settings
from tests.fixtures.llm_server import Reply, verdicts_json
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


def test_concurrent_backfills_leave_verdicts_for_the_current_features(cfg, llm_server, tmp_path):
    """Backfill A analyses its windows and is held at the gateway while backfill B, on the same
    file, loads the days before and recomputes A's windows (new z-scores, new hashes) and analyses
    them. When A's reply arrives its verdicts are for features the windows no longer have."""
    online = online_settings(cfg, llm_server, timeout_seconds=60.0, max_attempts=1)
    whole = run(online, tmp_path / "whole.db", ("2024-03-01", "2024-03-05"))
    arrived, release = threading.Event(), threading.Event()

    def held(ids: list[str]) -> str:
        arrived.set()
        release.wait(60)
        return verdicts_json(ids)

    llm_server.script(Reply(content=held))
    path = tmp_path / "shared.db"
    a = threading.Thread(target=run, args=(online, path, ("2024-03-03", "2024-03-05")))
    a.start()
    try:
        assert arrived.wait(60), "backfill A never reached the gateway"
        run(online, path, ("2024-03-01", "2024-03-03"))  # backfill B, while A waits for its reply
    finally:
        release.set()
        a.join(60)
    got = snapshot(path)
    assert whole["verdicts"]
    assert differences(got, whole) == {}
    hashes = {(w[0], w[2]): w[-1] for w in got["windows"]}  # pair, window_end: features_hash
    assert all(v[-1] == hashes[(v[0], v[1])] for v in got["verdicts"])


def test_run_cycle_runs_windows_in_order_and_stops_between_them_when_asked(db, settings, monkeypatch):
    import pipelines.flows.run
    from pipelines.core.window import windows_between
    from pipelines.flows.run import run_cycle

    ran = []
    monkeypatch.setattr(
        pipelines.flows.run, "run_window", lambda s, d, pair, window, **_: ran.append(window) or {}
    )
    monkeypatch.setattr(
        pipelines.flows.run, "analyze_recent", lambda *args: pytest.fail("no analyze after a stop")
    )
    windows = windows_between(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC), 8)
    due = [(settings.pair("BTC"), window) for window in windows]
    assert run_cycle(db, settings, due, NOW, should_stop=lambda: len(ran) == 2) == {"done": 2, "left": 1}
    assert ran == windows[:2]
    assert [row["status"] for row in db["runs"].rows] == ["done", "done"]


def test_settlements_an_older_rule_stored_are_rederived_by_the_next_backfill_without_refetching(
    cfg, tmp_path
):
    """A database upgraded across schema step 7 keeps the settlements older rules derived (no
    `predicted_kind`). Its days are already loaded, so a backfill fetches nothing; it re-derives those
    settlements from the stored minutes instead, and the tables equal a fresh backfill's."""
    fresh = run(cfg, tmp_path / "fresh.db", ("2024-03-01", "2024-03-03"), llm=False)
    path = tmp_path / "upgraded.db"
    run(cfg, path, ("2024-03-01", "2024-03-03"), llm=False)
    db = open_db(path)
    with db.conn:  # what an older rule left: other values and no kind
        db.execute("UPDATE funding SET rate = rate + 0.001, predicted_kind = NULL, warning = NULL")
    db.close()
    db = open_db(path)
    try:
        result = backfill(
            db,
            cfg,
            D("2024-03-01"),
            D("2024-03-03"),
            pairs=(cfg.pair("BTC"),),
            source="replay",
            llm=False,
            now=NOW,
        )
    finally:
        db.close()
    assert result.counts["days_loaded"] == 0 and result.counts["settlements_rederived"] > 0
    assert differences(snapshot(path), fresh) == {}
