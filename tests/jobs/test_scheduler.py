"""Fire times with fixed clocks (no scheduler running, no sleeping) and the jobs as registered."""

from __future__ import annotations

import json
import pickle
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given
from hypothesis import strategies as st

from jobs.scheduler import build_scheduler, cost_report_run, funding_offsets, next_fire_times
from pipelines.config.settings import Pair, Schedule, Settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def with_schedule(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update={"schedule": Schedule(**{**settings.schedule.model_dump(), **changes})})


def with_pair(settings: Settings, hours: float) -> Settings:
    legs = ["gate-io-futures:SOL_USDT", "bitfinex-derivatives:SOLF0:USTF0"]
    extra = Pair(name="SOL", legs=legs, interval_hours={"gate-io-futures": hours}, window_hours=hours)
    return settings.model_copy(update={"pairs": (*settings.pairs, extra)})


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2024-03-01T08:00:00", "2024-03-01T08:15:00"),  # exactly on the funding time
        ("2024-03-01T08:14:59", "2024-03-01T08:15:00"),
        ("2024-03-01T08:15:00", "2024-03-01T08:15:00"),  # a fire exactly at now counts
        ("2024-03-01T08:15:00.000001", "2024-03-01T16:15:00"),
        ("2024-03-01T07:59:59", "2024-03-01T08:15:00"),
        ("2024-03-01T00:00:00", "2024-03-01T00:15:00"),
        ("2024-03-01T16:15:01", "2024-03-02T00:15:00"),
        ("2024-03-01T23:59:00", "2024-03-02T00:15:00"),
        ("2024-02-29T23:59:59", "2024-03-01T00:15:00"),  # leap day into March
        ("2024-01-31T16:30:00", "2024-02-01T00:15:00"),  # month boundary
        ("2024-12-31T23:59:00", "2025-01-01T00:15:00"),  # year boundary
    ],
)
def test_funding_cycle_fires_at_funding_times_plus_delay(settings, now, expected):
    assert next_fire_times(settings, at(now)) == [at(expected)]


def test_a_day_of_fire_times(settings):
    fires = next_fire_times(settings, at("2024-03-01T00:00:00"), n=4)
    assert fires == [
        at(t) for t in ("2024-03-01T00:15", "2024-03-01T08:15", "2024-03-01T16:15", "2024-03-02T00:15")
    ]
    assert all(f.tzinfo is not None and f.utcoffset() == timedelta(0) for f in fires)


@pytest.mark.parametrize(
    ("delay", "now", "expected"),
    [
        (75, "2024-03-01T08:00:00", ["2024-03-01T09:15", "2024-03-01T17:15", "2024-03-02T01:15"]),
        (0, "2024-03-01T08:00:00", ["2024-03-01T08:00", "2024-03-01T16:00", "2024-03-02T00:00"]),
        (470, "2024-03-01T00:00:00", ["2024-03-01T07:50", "2024-03-01T15:50", "2024-03-01T23:50"]),
        (480, "2024-12-31T23:00:00", ["2025-01-01T00:00", "2025-01-01T08:00", "2025-01-01T16:00"]),
    ],
)
def test_delays_crossing_hours_and_days(settings, delay, now, expected):
    fires = next_fire_times(with_schedule(settings, delay_minutes=delay), at(now), n=3)
    assert fires == [at(t) for t in expected]


def test_windows_shorter_than_8_hours_make_the_cycle_hourly(settings):
    fires = next_fire_times(with_pair(settings, 4), at("2024-03-01T00:00:00"), n=4)
    assert fires == [
        at(t) for t in ("2024-03-01T00:15", "2024-03-01T01:15", "2024-03-01T02:15", "2024-03-01T03:15")
    ]
    assert len(funding_offsets(with_pair(settings, 8))) == 3  # 8 h windows only: 00/08/16


def test_intervals_off_the_hour_combine_triggers(settings):
    settings = with_pair(settings, 1.5)
    assert funding_offsets(settings)[:3] == [15 * 60, 75 * 60, 105 * 60]  # hourly, and each 1.5 h end
    fires = next_fire_times(settings, at("2024-03-01T22:00:00"), n=3)
    assert fires == [at(t) for t in ("2024-03-01T22:15", "2024-03-01T22:45", "2024-03-01T23:15")]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2024-03-01T06:29:59", "2024-03-01T06:30:00"),
        ("2024-03-01T06:30:00", "2024-03-01T06:30:00"),
        ("2024-03-01T06:30:01", "2024-03-02T06:30:00"),
        ("2024-12-31T23:59:00", "2025-01-01T06:30:00"),
    ],
)
def test_cost_report_fires_nightly(settings, now, expected):
    assert next_fire_times(settings, at(now), job="cost_report") == [at(expected)]


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_next_fire_is_the_first_funding_time_plus_delay(naive):
    settings = Settings(pairs=(Pair(name="BTC", gate_symbol="BTC_USDT", bitfinex_symbol="BTCF0:USTF0"),))
    now = naive.replace(tzinfo=UTC)
    (fire,) = next_fire_times(settings, now)
    funding_time = fire - timedelta(minutes=settings.schedule.delay_minutes)
    assert now <= fire < now + timedelta(hours=8)
    assert funding_time.hour % 8 == 0 and (funding_time.minute, funding_time.second) == (0, 0)


def test_build_scheduler_registers_plain_module_level_jobs(settings, config_file):
    scheduler = build_scheduler(settings, config_file)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"funding_cycle", "cost_report"}
    assert str(scheduler.timezone) == "UTC"
    assert isinstance(scheduler._lookup_jobstore("default"), MemoryJobStore)
    assert jobs["funding_cycle"].func_ref == "jobs.funding_cycle:funding_cycle_job"
    assert jobs["cost_report"].func_ref == "jobs.scheduler:cost_report_run"
    for job in jobs.values():
        assert job.args == (str(Path(config_file).resolve()),)
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time == settings.schedule.misfire_grace_seconds
        # what a persistent job store would keep: a textual function reference and plain values
        pickle.dumps((job.func_ref, job.trigger, job.args, job.kwargs))


def test_registered_triggers_agree_with_next_fire_times(settings, config_file):
    settings = with_schedule(with_pair(settings, 1.5), delay_minutes=20, report_time="23:05")
    jobs = {job.id: job for job in build_scheduler(settings, config_file).get_jobs()}
    assert isinstance(jobs["funding_cycle"].trigger, OrTrigger)
    assert isinstance(jobs["cost_report"].trigger, CronTrigger)
    now = at("2024-06-30T22:59:00")
    for job_id, job in jobs.items():
        assert job.trigger.get_next_fire_time(None, now) == next_fire_times(settings, now, job=job_id)[0]


def test_the_scheduled_cost_report_keeps_a_runs_row(settings, config_file, db):
    cost_report_run(str(config_file))
    (row,) = db["runs"].rows_where("job = ?", ["cost_report"])
    assert row["status"] == "done", row["error"]
    assert row["run_id"].startswith("cost_report:") and row["finished_at"] >= row["started_at"]
    assert json.loads(row["counts"])["status"] == "outboxed"  # no SMTP configured: kept in the outbox


def test_worker_threads_leave_stop_signals_to_the_main_thread(settings, config_file):
    scheduler = build_scheduler(settings, config_file)
    executor = scheduler._lookup_executor("default")
    executor.start(scheduler, "default")
    try:
        blocked = executor._pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []).result(timeout=10)
    finally:
        executor.shutdown()
    assert {signal.SIGTERM, signal.SIGINT} <= blocked
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # main thread unchanged
