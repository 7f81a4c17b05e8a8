"""The backfill: the stages over a range of days, extraction by exchange-day.

Resumable: a loaded day is marked in `extracted` in the same transaction as its rows, so a killed
backfill resumes where it stopped. Once the days are loaded, windows and verdicts are derived as for
one window (`pipelines.flows.run.derive`). Stages live in their own modules; nothing here computes
anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlite_utils

from pipelines.config.pairs import Leg, Pair
from pipelines.config.settings import Settings
from pipelines.config.tardis import Tardis
from pipelines.core.errors import ArbdbError, AuthError, TardisUnreachable
from pipelines.core.timeutil import day_start, days
from pipelines.extract.days import DayTask, failed_days_error, ordered_results
from pipelines.extract.workers import worker_pool
from pipelines.flows.run import derive
from pipelines.flows.runs import recorded_run, run_row, timed_run_id
from pipelines.load.minutes import count_minutes, extracted_days, load_extracted, rederive_older
from pipelines.venues.history import check_range
from pipelines.venues.registry import venue

log = logging.getLogger(__name__)

# Failures that would fail every other exchange-day too: the backfill stops at the first one.
STOP_ALL = (AuthError, TardisUnreachable)


@dataclass
class BackfillProgress:
    """What a progress bar shows; `on_progress` receives it after every loaded exchange-day."""

    tasks_total: int
    tasks_done: int = 0
    skipped: int = 0
    messages: int = 0
    minutes: int = 0
    malformed: int = 0
    current: str = ""


@dataclass
class BackfillResult:
    progress: BackfillProgress
    counts: dict = field(default_factory=dict)


def plan_backfill(
    db: sqlite_utils.Database, legs: tuple[Leg, ...] | list[Leg], start: date, end: date
) -> tuple[list[DayTask], int]:
    """Exchange-days still to load (only their missing symbols), and how many are already done."""
    tasks, skipped = [], 0
    for exchange in dict.fromkeys(leg.exchange for leg in legs):
        symbols = sorted({leg.symbol for leg in legs if leg.exchange == exchange})
        # A venue has nothing before its history starts on Tardis (a later venue beside older ones).
        first = date.fromisoformat(venue(exchange).history_start)
        done = {d: set() for d in days(max(start, first), end)}
        for symbol in symbols:
            for d in extracted_days(db, exchange, [symbol]):
                if date.fromisoformat(d) in done:
                    done[date.fromisoformat(d)].add(symbol)
        for d, have in done.items():
            missing = tuple(s for s in symbols if s not in have)
            if missing:
                tasks.append(DayTask(exchange, d, missing))
            else:
                skipped += 1
    tasks.sort(key=lambda t: (t.day, t.exchange))
    return tasks, skipped


def backfill(
    db: sqlite_utils.Database,
    settings: Settings,
    start: date,
    end: date,
    *,
    pairs: tuple[Pair, ...],
    source: str,
    llm: bool,
    now: datetime,
    on_progress: Callable[[BackfillProgress], None] = lambda p: None,
    legs: tuple[Leg, ...] | None = None,
) -> BackfillResult:
    """Load [start, end) day by day (resumable), then compute windows and analyze them.

    `legs` are what is extracted: the pairs' legs by default (`settings.watched_legs()` adds the
    markets' legs, for `screen`). Days already loaded for a symbol are skipped; each exchange-day
    commits on its own, so a killed backfill resumes where it stopped and ends with the same tables
    as an uninterrupted one.
    """
    # Only complete UTC days are loaded, from the first day some selected pair has both venues.
    check_range(
        start, end, latest_end=now.date(), pair_venues=[[leg.exchange for leg in p.legs] for p in pairs]
    )
    run_id = timed_run_id(db, "backfill", now)
    legs = _legs(pairs, legs)
    tasks, skipped = plan_backfill(db, legs, start, end)
    progress = BackfillProgress(tasks_total=len(tasks) + skipped, tasks_done=skipped, skipped=skipped)
    on_progress(progress)
    intervals = {leg[:2]: leg.hours for leg in legs}
    symbols = sorted(intervals)
    row = run_row(run_id, "backfill", pairs, day_start(start), day_start(end))
    with recorded_run(db, row) as counts:
        stored = count_minutes(db, symbols, day_start(start), day_start(end))
        failures = _load_days(db, settings.tardis, tasks, source, intervals, progress, on_progress)
        if failures:
            # Windows wait for the rerun: computed now, they would be stored incomplete.
            raise failed_days_error(failures, progress.tasks_done - skipped)
        new = count_minutes(db, symbols, day_start(start), day_start(end)) - stored
        # Days loaded before an upgrade of the settlement rules are re-derived from their minutes.
        rederived = sum(
            rederive_older(db, exchange, symbol, hours, day_start(start), day_start(end))
            for (exchange, symbol), hours in intervals.items()
        )
        counts.update(
            derive(db, settings, pairs, day_start(start), day_start(end), run_id=run_id, now=now, llm=llm),
            settlements_rederived=rederived,
        )
        counts.update(
            messages=progress.messages,
            minutes=progress.minutes,
            malformed=progress.malformed,
            minutes_new=new,
            days_loaded=progress.tasks_done - skipped,
            days_skipped=skipped,
        )
    return BackfillResult(progress, counts)


def _legs(pairs: tuple[Pair, ...], legs: tuple[Leg, ...] | None) -> list[Leg]:
    """The legs to extract: `legs` and the pairs' legs, each (exchange, symbol) once."""
    out: dict[tuple[str, str], Leg] = {}
    for leg in [*(leg for pair in pairs for leg in pair.legs), *(legs or ())]:
        out.setdefault(leg[:2], leg)
    return list(out.values())


@contextmanager
def _day_results(tardis: Tardis, tasks: list[DayTask], source: str):
    """(task, Extracted or error) in task order: from local worker processes, or a Dask cluster."""
    if tardis.executor == "dask" and tasks:
        from pipelines.extract.cluster import cluster_results

        with cluster_results(tardis, tasks, source) as results:
            yield results
        return
    workers = min(tardis.workers, max(len(tasks), 1))
    executor = worker_pool(workers) if workers > 1 else None
    try:
        yield ordered_results(executor, tardis, tasks, source, ahead=workers * 2)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _load_days(db, tardis: Tardis, tasks, source, intervals, progress, on_progress) -> list:
    """Load every task's result as it comes; returns the (task, error) of the days that failed."""
    failures: list[tuple[DayTask, ArbdbError]] = []
    with _day_results(tardis, tasks, source) as results:
        for task, extracted in results:
            if isinstance(extracted, ArbdbError):
                if isinstance(extracted, STOP_ALL):
                    raise extracted
                log.warning("%s %s failed: %s", task.exchange, task.day, extracted)
                failures.append((task, extracted))
                continue
            loaded = load_extracted(
                db,
                extracted,
                {s: intervals[(task.exchange, s)] for s in task.symbols},
                day=task.day.isoformat(),
            )
            progress.tasks_done += 1
            progress.messages += loaded["messages"]
            progress.minutes += loaded["minutes"]
            progress.malformed += loaded["malformed"]
            progress.current = f"{task.exchange} {task.day}"
            on_progress(progress)
    return failures
