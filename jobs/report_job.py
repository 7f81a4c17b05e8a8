"""The nightly cost report: the scheduler's job function and the body of `arbdb report`.

Both open the store, call `pipelines.report.data.run_report` for one UTC day and close it. A dry run
opens the existing store read-only (`pipelines.store.open_readonly`), so it writes nothing at all;
without a database it fails, like `status` and `windows`, instead of reporting an empty day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pipelines.config.settings import Settings
from pipelines.core.errors import MailError
from pipelines.report.data import run_report
from pipelines.report.model import ReportResult
from pipelines.report.outbox import DEAD_DIR
from pipelines.store import open_db, open_readonly
from pipelines.venues.history import check_range


def yesterday(now: datetime) -> date:
    """The UTC day before `now`: the day a nightly report covers."""
    return (now.astimezone(UTC) - timedelta(days=1)).date()


def cost_report_job(settings: Settings, now: datetime) -> dict:
    """Report on yesterday (UTC), after sending whatever waits in the outbox; counts for `runs`."""
    result = report_command(settings, now)
    return {
        "report_date": result.report_date.isoformat(),
        "status": result.status,
        "report_id": result.report_id,
        "outbox_sent": result.drained[0],
        "outbox_waiting": result.drained[1],
    }


def report_command(
    settings: Settings,
    now: datetime,
    report_date: date | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> ReportResult:
    """Run the report for `report_date` (default yesterday UTC); `dry_run` renders only.

    A day that is not over yet (today or later, UTC) is refused: its report would be incomplete."""
    report_date = report_date or yesterday(now)
    check_range(report_date, report_date + timedelta(days=1), latest_end=now.astimezone(UTC).date())
    db = open_readonly(settings.database) if dry_run else open_db(settings.database)
    try:
        return run_report(db, settings, report_date, now, dry_run=dry_run, force=force)
    finally:
        db.close()


def check_delivered(result: ReportResult, settings: Settings) -> None:
    """Raise MailError when SMTP is configured and the report was not delivered (exit 1)."""
    if not settings.mail.configured or result.delivery not in ("outboxed", "dead"):
        return
    day, where = result.report_date, settings.mail.outbox_dir
    if result.delivery == "dead":
        raise MailError(
            f"report {day} was rejected for good and moved to {where / DEAD_DIR}: {result.error}; "
            f"fix the cause, then run `arbdb report --date {day} --force`"
        )
    raise MailError(
        f"report {day} not sent: {result.error or 'sending failed'}; it stays in {where} "
        "and is sent on the next run"
    )


def describe(result: ReportResult, settings: Settings) -> str:
    """One line for the terminal saying what happened to the report."""
    day = result.report_date
    if result.status == "sent":
        return f"report {day} sent to {', '.join(settings.mail.recipients)} (id {result.report_id})"
    if result.status == "outboxed":
        why = "sending failed" if settings.mail.configured else "no SMTP settings"
        return f"report {day} kept in {settings.mail.outbox_dir} ({why}); it is sent on the next run"
    return f"report {day} already sent or waiting in the outbox (id {result.report_id}); --force remakes it"
