"""The run ledger's tables: `runs` (one row per unit of work) and `run_pairs` (the pairs a run covers).

`pipelines.flows.runs` decides what a run's row says; these are its reads and writes.
"""

from __future__ import annotations

import pandas as pd
import sqlite_utils

from pipelines.store.db import table_between, upsert


def owner(db: sqlite_utils.Database, run_id: str) -> tuple | None:
    """(pid, host) of the run `run_id`, or None when it has no row."""
    row = db.execute("SELECT pid, host FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else tuple(row)


def replace_pairs(db: sqlite_utils.Database, run_id: str, pairs: list[str]) -> None:
    """Make `pairs` the `run_pairs` rows of `run_id`."""
    db["run_pairs"].delete_where("run_id = ?", [run_id])
    upsert(db, "run_pairs", [{"run_id": run_id, "pair": name} for name in pairs])


def running(db: sqlite_utils.Database) -> list[dict]:
    """(run_id, status, started_at, pid, host) of every row still `running`."""
    return list(db.query("SELECT run_id, status, started_at, pid, host FROM runs WHERE status = 'running'"))


def end_run(db: sqlite_utils.Database, run_id: str, status: str, finished_at: str, error: str) -> None:
    """Set a row's status, finished_at and error."""
    db.execute(
        "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
        [status, finished_at, error, run_id],
    )


def done_rows(db: sqlite_utils.Database, cycle_job: str, pair: str) -> list[tuple]:
    """(job, window_start, window_end) of the done rows of `pair`: its own `cycle_job` rows, and
    the backfills that covered it."""
    return db.execute(
        "SELECT job, window_start, window_end FROM runs WHERE status = 'done' AND window_end IS NOT NULL"
        " AND ((job = ? AND pair = ?)"
        " OR (job = 'backfill' AND run_id IN (SELECT run_id FROM run_pairs WHERE pair = ?)))",
        [cycle_job, pair, pair],
    ).fetchall()


def jobs(db: sqlite_utils.Database) -> list[str]:
    """Every job name that has a `runs` row, sorted."""
    return [job for (job,) in db.execute("SELECT DISTINCT job FROM runs ORDER BY job")]


def recent(db: sqlite_utils.Database, job: str, limit: int, pair: str | None = None) -> list[dict]:
    """The latest `limit` rows of `job` (only those of `pair` when given), newest first."""
    where, params = ("job = ? AND pair = ?", [job, pair]) if pair is not None else ("job = ?", [job])
    return list(
        db.query(
            "SELECT run_id, pair, window_end, status, started_at, finished_at, error, pid, host FROM runs"
            f" WHERE {where} ORDER BY started_at DESC, rowid DESC LIMIT ?",
            [*params, limit],
        )
    )


def runs_started_between(db: sqlite_utils.Database, start: str, end: str) -> pd.DataFrame:
    """Every column of the runs started in [start, end) (ISO)."""
    return table_between(db, "runs", "started_at", start, end)
