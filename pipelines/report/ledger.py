"""The `reports` table: one row per report made, and the rules that keep one delivery per date.

A report date is delivered once. A copy made before its day was over (premature) never counts and
is withdrawn from the outbox when the real one is made; a forced rebuild withdraws the copy still
queued. Withdrawn rows keep their history with status `withdrawn`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from pipelines.config.settings import Mail
from pipelines.core.errors import MailError
from pipelines.core.timeutil import day_start, to_iso
from pipelines.report.outbox import is_queued, withdraw
from pipelines.store import reports

if TYPE_CHECKING:
    from pipelines.report.model import ReportData

log = logging.getLogger(__name__)


def delivery(db: sqlite_utils.Database, report_id: int) -> dict:
    """`delivery` (the row's status) and `error` of a report row, as ReportResult fields."""
    row = reports.status(db, report_id)
    return {"delivery": row[0], "error": row[1]} if row else {}


def day_over(report_date: date) -> str:
    """The ISO time a report on `report_date` may be made from: the end of that UTC day."""
    return to_iso(day_start(report_date) + timedelta(days=1))


def withdraw_queued(db: sqlite_utils.Database, report_date: date, everything: bool) -> None:
    """Withdraw queued copies of the date's report: every one (`everything`) or premature ones."""
    made_before = None if everything else day_over(report_date)
    for report_id, eml_path in reports.queued(db, report_date.isoformat(), made_before):
        if eml_path and not withdraw(Path(eml_path)):
            raise MailError(
                f"report {report_id} for {report_date} is being sent right now by another process; "
                "run the report again in a minute"
            )
        why = "replaced by a newer copy" if everything else "made before the day was over"
        reports.update(db, report_id, {"status": "withdrawn", "eml_path": None, "error": why})
        log.info("report %s for %s withdrawn from the outbox: %s", report_id, report_date, why)


def existing_report(db: sqlite_utils.Database, report_date: date) -> dict | None:
    """The last report of that date made after the day was over that is sent, dead-lettered, or
    outboxed with its file still there."""
    rows = reports.delivered(db, report_date.isoformat(), day_over(report_date))
    for report_id, subject, status, eml_path in rows:
        if status != "outboxed" or (eml_path and is_queued(Path(eml_path))):
            return {"id": report_id, "subject": subject, "status": status}
        log.warning("report %s was outboxed but its file %s is gone; making it again", report_id, eml_path)
    return None


def record_report(db, mail: Mail, data: ReportData, subject: str, message, now: datetime) -> int:
    """Insert the `reports` row of a report about to be delivered; its id."""
    row = {
        "created_at": to_iso(now),
        "report_date": data.report_date.isoformat(),
        "period_start": to_iso(data.week.start),
        "period_end": to_iso(data.week.end),
        "subject": subject,
        "status": "pending",
        "recipients": ", ".join(mail.recipients),
        "message_id": message["Message-ID"],
        "attempts": 0,
        "cost_usd": data.day.total["cost_usd"],
    }
    return reports.insert(db, row)
