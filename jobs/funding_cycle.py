"""funding_cycle: run every due window, oldest first, each under its own `runs` row.

A window is due once it closed at least `schedule.delay_minutes` ago (Tardis needs time to publish)
and no `runs` row records it done. Every run looks back over the last `schedule.catch_up_max_windows`
windows of each pair, so the scheduled run, the start-up catch-up and the retry of a failed or
not-yet-published window are the same code path. The bound also keeps a first start from reaching
into the distant past; `arbdb backfill` is for that. This module only decides which windows are
due; `pipelines.flows.run.run_cycle` runs them and records each in `runs`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

import sqlite_utils

from pipelines.config.settings import Pair, Settings, load_settings
from pipelines.core.timeutil import to_iso, utcnow
from pipelines.core.window import Window, last_closed_window, windows_between
from pipelines.flows.runs import done_windows
from pipelines.store import open_db

log = logging.getLogger(__name__)

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


def recent_windows(cutoff: datetime, interval_hours: float, count: int) -> list[Window]:
    """The last `count` windows that closed at or before `cutoff`, oldest first."""
    last = last_closed_window(cutoff, interval_hours)
    return windows_between(last.end - (last.end - last.start) * count, last.end, interval_hours)


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


def run_due_windows(db: sqlite_utils.Database, settings: Settings, now: datetime) -> dict[str, int]:
    """Run every due window in order (`flows.run.run_cycle`); stop early, between windows, when asked."""
    from pipelines.flows.run import run_cycle  # lazy: the pipeline pulls in pandas and the API clients

    due = due_windows(db, settings, now)
    log.info("funding_cycle at %s: %d window(s) due", to_iso(now), len(due))
    return run_cycle(db, settings, due, now, should_stop=_stop.is_set)


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
