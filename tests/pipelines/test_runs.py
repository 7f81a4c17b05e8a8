"""The `runs` ledger on a real SQLite file."""

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from pipelines.core.errors import AuthError, DataNotPublished, ExtractError, UnknownSymbol
from pipelines.core.timeutil import to_iso
from pipelines.flows.runs import (
    STALE_AFTER,
    attempt,
    done_windows,
    is_interrupted,
    mark_interrupted,
    recorded_run,
    run_row,
    shown_status,
    timed_run_id,
)

ROW = {
    "run_id": "funding_cycle:BTC:2024-03-01T08:00:00Z",
    "job": "funding_cycle",
    "pair": "BTC",
    "window_start": "2024-03-01T00:00:00Z",
    "window_end": "2024-03-01T08:00:00Z",
}


def test_done_with_counts(db):
    with recorded_run(db, ROW) as counts:
        assert db["runs"].get(ROW["run_id"])["status"] == "running"
        counts["minutes"] = 960
    row = db["runs"].get(ROW["run_id"])
    assert (row["status"], row["error"], json.loads(row["counts"])) == ("done", None, {"minutes": 960})
    assert row["started_at"] <= row["finished_at"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DataNotPublished("no data yet"), "pending"),
        (ExtractError("HTTP 500 for gate-io-futures"), "failed"),
        (KeyError("x"), "failed"),
    ],
)
def test_errors_are_recorded_and_reraised(db, error, status):
    with pytest.raises(type(error)), recorded_run(db, ROW):
        raise error
    row = db["runs"].get(ROW["run_id"])
    assert row["status"] == status and row["counts"] is None
    assert row["error"] == (
        str(error) if status == "pending" or isinstance(error, ExtractError) else "KeyError: 'x'"
    )


def test_a_rerun_updates_the_same_row(db):
    with pytest.raises(DataNotPublished), recorded_run(db, ROW):
        raise DataNotPublished("later")
    with recorded_run(db, ROW):
        pass
    assert db["runs"].count == 1 and db["runs"].get(ROW["run_id"])["status"] == "done"


def test_a_run_records_its_pid_and_host(db):
    with recorded_run(db, ROW):
        row = db["runs"].get(ROW["run_id"])
        assert (row["pid"], row["host"]) == (os.getpid(), socket.gethostname())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("pid", "host", "started", "interrupted"),
    [
        ("live", "here", "now", False),
        ("dead", "here", "now", True),
        ("live", "here", "long ago", True),  # that pid now belongs to a later process
        (None, "here", "now", False),  # a row from before pids were recorded: by age only
        (None, None, "long ago", True),
        (123, "elsewhere", "now", False),  # another host's pids cannot be checked: by age only
        (123, "elsewhere", "long ago", True),
    ],
)
def test_a_stale_running_row_is_interrupted(pid, host, started, interrupted):
    now = datetime.now(UTC)
    start = now if started == "now" else now - STALE_AFTER - timedelta(minutes=1)
    row = {
        "status": "running",
        "started_at": to_iso(start),
        "pid": {"live": os.getpid(), "dead": _dead_pid()}.get(pid, pid),
        "host": {"here": socket.gethostname()}.get(host, host),
    }
    assert is_interrupted(row, now) is interrupted
    assert shown_status(row, now) == ("interrupted" if interrupted else "running")
    assert shown_status({**row, "status": "done"}, now) == "done"


def _running(run_id: str, job: str, pid, host, started: datetime) -> dict:
    return {
        "run_id": run_id,
        "job": job,
        "status": "running",
        "started_at": to_iso(started),
        "pid": pid,
        "host": host,
    }


def test_the_next_run_of_any_job_records_the_dead_runs_of_every_job_interrupted(db):
    """Issue 17: a killed run stayed `running` in the table after the next run succeeded. A
    funding_cycle window finds a dead backfill, an old run of another host, and a live run."""
    here, dead = socket.gethostname(), _dead_pid()
    now = datetime.now(UTC)
    long_ago = now - STALE_AFTER - timedelta(hours=1)
    rows = [
        _running("backfill:killed", "backfill", dead, here, now - timedelta(minutes=5)),
        _running("analyze:elsewhere", "analyze", 123, "elsewhere", long_ago),
        _running("backfill:live", "backfill", os.getpid(), here, now),  # this process: alive
        _running("cost_report:recent", "cost_report", 123, "elsewhere", now),  # can't tell yet
    ]
    db["runs"].insert_all(rows)
    with recorded_run(db, ROW):
        pass
    got = {r["run_id"]: r for r in db["runs"].rows}
    assert {k: r["status"] for k, r in got.items()} == {
        "backfill:killed": "interrupted",
        "analyze:elsewhere": "interrupted",
        "backfill:live": "running",
        "cost_report:recent": "running",
        ROW["run_id"]: "done",
    }
    killed = got["backfill:killed"]
    assert killed["started_at"] < killed["finished_at"] <= got[ROW["run_id"]]["started_at"]
    assert killed["error"] == (
        f"interrupted: found dead at {killed['finished_at']} by {ROW['run_id']}: process {dead} is gone"
        f" on {here}"
    )
    assert got["analyze:elsewhere"]["error"].endswith(": started on elsewhere more than 24 h before")


def test_a_dead_runs_pid_reused_by_a_later_process_is_interrupted(db):
    """The pid now belongs to this test's process, created after the run started: not that run."""
    started = datetime.fromtimestamp(psutil.Process().create_time(), UTC) - timedelta(minutes=10)
    db["runs"].insert(_running("backfill:old", "backfill", os.getpid(), socket.gethostname(), started))
    now = datetime.now(UTC)
    assert mark_interrupted(db, now, by="test") == ["backfill:old"]
    row = db["runs"].get("backfill:old")
    assert row["status"] == "interrupted" and row["finished_at"] == to_iso(now)
    assert row["error"] == (
        f"interrupted: found dead at {to_iso(now)} by test: pid {os.getpid()} now belongs to a later"
        f" process on {socket.gethostname()}"
    )
    assert mark_interrupted(db, now) == []  # recorded once: nothing left running


def test_a_range_run_names_its_pairs_as_rows_and_done_windows_matches_them_exactly(db, settings):
    btc, eth = settings.pair("BTC"), settings.pair("ETH")
    start, end = datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    with recorded_run(db, run_row("backfill:x", "backfill", [btc, eth], start, end)):
        pass
    assert db["runs"].get("backfill:x")["pair"] == "BTC,ETH"  # the display text
    assert sorted(row["pair"] for row in db["run_pairs"].rows_where("run_id = ?", ["backfill:x"])) == [
        "BTC",
        "ETH",
    ]
    assert "2024-02-29T08:00:00Z" in done_windows(db, eth) and done_windows(db, eth).latest() == to_iso(end)
    solo = btc.model_copy(update={"name": "BT"})  # a prefix of a listed pair is not that pair
    assert done_windows(db, solo).latest() is None


def test_a_rerun_with_other_pairs_replaces_its_pair_rows(db, settings):
    btc, eth = settings.pair("BTC"), settings.pair("ETH")
    start, end = datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    for pairs in ([btc, eth], [eth]):
        with recorded_run(db, run_row("backfill:x", "backfill", pairs, start, end)):
            pass
    assert [row["pair"] for row in db["run_pairs"].rows] == ["ETH"]


@pytest.mark.parametrize(
    ("error", "status", "needs_person", "level"),
    [
        (DataNotPublished("no data yet"), "pending", False, logging.WARNING),
        (ExtractError("HTTP 500"), "failed", False, logging.WARNING),
        (AuthError("HTTP 401: bad key"), "failed", True, logging.ERROR),
        (UnknownSymbol("XYZ not served"), "failed", True, logging.ERROR),
        (KeyError("x"), "failed", False, logging.WARNING),
    ],
)
def test_attempt_never_raises_and_flags_fatal_errors_for_a_person(
    db, caplog, error, status, needs_person, level
):
    def work():
        raise error

    caplog.set_level(logging.INFO, logger="pipelines.flows.runs")
    result = attempt(db, ROW, work)
    assert (result.status, result.error, result.needs_person) == (status, error, needs_person)
    assert db["runs"].get(ROW["run_id"])["status"] == status
    last = caplog.records[-1]
    assert last.levelno == level and ("needs a person" in last.getMessage()) == needs_person


def test_attempt_done_is_not_for_a_person(db):
    result = attempt(db, ROW, lambda: {"minutes": 1})
    assert (result.status, result.error, result.needs_person) == ("done", None, False)


def test_a_run_restarted_within_the_killed_runs_second_keeps_the_killed_row(db):
    """Found by the SIGKILL test under load: a backfill killed and started again within one second got
    the killed run's id (`backfill:<second>`) and overwrote its row, so it was never recorded
    interrupted. The new run gets its own id; the killed row is recorded interrupted."""
    now = datetime(2024, 3, 7, 20, 46, 11, tzinfo=UTC)
    name = f"backfill:{to_iso(now)}"
    db["runs"].insert(_running(name, "backfill", _dead_pid(), socket.gethostname(), now))
    fresh = timed_run_id(db, "backfill", now)
    assert fresh == f"{name}#2"
    start, end = now - timedelta(days=1), now
    with recorded_run(db, run_row(fresh, "backfill", [], start, end)):
        pass
    assert db["runs"].get(name)["status"] == "interrupted"
    assert db["runs"].get(fresh)["status"] == "done"
    assert timed_run_id(db, "backfill", now) == fresh  # this process reusing its own name keeps it
