"""The `runs` ledger: every job's unit of work recorded as running, then done, pending or failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlite_utils

from pipelines.errors import ArbdbError, DataNotPublished
from pipelines.store import upsert
from pipelines.timeutil import to_iso, utcnow


def run_row(run_id: str, job: str, pairs, start: datetime, end: datetime) -> dict:
    """The identifying part of a `runs` row for a job over a time range and some pairs."""
    return {
        "run_id": run_id,
        "job": job,
        "pair": ",".join(p.name for p in pairs),
        "window_start": to_iso(start),
        "window_end": to_iso(end),
    }


def _describe(err: BaseException) -> str:
    return str(err) if isinstance(err, ArbdbError) else f"{type(err).__name__}: {err}"


@contextmanager
def recorded_run(db: sqlite_utils.Database, row: dict) -> Iterator[dict]:
    """Record the work inside under the `runs` row `row` (run_id, job, pair, window_start/end).

    Yields a dict for the work's counts. On success the row ends `done` with the counts; on
    `DataNotPublished` it ends `pending` (retried later), on any other error `failed`; either way
    the error is stored and re-raised. The same run_id rerun updates its row.
    """
    row = {**row, "started_at": to_iso(utcnow()), "finished_at": None, "counts": None, "error": None}
    upsert(db, "runs", [{**row, "status": "running"}])
    counts: dict = {}
    try:
        yield counts
    except BaseException as err:
        status = "pending" if isinstance(err, DataNotPublished) else "failed"
        upsert(
            db, "runs", [{**row, "status": status, "error": _describe(err), "finished_at": to_iso(utcnow())}]
        )
        raise
    done = {"status": "done", "finished_at": to_iso(utcnow())}
    upsert(db, "runs", [{**row, **done, "counts": json.dumps(counts, sort_keys=True, default=str)}])
