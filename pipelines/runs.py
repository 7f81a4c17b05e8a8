"""The `runs` ledger: every job's unit of work recorded as running, then done, pending or failed.

A process killed mid-run (SIGKILL, power loss) leaves its row `running`. Such a row is recognised by
the pid and host it records: on this host a dead pid (or one reused by a later process) means
`interrupted`; a row from another host is `interrupted` once it is older than `STALE_AFTER`. Only
`done` rows count as done, so the next run of the same window does the work again.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psutil
import sqlite_utils

from pipelines.errors import ArbdbError, DataNotPublished
from pipelines.store import upsert
from pipelines.timeutil import parse_iso, to_iso, utcnow

INTERRUPTED = "interrupted"
# A `running` row of another host (whose pids cannot be checked) is taken as interrupted after this:
# longer than any backfill or window is expected to run.
STALE_AFTER = timedelta(hours=24)
# started_at has whole seconds; a process created this much after it is a later one reusing the pid.
PID_REUSE_SLACK_SECONDS = 2.0


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
    row.update(pid=os.getpid(), host=socket.gethostname())
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


def _alive(pid: int, started_at: datetime) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc.create_time() <= started_at.timestamp() + PID_REUSE_SLACK_SECONDS
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's live process
        return True


def is_interrupted(row: dict, now: datetime, host: str | None = None) -> bool:
    """Whether a `runs` row says `running` although its process is gone (see the module docstring)."""
    if row.get("status") != "running" or not row.get("started_at"):
        return False
    started = parse_iso(row["started_at"])
    if row.get("pid") and row.get("host") == (host or socket.gethostname()):
        return not _alive(int(row["pid"]), started)
    return now - started > STALE_AFTER


def shown_status(row: dict, now: datetime) -> str:
    """The status to show for a `runs` row: `interrupted` instead of a stale `running`."""
    return INTERRUPTED if is_interrupted(row, now) else row["status"]
