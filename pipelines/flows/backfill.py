"""The wiring: one funding window (or one backfill range) through every stage.

`run_cycle` is what the scheduler calls: every due window through `run_window` (without the LLM),
then one batched analyze pass across pairs; `backfill` is the same stages over a range of days, with
extraction by exchange-day (resumable: a loaded day is marked in `extracted` in the same transaction
as its rows). Stages themselves live in their own modules; nothing here computes anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import sqlite_utils

from pipelines.config.pairs import Leg, Pair
from pipelines.config.settings import Settings
from pipelines.core.errors import (
    ArbdbError,
    AuthError,
    LLMError,
    TardisUnreachable,
)
from pipelines.core.timeutil import day_start, days
from pipelines.core.window import Window, windows_between
from pipelines.extract.days import DayTask, failed_days_error, ordered_results
from pipelines.extract.replay import extract_range
from pipelines.extract.workers import worker_pool
from pipelines.flows.runs import (
    attempt,
    cycle_row,
    cycle_run_id,
    record_run,
    recorded_run,
    run_row,
    timed_run_id,
)
from pipelines.load.minutes import count_minutes, extracted_days, load_extracted, rederive_older
from pipelines.venues.history import check_range
from pipelines.venues.registry import venue

if TYPE_CHECKING:
    from pipelines.analyze.result import AnalyzeResult

log = logging.getLogger(__name__)

# Scheduled windows read a little past the settlement: Bitfinex shows the applied rate just after it.
SETTLE_MARGIN = timedelta(minutes=5)
# Failures that would fail every other exchange-day too: the backfill stops at the first one.
STOP_ALL = (AuthError, TardisUnreachable)


def _derive(
    db: sqlite_utils.Database,
    settings: Settings,
    pairs: tuple[Pair, ...] | list[Pair],
    start: datetime,
    end: datetime,
    *,
    run_id: str,
    now: datetime,
    llm: bool,
) -> dict:
    """Transform (windows, z-scores, flags) then analyze, after minutes in [start, end) were loaded.

    Windows ending in (start, end] are computed, and so are the stored ones outside it that those
    minutes reach; analysis covers every window that could have been rewritten, so a window this
    run changed never keeps a stale verdict (unchanged ones are cache hits).
    """
    from pipelines.transform.windows_stage import analysis_span, update_pairs

    counts = {
        "windows": sum(len(windows_between(start, end, p.window_hours)) for p in pairs),
        "windows_written": update_pairs(db, settings, list(pairs), start, end),
    }
    if llm:
        from pipelines.analyze.stage import analyze_range
        from pipelines.report.alerts import alerter

        lo, hi = analysis_span(settings, pairs, start, end)
        alerts = alerter(settings.mail, db, now)
        counts.update(analyze_range(db, settings, lo, hi, list(pairs), run_id, now, alerts=alerts).counts())
    return counts


def run_window(
    settings: Settings,
    db: sqlite_utils.Database,
    pair: Pair,
    window: Window,
    *,
    run_id: str,
    now: datetime,
    llm: bool = True,
) -> dict:
    """Extract, load, transform and analyze one pair's funding window. Idempotent.

    Raises `DataNotPublished` when Tardis has nothing yet for the window (retry later).
    """
    counts: dict[str, int] = {"messages": 0, "minutes": 0, "settlements": 0}
    end = min(window.end + SETTLE_MARGIN, now)
    for leg in pair.legs:
        extracted = extract_range(settings.tardis, leg.exchange, [leg.symbol], window.start, end, "replay")
        loaded = load_extracted(db, extracted, {leg.symbol: leg.hours})
        for key in counts:
            counts[key] += loaded[key]
    counts.update(_derive(db, settings, [pair], window.start, window.end, run_id=run_id, now=now, llm=llm))
    return counts


# -- backfill ---------------------------------------------------------------------------------


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
        failures = _load_days(db, settings, tasks, source, intervals, progress, on_progress)
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
            _derive(db, settings, pairs, day_start(start), day_start(end), run_id=run_id, now=now, llm=llm),
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
def _day_results(settings: Settings, tasks: list[DayTask], source: str):
    """(task, Extracted or error) in task order: from local worker processes, or a Dask cluster."""
    if settings.tardis.executor == "dask" and tasks:
        from pipelines.extract.cluster import cluster_results

        with cluster_results(settings.tardis, tasks, source) as results:
            yield results
        return
    workers = min(settings.tardis.workers, max(len(tasks), 1))
    executor = worker_pool(workers) if workers > 1 else None
    try:
        yield ordered_results(executor, settings, tasks, source, ahead=workers * 2)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _load_days(db, settings, tasks, source, intervals, progress, on_progress) -> list:
    """Load every task's result as it comes; returns the (task, error) of the days that failed."""
    failures: list[tuple[DayTask, ArbdbError]] = []
    with _day_results(settings, tasks, source) as results:
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


# -- the scheduled cycle -----------------------------------------------------------------------

# A cycle failure every later window would repeat (Tardis refused the key): the rest wait.
STOP_CYCLE = (AuthError,)


def run_cycle(
    db: sqlite_utils.Database,
    settings: Settings,
    windows: list[tuple[Pair, Window]],
    now: datetime,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Run each (pair, window) in order under its `runs` row, then one batched analyze pass.

    Windows are extracted, loaded and transformed without the LLM; the analyze pass then covers
    every pair at once (after at least one window was done). Returns how many windows ended done,
    pending, failed or were left, plus `analyze_<status>`. A failed window never stops the others,
    except a `STOP_CYCLE` error (every window would fail the same way) or `should_stop()`.
    """
    tally: Counter[str] = Counter()
    for i, (pair, window) in enumerate(windows):
        if should_stop():
            log.info("stop requested: %d window(s) left for the next run", len(windows) - i)
            tally["left"] += len(windows) - i
            break
        run_id = cycle_run_id(pair, window)
        work = partial(run_window, settings, db, pair, window, run_id=run_id, now=now, llm=False)
        result = attempt(db, cycle_row(pair, window), work)
        tally[result.status] += 1
        if isinstance(result.error, STOP_CYCLE) and i + 1 < len(windows):
            log.error("%s: the cycle stops; %d window(s) left for the next run", run_id, len(windows) - i - 1)
            tally["left"] += len(windows) - i - 1
            break
    if tally["done"] and not should_stop():
        tally[f"analyze_{analyze_recent(db, settings, now)}"] += 1
    return dict(tally)


def analyze_recent(db: sqlite_utils.Database, settings: Settings, now: datetime) -> str:
    """One batched LLM pass over the flagged windows of the catch-up horizon, all pairs together.

    Batching across pairs and windows is what keeps calls per cycle low; windows analysed before
    (same features, same prompt) are cached and cost nothing, and ones whose analysis failed or was
    skipped for budget are picked up again here on the next cycle.
    """
    hours = max(p.window_hours for p in settings.pairs)
    start = now - timedelta(hours=hours * (max(1, settings.schedule.catch_up_max_windows) + 1))
    run_id = timed_run_id(db, "analyze", now)
    row = run_row(run_id, "analyze", settings.pairs, start, now)
    return record_run(db, row, lambda: analyzed(db, settings, start, now, None, run_id, now).counts())


def analyzed(
    db: sqlite_utils.Database,
    settings: Settings,
    start: datetime | date,
    end: datetime | date,
    pairs,  # names, Pair objects, or None for all (as analyze_range)
    run_id: str,
    now: datetime,
) -> AnalyzeResult:
    """`analyze_range`, raising `LLMError` when flagged windows were left without a verdict.

    Run under a `runs` row, that makes the run `failed` (and `status` shows it); the verdicts that
    did succeed are kept.
    """
    from pipelines.analyze.stage import analyze_range
    from pipelines.report.alerts import alerter

    result = analyze_range(
        db, settings, start, end, pairs, run_id, now, alerts=alerter(settings.mail, db, now)
    )
    if line := result.error_line():
        raise LLMError(line)
    return result
