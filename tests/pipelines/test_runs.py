"""The `runs` ledger on a real SQLite file."""

import json

import pytest

from pipelines.errors import DataNotPublished, ExtractError
from pipelines.runs import recorded_run

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
