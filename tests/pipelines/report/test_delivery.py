"""One delivery per report date (forced rebuilds, premature copies), the MIME shape mail clients
see, and the data-quality causes a trader reads: real SQLite, real aiosmtpd, parsed emails."""

from __future__ import annotations

import json
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from pipelines.report.data import build_report, run_report
from pipelines.report.render import CHART_CID
from tests.fixtures.smtp import mail_settings
from tests.pipelines.report.test_data import DAY, NOW, PNG_MAGIC, seed


@pytest.fixture
def seeded(db):
    seed(db)
    return db


def outbox(settings) -> list:
    return sorted(settings.mail.outbox_dir.glob("*.eml"))


def test_force_while_the_first_copy_waits_delivers_once(settings, seeded, smtp_server):
    settings = mail_settings(settings, smtp_server)
    smtp_server.stop()
    first = run_report(seeded, settings, DAY, NOW)
    assert first.status == "outboxed" and len(outbox(settings)) == 1
    smtp_server.start()
    forced = run_report(seeded, settings, DAY, NOW + timedelta(minutes=5), force=True)
    assert forced.status == "sent" and forced.drained == (0, 0)
    assert run_report(seeded, settings, DAY + timedelta(days=1), NOW + timedelta(days=1)).drained == (0, 0)
    dates = [r.message["Subject"][:33] for r in smtp_server.received]
    assert dates.count("arbdb LLM cost report 2024-03-01:") == 1
    assert seeded["reports"].get(first.report_id)["status"] == "withdrawn"
    assert seeded["reports"].get(forced.report_id)["status"] == "sent"


def test_a_premature_queued_report_is_withdrawn_and_never_blocks_the_real_one(settings, seeded, smtp_server):
    settings = mail_settings(settings, smtp_server)
    smtp_server.stop()
    early = run_report(seeded, settings, DAY, NOW - timedelta(days=1))  # made on the day itself
    assert early.status == "outboxed"
    smtp_server.start()
    real = run_report(seeded, settings, DAY, NOW)
    assert real.status == "sent" and real.report_id != early.report_id
    assert len(smtp_server.received) == 1 and outbox(settings) == []
    row = seeded["reports"].get(early.report_id)
    assert (row["status"], row["error"]) == ("withdrawn", "made before the day was over")
    assert run_report(seeded, settings, DAY, NOW + timedelta(hours=1)).status == "skipped"


def test_a_premature_sent_report_does_not_count_as_the_days_report(settings, seeded, smtp_server):
    settings = mail_settings(settings, smtp_server)
    assert run_report(seeded, settings, DAY, NOW - timedelta(hours=12)).status == "sent"
    assert run_report(seeded, settings, DAY, NOW).status == "sent"
    assert run_report(seeded, settings, DAY, NOW).status == "skipped"
    assert len(smtp_server.received) == 2


def test_the_chart_is_an_inline_related_part_of_the_received_mail(settings, seeded, smtp_server):
    run_report(seeded, mail_settings(settings, smtp_server), DAY, NOW)
    [got] = smtp_server.received
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html" and f"cid:{CHART_CID}" in html.get_content()
    assert image.get_content_type() == "image/png" and image["Content-ID"] == f"<{CHART_CID}>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content().startswith(PNG_MAGIC)
    assert [p for p in message.walk() if p.get_content_disposition() == "attachment"] == []


def test_an_outboxed_report_has_a_to_header_with_or_without_recipients(settings, seeded):
    run_report(seeded, settings, DAY, NOW)  # no recipients configured
    [path] = outbox(settings)
    assert message_from_bytes(path.read_bytes(), policy=policy.default)["To"] == "undisclosed-recipients:;"
    path.unlink()
    with_rcpt = settings.model_copy(
        update={"mail": settings.mail.model_copy(update={"recipients": ("ops@example.com",)})}
    )
    run_report(seeded, with_rcpt, DAY, NOW, force=True)
    [path] = outbox(settings)
    assert message_from_bytes(path.read_bytes(), policy=policy.default)["To"] == "ops@example.com"


def test_an_incomplete_window_names_its_real_causes(settings, db):
    full = {"expected_minutes": 480, "a_minutes": 480, "b_minutes": 480, "a_settled": 1}
    first = {"pair": "BTC", "window_start": "2024-03-01T00:00:00Z", "window_end": "2024-03-01T08:00:00Z"}
    second = {"pair": "BTC", "window_start": "2024-03-01T08:00:00Z", "window_end": "2024-03-01T16:00:00Z"}
    rows = [
        # Stored warnings name the cause: a missing settlement, all 480 of 480 minutes present.
        {**first, "complete": 0, **full, "b_settled": 0,
         "warnings": json.dumps(["Bitfinex settlement missing"])},
        # No warnings stored (an older version): the quality columns give the cause.
        {**second, "complete": 0, **full, "b_settled": 1, "a_minutes": 300, "warnings": None},
    ]  # fmt: skip
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    warnings = build_report(db, settings, DAY, NOW).warnings
    assert "BTC window ending 2024-03-01T08:00:00Z: incomplete: Bitfinex settlement missing" in warnings
    assert "BTC window ending 2024-03-01T16:00:00Z: incomplete: Gate 300 of 480 minutes" in warnings
    assert not any("too few minutes" in w for w in warnings)


def test_two_copies_queued_by_an_older_version_go_out_once(settings, seeded, smtp_server):
    from pipelines.report.mailer import deliver, drain_outbox
    from tests.pipelines.report.test_mailer import make_message

    for report_id, minute in ((1, 0), (2, 5)):  # what the old `--force` left behind
        seeded["reports"].insert(
            {"id": report_id, "created_at": f"2024-03-02T06:{minute:02d}:00Z", "report_date": "2024-03-01",
             "status": "pending"}
        )  # fmt: skip
        deliver(settings.mail, seeded, make_message(f"copy {report_id}"), report_id=report_id, now=NOW)
    assert drain_outbox(mail_settings(settings, smtp_server).mail, seeded) == (1, 0)
    assert [r.message["Subject"] for r in smtp_server.received] == ["copy 2"]
    assert seeded["reports"].get(1)["status"] == "withdrawn" and seeded["reports"].get(2)["status"] == "sent"
