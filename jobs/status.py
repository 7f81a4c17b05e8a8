"""`arbdb status`: is the pipeline keeping up? Usable from cron or a health check via its exit code.

A pair is *behind* when more than one window that closed at least `schedule.delay_minutes` ago is
not recorded done (one is tolerated: it may be running or waiting for Tardis), or when no window
was ever done. A pair is *failing* when its latest run failed. Either makes the exit code 1, and
so does a message in the outbox's dead-letter folder (the SMTP server rejected it for good).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlite_utils

from jobs.scheduler import next_fire_times, triggers
from pipelines.analyze.ledger import calls_on_day
from pipelines.config.settings import Pair, Settings
from pipelines.core.timeutil import parse_iso, to_iso, utcnow
from pipelines.core.window import last_closed_window
from pipelines.flows.runs import CYCLE_JOB, INTERRUPTED, done_windows, recent_runs, run_jobs, shown_status
from pipelines.report.outbox import outbox_state
from pipelines.store import open_readonly, row_counts

RUNS_SHOWN = 5


def _duration(row: dict) -> float | None:
    # An interrupted run's finished_at is when it was found dead: how long it ran is unknown.
    if not (row.get("started_at") and row.get("finished_at")) or row.get("status") == INTERRUPTED:
        return None
    return (parse_iso(row["finished_at"]) - parse_iso(row["started_at"])).total_seconds()


def last_runs(
    db: sqlite_utils.Database, limit: int = RUNS_SHOWN, now: datetime | None = None
) -> dict[str, list[dict]]:
    """The latest `limit` runs of every job, newest first, with their duration in seconds.

    A `running` row whose process is gone is shown as `interrupted` (see `pipelines.flows.runs`), as the
    next run will record it."""
    out = {}
    for job in run_jobs(db):
        rows = [{**row, "status": shown_status(row, now or utcnow())} for row in recent_runs(db, job, limit)]
        out[job] = [{**row, "duration_seconds": _duration(row)} for row in rows]
    return out


def _latest_run(db: sqlite_utils.Database, pair: Pair, now: datetime) -> dict | None:
    row = next(iter(recent_runs(db, CYCLE_JOB, 1, pair=pair.name)), None)
    if row is None:
        return None
    return {"window_end": row["window_end"], "status": shown_status(row, now), "error": row["error"]}


def pair_lag(db: sqlite_utils.Database, settings: Settings, pair: Pair, now: datetime) -> dict:
    """Latest closed vs latest done window of `pair`, in windows, and whether that is too far."""
    hours = pair.window_hours
    period = timedelta(hours=hours)
    closed = last_closed_window(now, hours)
    due = last_closed_window(now - timedelta(minutes=settings.schedule.delay_minutes), hours)
    done = done_windows(db, pair).latest()
    latest = _latest_run(db, pair, now)
    lag = due_lag = None
    if done:
        lag = max(0, (closed.end - parse_iso(done)) // period)
        due_lag = max(0, (due.end - parse_iso(done)) // period)
    return {
        "latest_closed": to_iso(closed.end),
        "latest_done": done,
        "lag_windows": lag,
        "lag_hours": lag * hours if lag is not None else None,
        "last_run": latest,
        "behind": due_lag is None or due_lag > 1,
        "failing": bool(latest and latest["status"] == "failed"),
    }


def llm_today(db: sqlite_utils.Database, settings: Settings, now: datetime) -> dict:
    """LLM spend of the UTC day holding `now` against the daily budget."""
    spent, calls = calls_on_day(db, now)
    return {
        "spend_today_usd": round(spent, 6),
        "budget_usd": settings.llm.daily_budget_usd,
        "calls_today": calls,
    }


def _problems(pairs: dict[str, dict]) -> list[str]:
    out = []
    for name, info in pairs.items():
        if info["latest_done"] is None:
            out.append(f"{name}: no window done yet")
        elif info["behind"]:
            out.append(f"{name}: behind by {info['lag_windows']} windows (latest done {info['latest_done']})")
        if info["failing"]:
            run = info["last_run"]
            out.append(f"{name}: latest run failed (window {run['window_end']}): {run['error']}")
    return out


def collect_status(db: sqlite_utils.Database, settings: Settings, now: datetime) -> dict:
    """Everything `arbdb status` shows, as plain JSON-ready data."""
    pairs = {pair.name: pair_lag(db, settings, pair, now) for pair in settings.pairs}
    outbox = outbox_state(settings.mail.outbox_dir)
    problems = _problems(pairs)
    if outbox["dead"]:
        problems.append(f"outbox: {outbox['dead']} message(s) rejected for good in {outbox['dir']}/dead")
    return {
        "now": to_iso(now),
        "healthy": not problems,
        "problems": problems,
        "pairs": pairs,
        "jobs": last_runs(db, now=now),
        "next_fire_times": {
            job: to_iso(next_fire_times(settings, now, job=job)[0]) for job in triggers(settings)
        },
        "rows": row_counts(db),
        "llm": llm_today(db, settings, now),
        "outbox": outbox,
    }


def status_exit_code(status: dict) -> int:
    """0 when every pair is up to date, its latest run did not fail and no mail is dead, else 1."""
    return 0 if status["healthy"] else 1


def _fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def format_table(status: dict) -> str:
    """The status as aligned text for a terminal."""
    lines = [f"arbdb status at {status['now']}: {'OK' if status['healthy'] else 'NOT OK'}", "", "pairs:"]
    for name, p in status["pairs"].items():
        last = p["last_run"]["status"] if p["last_run"] else "-"
        lag = "-" if p["lag_windows"] is None else f"{p['lag_windows']} window(s)"
        lines.append(
            f"  {name:<8} latest closed {p['latest_closed']}  latest done {p['latest_done'] or '-':<20}"
            f"  lag {lag:<12} last run {last}"
        )
    lines += ["", "last runs:"]
    for job, runs in status["jobs"].items():
        for run in runs:
            where = f"{run['pair'] or ''} {run['window_end'] or ''}".strip() or "-"
            lines.append(
                f"  {job:<14} {where:<30} {run['status']:<8} {_fmt_seconds(run['duration_seconds']):>8}"
                f"  started {run['started_at']}" + (f"  error: {run['error']}" if run["error"] else "")
            )
    lines += ["", "next fire times:"]
    lines += [f"  {job:<14} {when}" for job, when in status["next_fire_times"].items()]
    width = max(map(len, status["rows"]), default=0)
    lines += ["", "rows:"] + [f"  {table:<{width}} {count:>10,}" for table, count in status["rows"].items()]
    llm, outbox = status["llm"], status["outbox"]
    lines += [
        "",
        f"LLM spend today: ${llm['spend_today_usd']:.4f} of ${llm['budget_usd']:.2f}"
        f" ({llm['calls_today']} calls)",
        f"outbox: {outbox['messages']} message(s) in {outbox['dir']} ({outbox['sending']} being sent),"
        f" {outbox['dead']} dead letter(s)",
    ]
    if status["problems"]:
        lines += ["", "problems:"] + [f"  - {problem}" for problem in status["problems"]]
    return "\n".join(lines)


def status_report(settings: Settings, fmt: str = "table", now: datetime | None = None) -> tuple[str, int]:
    """The rendered status (`table` or `json`) and the exit code, for the CLI."""
    db = open_readonly(settings.database)  # status writes nothing: works on a read-only database
    try:
        status = collect_status(db, settings, now or utcnow())
    finally:
        db.close()
    text = json.dumps(status, indent=2) if fmt == "json" else format_table(status)
    return text, status_exit_code(status)
