"""The `runs` ledger: every job's unit of work recorded as running, then done, pending or failed.

A process killed mid-run (SIGKILL, power loss) leaves its row `running`. Such a row is recognised by
the pid and host it records: on this host a dead pid (or one reused by a later process) means
`interrupted`; a row from another host is `interrupted` once it is older than `STALE_AFTER`. The
next run of any job records it so (`mark_interrupted`, in the transaction that writes its own row):
status `interrupted`, `finished_at` the time it was found dead, `error` saying how. Until then
`shown_status` judges it at read time (`arbdb status` writes nothing). Only `done` rows count as
done, so the next run of the same window does the work again.

`recorded_run` keeps the row around work that raises; `attempt` (and `record_run`) never raise:
the one ledger of the scheduler, where a failed window must not stop the others. The pairs a run
covers are rows of `run_pairs`, written with its row; `runs.pair` is their display text.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil
import sqlite_utils

from pipelines.core.errors import ArbdbError, DataNotPublished, FatalError
from pipelines.core.timeutil import parse_iso, to_iso, utcnow
from pipelines.store import runs as stored_runs
from pipelines.store import transaction, upsert

log = logging.getLogger(__name__)

# The scheduled job whose rows are one pair's window each; a done backfill covers its range too.
CYCLE_JOB = "funding_cycle"
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


def timed_run_id(db: sqlite_utils.Database, job: str, now: datetime) -> str:
    """`job:<now>` for a run named by when it started (backfill, analyze, cost_report), made unique
    against a row another process left under the same name (a run killed and restarted within the
    same second would otherwise overwrite the killed run's row instead of recording it interrupted).
    The same process reusing the name (a rerun with the same clock) keeps it."""
    base = f"{job}:{to_iso(now)}"
    me, here = os.getpid(), socket.gethostname()
    for n in range(1, 1000):
        run_id = base if n == 1 else f"{base}#{n}"
        found = stored_runs.owner(db, run_id)
        if found is None or found == (me, here):
            return run_id
    raise RuntimeError(f"more than 999 runs named {base}")


def cycle_run_id(pair, window) -> str:
    """The `runs` id of one pair's scheduled window: deterministic, so a retry updates its own row."""
    return f"{CYCLE_JOB}:{pair.name}:{to_iso(window.end)}"


def cycle_row(pair, window) -> dict:
    """The identifying part of the `runs` row of one pair's scheduled window."""
    return {
        "run_id": cycle_run_id(pair, window),
        "job": CYCLE_JOB,
        "pair": pair.name,
        "window_start": to_iso(window.start),
        "window_end": to_iso(window.end),
    }


def _describe(err: BaseException) -> str:
    return str(err) if isinstance(err, ArbdbError) else f"{type(err).__name__}: {err}"


@contextmanager
def recorded_run(db: sqlite_utils.Database, row: dict) -> Iterator[dict]:
    """Record the work inside under the `runs` row `row` (run_id, job, pair, window_start/end).

    Yields a dict for the work's counts. On success the row ends `done` with the counts; on
    `DataNotPublished` it ends `pending` (retried later), on any other error `failed`; either way
    the error is stored and re-raised. The same run_id rerun updates its row. First, in the same
    transaction, `running` rows of any job whose process is gone are recorded `interrupted`.
    """
    row = {**row, "started_at": to_iso(utcnow()), "finished_at": None, "counts": None, "error": None}
    row.update(pid=os.getpid(), host=socket.gethostname())
    with transaction(db):  # the row and its pairs together: a run never lacks the pairs it covers
        mark_interrupted(db, utcnow(), by=row["run_id"])
        upsert(db, "runs", [{**row, "status": "running"}])
        _record_pairs(db, row["run_id"], row.get("pair"))
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


def _record_pairs(db: sqlite_utils.Database, run_id: str, pair: str | None) -> None:
    """One `run_pairs` row per pair named in the display text `pair` (comma-joined names)."""
    names = [name for name in (pair or "").split(",") if name]
    stored_runs.replace_pairs(db, run_id, names)


def _gone(pid: int, started_at: datetime) -> str | None:
    """Why process `pid`, which started a run at `started_at`, no longer runs it (None: it does)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return f"process {pid} is gone"
        if proc.create_time() > started_at.timestamp() + PID_REUSE_SLACK_SECONDS:
            return f"pid {pid} now belongs to a later process"
        return None
    except psutil.NoSuchProcess:
        return f"process {pid} is gone"
    except psutil.AccessDenied:  # another user's live process
        return None


def interrupted_because(row: dict, now: datetime, host: str | None = None) -> str | None:
    """Why a `runs` row says `running` although its process is gone, or None (module docstring)."""
    if row.get("status") != "running" or not row.get("started_at"):
        return None
    started, here = parse_iso(row["started_at"]), host or socket.gethostname()
    if row.get("pid") and row.get("host") == here:
        why = _gone(int(row["pid"]), started)
        return f"{why} on {here}" if why else None
    if now - started > STALE_AFTER:
        where = f"on {row['host']}" if row.get("host") else "on an unrecorded host"
        return f"started {where} more than {STALE_AFTER.total_seconds() / 3600:g} h before"
    return None


def is_interrupted(row: dict, now: datetime, host: str | None = None) -> bool:
    """Whether a `runs` row says `running` although its process is gone (see the module docstring)."""
    return interrupted_because(row, now, host) is not None


def shown_status(row: dict, now: datetime) -> str:
    """The status to show for a `runs` row: `interrupted` instead of a stale `running`."""
    return INTERRUPTED if is_interrupted(row, now) else row["status"]


def mark_interrupted(
    db: sqlite_utils.Database, now: datetime, by: str | None = None, host: str | None = None
) -> list[str]:
    """Record as `interrupted` every `running` row, of any job, whose process is gone; their run_ids.

    `finished_at` becomes `now` (when it was found dead: when it died is unknown) and `error` says
    how it was found and by which run (`by`). Rows whose process still runs are left as they are.
    """
    found = f"found dead at {to_iso(now)}" + (f" by {by}" if by else "")
    with transaction(db):  # judged and updated under the write lock: no run ends in between
        rows = stored_runs.running(db)
        dead = [(row["run_id"], why) for row in rows if (why := interrupted_because(row, now, host))]
        for run_id, why in dead:
            stored_runs.end_run(db, run_id, INTERRUPTED, to_iso(now), f"interrupted: {found}: {why}")
            log.warning("%s was interrupted (%s): recorded so; its work is redone", run_id, why)
    return [run_id for run_id, _ in dead]


# -- the ledger of one unit of work, as jobs use it ------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """How one recorded run ended: its status and the error that ended it (None when done)."""

    status: str
    error: BaseException | None = None

    @property
    def needs_person(self) -> bool:
        """A `FatalError` (bad credentials, unknown symbol): retrying alone will not fix it."""
        return isinstance(self.error, FatalError)


def attempt(db: sqlite_utils.Database, row: dict, work: Callable[[], dict | None]) -> RunOutcome:
    """Run `work` under a `runs` row: `running`, then `done` with its counts, `pending` or `failed`.

    Never raises for a failed run: the error is logged and stored, and the next run retries. A
    `FatalError` is logged at error level as needing a person, since the retry will fail the same way.
    """
    counts: dict = {}
    error: BaseException | None = None
    try:
        with recorded_run(db, row) as counts:
            counts.update(work() or {})
        status = "done"
    except ArbdbError as err:
        status, error = ("pending" if isinstance(err, DataNotPublished) else "failed"), err
    except Exception as err:  # one broken window must not stop the others
        log.exception("%s crashed", row["run_id"])
        status, error = "failed", err
    result = RunOutcome(status, error)
    level = logging.INFO if status == "done" else logging.WARNING
    detail = f" ({_describe(error)})" if error else f" {json.dumps(counts, sort_keys=True, default=str)}"
    if result.needs_person:
        level, detail = logging.ERROR, f"{detail}; needs a person: retrying will not fix it"
    log.log(level, "%s: %s%s", row["run_id"], status, detail)
    return result


def record_run(db: sqlite_utils.Database, row: dict, work: Callable[[], dict | None]) -> str:
    """`attempt`, returning only the status the run ended with (done, pending or failed)."""
    return attempt(db, row, work).status


# -- what is done --------------------------------------------------------------------------


@dataclass(frozen=True)
class DoneWindows:
    """Window ends (store ISO text) a pair has done: one by one, or inside a done backfill's range."""

    ends: frozenset[str]
    ranges: tuple[tuple[str, str], ...]  # (start, end]: windows ending in it were backfilled

    def __contains__(self, end: str) -> bool:
        return end in self.ends or any(start < end <= stop for start, stop in self.ranges)

    def latest(self) -> str | None:
        return max([*self.ends, *(stop for _, stop in self.ranges)], default=None)


def done_windows(db: sqlite_utils.Database, pair) -> DoneWindows:
    """What `runs` records as done for `pair`: its scheduled windows and its done backfills."""
    rows = stored_runs.done_rows(db, CYCLE_JOB, pair.name)
    ends = frozenset(end for job, _, end in rows if job == CYCLE_JOB)
    ranges = tuple((start, end) for job, start, end in rows if job != CYCLE_JOB and start)
    return DoneWindows(ends, ranges)


def run_jobs(db: sqlite_utils.Database) -> list[str]:
    """Every job name that has a `runs` row, sorted."""
    return stored_runs.jobs(db)


def recent_runs(db: sqlite_utils.Database, job: str, limit: int, pair: str | None = None) -> list[dict]:
    """The latest `limit` rows of `job` (only those of `pair` when given), newest first."""
    return stored_runs.recent(db, job, limit, pair)
