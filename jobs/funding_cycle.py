"""funding_cycle: run every due window, oldest first, each under its own `runs` row.

A window is due once it closed at least `schedule.delay_minutes` ago (Tardis needs time to publish)
and no `runs` row records it done. Every run looks back over the last `schedule.catch_up_max_windows`
windows of each pair, so the scheduled run, the start-up catch-up and the retry of a failed or
not-yet-published window are the same code path. The bound also keeps a first start from reaching
into the distant past; `arbdb backfill` is for that.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import sqlite_utils

from pipelines.errors import ArbdbError, DataNotPublished, LLMError
from pipelines.runs import recorded_run, run_row
from pipelines.settings import Pair, Settings, load_settings
from pipelines.store import open_db
from pipelines.timeutil import to_iso, utcnow
from pipelines.window import Window, last_closed_window, windows_between

log = logging.getLogger(__name__)

JOB = "funding_cycle"
# Jobs whose rows are about windows: a window a backfill loaded is not fetched again.
WINDOW_JOBS = ("funding_cycle", "backfill")

_stop = threading.Event()
# The start-up catch-up and a scheduled fire may overlap; the second waits, then sees fresh state.
_cycle_lock = threading.Lock()


def request_stop() -> None:
    """Ask a running cycle to stop before its next window (the current one finishes)."""
    _stop.set()


def clear_stop() -> None:
    _stop.clear()


def stop_requested() -> bool:
    return _stop.is_set()


def run_id_for(pair: Pair, window: Window) -> str:
    """Deterministic, so a retried window updates its own row."""
    return f"{JOB}:{pair.name}:{to_iso(window.end)}"


def recent_windows(cutoff: datetime, interval_hours: float, count: int) -> list[Window]:
    """The last `count` windows that closed at or before `cutoff`, oldest first."""
    last = last_closed_window(cutoff, interval_hours)
    return windows_between(last.end - (last.end - last.start) * count, last.end, interval_hours)


@dataclass(frozen=True)
class DoneWindows:
    """Window ends (store ISO text) a pair has done: one by one, or inside a done backfill's range."""

    ends: frozenset[str]
    ranges: tuple[tuple[str, str], ...]  # (start, end]: windows ending in it were backfilled

    def __contains__(self, end: str) -> bool:
        return end in self.ends or any(start < end <= stop for start, stop in self.ranges)

    def latest(self) -> str | None:
        return max([*self.ends, *(stop for _, stop in self.ranges)], default=None)


def done_windows(db: sqlite_utils.Database, pair: Pair) -> DoneWindows:
    """What `runs` records as done for `pair` (a backfill row names its pairs as a comma list)."""
    rows = db.execute(
        "SELECT job, window_start, window_end FROM runs WHERE status = 'done' AND window_end IS NOT NULL"
        " AND ((job = ? AND pair = ?) OR (job = 'backfill' AND ',' || pair || ',' LIKE ?))",
        [JOB, pair.name, f"%,{pair.name},%"],
    ).fetchall()
    ends = frozenset(end for job, _, end in rows if job == JOB)
    ranges = tuple((start, end) for job, start, end in rows if job != JOB and start)
    return DoneWindows(ends, ranges)


def due_windows(
    db: sqlite_utils.Database, settings: Settings, now: datetime, max_windows: int | None = None
) -> list[tuple[Pair, Window]]:
    """Windows not recorded done that closed at or before `now - delay`, oldest first.

    Looks back at most `max_windows` windows per pair (default `schedule.catch_up_max_windows`;
    never fewer than one, so the window that just closed is always covered).
    """
    if max_windows is None:
        max_windows = settings.schedule.catch_up_max_windows
    cutoff = now - timedelta(minutes=settings.schedule.delay_minutes)
    order = {pair.name: i for i, pair in enumerate(settings.pairs)}
    due = []
    for pair in settings.pairs:
        done = done_windows(db, pair)
        windows = recent_windows(cutoff, pair.window_hours, max(1, max_windows))
        due += [(pair, w) for w in windows if to_iso(w.end) not in done]
    return sorted(due, key=lambda item: (item[1].end, order[item[0].name]))


def record_run(db: sqlite_utils.Database, row: dict, work: Callable[[], dict | None]) -> str:
    """Run `work` under a `runs` row: `running`, then `done` with its counts, `pending` or `failed`.

    Never raises for a failed run: the error is logged and stored, and the next run retries.
    """
    counts: dict = {}
    try:
        with recorded_run(db, row) as counts:
            counts.update(work() or {})
        status, error = "done", None
    except DataNotPublished as err:
        status, error = "pending", str(err)
    except ArbdbError as err:
        status, error = "failed", str(err)
    except Exception as err:  # one broken window must not stop the others
        log.exception("%s crashed", row["run_id"])
        status, error = "failed", f"{type(err).__name__}: {err}"
    level = logging.INFO if status == "done" else logging.WARNING
    detail = f" ({error})" if error else f" {json.dumps(counts, sort_keys=True, default=str)}"
    log.log(level, "%s: %s%s", row["run_id"], status, detail)
    return status


def run_due_windows(db: sqlite_utils.Database, settings: Settings, now: datetime) -> dict[str, int]:
    """Run every due window in order; stop early (cleanly, between windows) when asked to."""
    from pipelines.run import run_window  # lazy: the pipeline pulls in pandas and the API clients

    due = due_windows(db, settings, now)
    log.info("funding_cycle at %s: %d window(s) due", to_iso(now), len(due))
    tally: Counter[str] = Counter()
    for i, (pair, window) in enumerate(due):
        if _stop.is_set():
            log.info("stop requested: %d window(s) left for the next run", len(due) - i)
            tally["left"] += len(due) - i
            break
        run_id = run_id_for(pair, window)
        row = {
            "run_id": run_id,
            "job": JOB,
            "pair": pair.name,
            "window_start": to_iso(window.start),
            "window_end": to_iso(window.end),
        }
        work = partial(run_window, settings, db, pair, window, run_id=run_id, now=now, llm=False)
        tally[record_run(db, row, work)] += 1
    if tally["done"] and not _stop.is_set():
        tally[f"analyze_{analyze_recent(db, settings, now)}"] += 1
    return dict(tally)


def analyze_recent(db: sqlite_utils.Database, settings: Settings, now: datetime) -> str:
    """One batched LLM pass over the flagged windows of the catch-up horizon, all pairs together.

    Batching across pairs and windows is what keeps calls per cycle low; windows analysed before
    (same features, same prompt) are cached and cost nothing, and ones whose analysis failed or was
    skipped for budget are picked up again here on the next cycle.
    """
    from pipelines.analyze.stage import analyze_range

    hours = max(p.window_hours for p in settings.pairs)
    start = now - timedelta(hours=hours * (max(1, settings.schedule.catch_up_max_windows) + 1))
    run_id = f"analyze:{to_iso(now)}"
    row = run_row(run_id, "analyze", settings.pairs, start, now)

    def work() -> dict:
        result = analyze_range(db, settings, start, now, None, run_id, now)
        if line := result.error_line():  # the run is `failed`, and `status` shows it
            raise LLMError(line)
        return result.counts()

    return record_run(db, row, work)


def funding_cycle_job(settings: Settings | Path | str, now: datetime | None = None) -> dict[str, int]:
    """Scheduled entry: process every due window; returns how many ended done/pending/failed/left.

    `settings` is the config path when the scheduler calls it (plain, picklable arguments).
    """
    if not isinstance(settings, Settings):
        settings = load_settings(settings)
    with _cycle_lock:
        if _stop.is_set():
            return {}
        db = open_db(settings.database)
        try:
            return run_due_windows(db, settings, now or utcnow())
        finally:
            db.close()
