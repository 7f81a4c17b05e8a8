"""The wiring: one funding window (or one backfill range) through every stage.

`run_cycle` is what the scheduler calls: every due window through `run_window` (without the LLM),
then one batched analyze pass across pairs. `derive` (transform, then analyze) is shared with the
backfill (`pipelines.flows.backfill`), the same stages over a range of days. Stages themselves live
in their own modules; nothing here computes anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import sqlite_utils

from pipelines.config.pairs import Pair
from pipelines.config.settings import Settings
from pipelines.core.errors import (
    AuthError,
    LLMError,
)
from pipelines.core.window import Window, windows_between
from pipelines.extract.replay import extract_range
from pipelines.flows.runs import (
    attempt,
    cycle_row,
    cycle_run_id,
    record_run,
    run_row,
    timed_run_id,
)
from pipelines.load.minutes import load_extracted

if TYPE_CHECKING:
    from pipelines.analyze.result import AnalyzeResult

log = logging.getLogger(__name__)

# Scheduled windows read a little past the settlement: Bitfinex shows the applied rate just after it.
SETTLE_MARGIN = timedelta(minutes=5)


def derive(
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
        "windows_written": update_pairs(
            db,
            settings.window_config(),
            list(pairs),
            start,
            end,
            workers=settings.tardis.workers,
            database=settings.database,
        ),
    }
    if llm:
        from pipelines.analyze.stage import analyze_range
        from pipelines.report.alerts import alerter

        lo, hi = analysis_span(settings.transform, pairs, start, end)
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
    counts.update(derive(db, settings, [pair], window.start, window.end, run_id=run_id, now=now, llm=llm))
    return counts


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
