"""The long-running scheduler: which job fires when, one instance per database, clean stops.

`funding_cycle` fires at every funding time of the configured pairs (the union of their window
intervals, aligned to 00:00 UTC) plus `schedule.delay_minutes`; `cost_report` fires nightly at
`schedule.report_time`. Jobs are module-level functions called with the config path only, rebuilt
from config at every start (memory job store, nothing pickled), so a restart never replays stale
jobs. Fire times are computed by the same triggers the scheduler uses (`next_fire_times`), which
keeps them testable with fixed clocks.
"""

from __future__ import annotations

import logging
import signal
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filelock
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from jobs import funding_cycle
from pipelines.analyze.models import unlisted_warning
from pipelines.config.settings import Settings, load_settings
from pipelines.core.errors import AlreadyRunning
from pipelines.core.timeutil import to_iso, utcnow
from pipelines.flows.runs import record_run, timed_run_id
from pipelines.store import open_db

log = logging.getLogger(__name__)

DAY_SECONDS = 24 * 3600
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# catch-up, a funding_cycle fire waiting for it, and the nightly report may overlap
WORKERS = 3
# Pairs with windows shorter than this make funding_cycle fire hourly.
HOURLY_BELOW_HOURS = 8


def _signals_to_main_thread() -> None:
    """Block the stop signals in a worker thread (and the threads it starts).

    Python runs signal handlers in the main thread only; if the kernel delivered SIGTERM to a busy
    worker, the main thread would sleep on until the next fire time (hours) before noticing it.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def funding_offsets(settings: Settings) -> list[int]:
    """Seconds after midnight UTC at which `funding_cycle` fires, plus the delay: the ends of every
    pair's windows (00/08/16 for 8 h), and every hour too when a pair has windows shorter than 8 h
    (the cycle finds each pair's due windows on that pair's own grid)."""
    delay = settings.schedule.delay_minutes * 60
    hours = [pair.window_hours for pair in settings.pairs]
    periods = {round(h * 3600) for h in hours} | ({3600} if min(hours) < HOURLY_BELOW_HOURS else set())
    offsets = {(t + delay) % DAY_SECONDS for period in periods for t in range(0, DAY_SECONDS, period)}
    return sorted(offsets)


def funding_cycle_trigger(settings: Settings) -> BaseTrigger:
    """One cron trigger per distinct minute:second of the fire times (one for whole-hour intervals)."""
    hours_by_clock: dict[tuple[int, int], list[int]] = defaultdict(list)
    for offset in funding_offsets(settings):
        hour, rest = divmod(offset, 3600)
        hours_by_clock[divmod(rest, 60)].append(hour)
    crons = [
        CronTrigger(hour=",".join(map(str, hours)), minute=minute, second=second, timezone=UTC)
        for (minute, second), hours in sorted(hours_by_clock.items())
    ]
    return crons[0] if len(crons) == 1 else OrTrigger(crons)


def cost_report_trigger(settings: Settings) -> CronTrigger:
    """Nightly at `schedule.report_time` (HH:MM UTC)."""
    hour, minute = (int(part) for part in settings.schedule.report_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, second=0, timezone=UTC)


def triggers(settings: Settings) -> dict[str, BaseTrigger]:
    """The trigger of every scheduled job, by job id."""
    return {"funding_cycle": funding_cycle_trigger(settings), "cost_report": cost_report_trigger(settings)}


def next_fire_times(
    settings: Settings, now: datetime, n: int = 1, job: str = "funding_cycle"
) -> list[datetime]:
    """The next `n` fire times of `job` at or after `now` (a fire exactly at `now` counts), in UTC."""
    trigger = triggers(settings)[job]
    out: list[datetime] = []
    previous = None
    while len(out) < n:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        out.append(fire.astimezone(UTC))
        previous, now = fire, fire + timedelta(microseconds=1)
    return out


def cost_report_run(config_path: str) -> None:
    """Scheduled entry of the nightly report: settings rebuilt from the file, a `runs` row kept."""
    from jobs.report_job import cost_report_job  # lazy: the report pulls in jinja2 and matplotlib

    settings = load_settings(config_path)
    now = utcnow()
    db = open_db(settings.database)
    try:
        record_run(
            db,
            {"run_id": timed_run_id(db, "cost_report", now), "job": "cost_report"},
            lambda: cost_report_job(settings, now),
        )
    finally:
        db.close()


def build_scheduler(settings: Settings, config_path: Path | str) -> BlockingScheduler:
    """A UTC `BlockingScheduler` holding `funding_cycle` and `cost_report`, not started."""
    config_path = str(Path(config_path).resolve())
    options = {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": settings.schedule.misfire_grace_seconds,
    }
    scheduler = BlockingScheduler(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        executors={
            "default": ThreadPoolExecutor(WORKERS, pool_kwargs={"initializer": _signals_to_main_thread})
        },
        job_defaults=options,
    )
    jobs = {"funding_cycle": funding_cycle.funding_cycle_job, "cost_report": cost_report_run}
    for job_id, trigger in triggers(settings).items():
        scheduler.add_job(
            jobs[job_id],
            trigger,
            args=[config_path],
            id=job_id,
            name=job_id,
            replace_existing=True,
            **options,
        )
    return scheduler


def acquire_lock(database: Path | str) -> filelock.BaseFileLock:
    """Hold `<database>.lock` for this process, or raise `AlreadyRunning` naming the lock file."""
    path = f"{database}.lock"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise AlreadyRunning(f"another scheduler holds {path}") from None
    return lock


def _install_signal_handlers(scheduler: BlockingScheduler) -> None:
    """SIGTERM/SIGINT: no new window starts; the running one finishes; then the loop ends."""

    def handle(signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if funding_cycle.stop_requested():
            log.info("%s received again; still finishing the current step", name)
            return
        log.info("%s received: finishing the current step, then stopping", name)
        funding_cycle.request_stop()
        if scheduler.state != STATE_STOPPED:
            scheduler.shutdown(wait=True)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)


def run_scheduler(config_path: Path | str) -> None:
    """Run until SIGTERM/SIGINT: lock the database, catch up once, then fire on schedule."""
    settings = load_settings(config_path)
    lock = acquire_lock(settings.database)
    warning = unlisted_warning(settings.llm)
    if warning:
        log.warning("%s", warning)
    try:
        funding_cycle.clear_stop()
        scheduler = build_scheduler(settings, config_path)
        # The start-up catch-up runs inside the scheduler, so signals stop it like any other run.
        scheduler.add_job(
            funding_cycle.funding_cycle_job,
            "date",
            run_date=utcnow(),
            args=[str(Path(config_path).resolve())],
            id="catch_up",
            name="catch_up",
        )
        now = utcnow()
        log.info(
            "scheduler starting on %s (lock %s); next funding_cycle %s, next cost_report %s",
            settings.database,
            lock.lock_file,
            to_iso(next_fire_times(settings, now)[0]),
            to_iso(next_fire_times(settings, now, job="cost_report")[0]),
        )
        _install_signal_handlers(scheduler)
        if not funding_cycle.stop_requested():
            scheduler.start()
        log.info("scheduler stopped cleanly")
    finally:
        lock.release()
