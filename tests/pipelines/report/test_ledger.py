"""The `reports` ledger: one row per report made, one delivery per date, premature copies withdrawn."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest

from pipelines.core.errors import MailError
from pipelines.report.data import build_report
from pipelines.report.ledger import day_over, delivery, existing_report, record_report, withdraw_queued
from pipelines.report.mailer import deliver
from pipelines.report.outbox import claim

DAY = date(2024, 3, 1)
EARLY = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)  # before the day is over
LATE = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)


def _queue(db, settings, now: datetime) -> int:
    """A report of DAY made at `now`, waiting in the outbox (no SMTP in the test config)."""
    message = EmailMessage()
    message["Subject"], message["Message-ID"] = f"report made {now:%H:%M}", f"<{now:%H%M}@arbdb>"
    message.set_content("figures")
    report_id = record_report(
        db, settings.mail, build_report(db, settings, DAY, now), message["Subject"], message, now
    )
    assert deliver(settings.mail, db, message, report_id=report_id, now=now) == "outboxed"
    return report_id


def test_a_date_is_over_at_the_next_utc_midnight():
    assert day_over(DAY) == "2024-03-02T00:00:00Z"


def test_a_recorded_report_is_pending_with_its_period_and_recipients(db, settings):
    mail = settings.mail.model_copy(update={"recipients": ("a@x.io", "b@x.io")})
    message = EmailMessage()
    message["Message-ID"] = "<1@arbdb>"
    report_id = record_report(db, mail, build_report(db, settings, DAY, LATE), "subject", message, LATE)
    row = db["reports"].get(report_id)
    assert (row["status"], row["recipients"], row["message_id"]) == ("pending", "a@x.io, b@x.io", "<1@arbdb>")
    assert (row["report_date"], row["period_start"], row["period_end"]) == (
        "2024-03-01",
        "2024-02-24T00:00:00Z",
        "2024-03-02T00:00:00Z",
    )
    assert delivery(db, report_id) == {"delivery": "pending", "error": None} and delivery(db, 999) == {}


def test_a_premature_copy_never_counts_and_is_withdrawn_by_the_real_one(db, settings):
    early = _queue(db, settings, EARLY)
    assert existing_report(db, DAY) is None  # made before the day was over
    withdraw_queued(db, DAY, everything=False)
    assert db["reports"].get(early)["status"] == "withdrawn"
    assert db["reports"].get(early)["error"] == "made before the day was over"
    assert list(settings.mail.outbox_dir.glob("*.eml")) == []


def test_a_queued_real_report_is_the_existing_one_until_a_forced_rebuild_withdraws_it(db, settings):
    late = _queue(db, settings, LATE)
    assert existing_report(db, DAY) == {"id": late, "subject": "report made 06:30", "status": "outboxed"}
    withdraw_queued(db, DAY, everything=False)  # only premature copies: this one stays
    assert existing_report(db, DAY)["id"] == late
    withdraw_queued(db, DAY, everything=True)
    assert db["reports"].get(late)["error"] == "replaced by a newer copy" and existing_report(db, DAY) is None


def test_an_outboxed_report_whose_file_is_gone_is_made_again(db, settings):
    _queue(db, settings, LATE)
    [eml] = settings.mail.outbox_dir.glob("*.eml")
    eml.unlink()
    assert existing_report(db, DAY) is None


def test_a_copy_being_sent_right_now_cannot_be_withdrawn(db, settings):
    _queue(db, settings, LATE)
    [eml] = settings.mail.outbox_dir.glob("*.eml")
    assert claim(eml) is not None  # another process is sending it
    with pytest.raises(MailError, match="being sent right now by another process"):
        withdraw_queued(db, DAY, everything=True)
