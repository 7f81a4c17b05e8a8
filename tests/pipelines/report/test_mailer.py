"""Delivery through the outbox to a real SMTP server on loopback."""

from __future__ import annotations

import logging
import os
import ssl
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from pipelines.report.mailer import SmtpClient, deliver, drain_outbox
from pipelines.report.outbox import STALE_CLAIM_SECONDS
from tests.fixtures.smtp import SmtpServer, mail_settings, self_signed_cert

NOW = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)


def make_message(subject: str = "arbdb test") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "arbdb@example.com"
    message["Message-ID"] = make_msgid(domain="arbdb.test")
    message.set_content("hello\n")
    return message


def add_report_row(db, report_id: int = 1) -> int:
    db["reports"].insert(
        {
            "id": report_id,
            "created_at": "2024-03-02T06:30:00Z",
            "report_date": "2024-03-01",
            "status": "pending",
        }
    )
    return report_id


def outbox_files(settings) -> list[str]:
    return sorted(p.name for p in settings.mail.outbox_dir.glob("*.eml"))


def test_without_smtp_settings_the_message_waits_in_the_outbox(settings, db):
    message = make_message()
    assert deliver(settings.mail, db, message, kind="alert", now=NOW) == "outboxed"
    [name] = outbox_files(settings)
    assert name.startswith("20240302T063000Z-alert-")
    saved = (settings.mail.outbox_dir / name).read_text()
    assert message["Message-ID"] in saved
    assert drain_outbox(settings.mail, db) == (0, 1)


def test_delivers_to_every_recipient_and_empties_the_outbox(settings, db, smtp_server):
    settings = mail_settings(settings, smtp_server)
    message = make_message()
    assert deliver(settings.mail, db, message) == "sent"
    [got] = smtp_server.received
    assert got.rcpt_tos == ["ops@example.com", "desk@example.com"]
    assert got.mail_from == "arbdb@example.com"
    assert got.message["Message-ID"] == message["Message-ID"]
    assert got.message["To"] == "ops@example.com, desk@example.com"
    assert outbox_files(settings) == []


def test_server_down_then_up_delivers_exactly_once(settings, db, smtp_server, caplog):
    settings = mail_settings(settings, smtp_server)
    report_id = add_report_row(db)
    smtp_server.stop()
    with caplog.at_level(logging.WARNING, logger="pipelines.report.mailer"):
        assert deliver(settings.mail, db, make_message(), report_id=report_id, now=NOW) == "outboxed"
    assert outbox_files(settings) == ["20240302T063000Z-report-1.eml"]
    assert "stays in the outbox" in caplog.text
    row = db["reports"].get(report_id)
    assert (row["status"], row["attempts"]) == ("outboxed", 1)
    assert "ConnectionRefusedError" in row["error"]
    assert drain_outbox(settings.mail, db) == (0, 1)  # still down

    smtp_server.start()
    assert drain_outbox(settings.mail, db) == (1, 0)
    assert drain_outbox(settings.mail, db) == (0, 0)
    assert len(smtp_server.received) == 1
    row = db["reports"].get(report_id)
    assert (row["status"], row["attempts"], row["error"], row["eml_path"]) == ("sent", 3, None, None)
    assert row["sent_at"]


def test_drain_sends_oldest_first(settings, db, smtp_server):
    queued = mail_settings(settings, smtp_server, smtp_host=None)
    for hour, subject in ((7, "second"), (6, "first")):
        deliver(queued.mail, db, make_message(subject), kind="alert", now=NOW.replace(hour=hour))
    assert drain_outbox(mail_settings(settings, smtp_server).mail, db) == (2, 0)
    assert [r.message["Subject"] for r in smtp_server.received] == ["first", "second"]


def test_a_claimed_file_is_left_alone_until_the_claim_is_stale(settings, db, smtp_server):
    settings = mail_settings(settings, smtp_server)
    deliver(settings.mail.model_copy(update={"smtp_host": None}), db, make_message(), kind="alert")
    [name] = outbox_files(settings)
    path = settings.mail.outbox_dir / name
    claim = path.with_name(name + ".sending")
    os.rename(path, claim)  # as another process does while it sends
    assert drain_outbox(settings.mail, db) == (0, 0)
    assert smtp_server.received == []

    old = time.time() - STALE_CLAIM_SECONDS - 1
    os.utime(claim, (old, old))  # that process died mid-send
    assert drain_outbox(settings.mail, db) == (1, 0)
    assert len(smtp_server.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_refused_login_keeps_the_message_and_never_logs_the_password(settings, db, caplog):
    server = SmtpServer(password="right-password").start()
    try:
        settings = mail_settings(settings, server, username="arbdb", password="wrong-password")
        with caplog.at_level(logging.DEBUG):
            assert deliver(settings.mail, db, make_message()) == "outboxed"
        assert "login as 'arbdb' refused" in caplog.text
        assert "wrong-password" not in caplog.text
        assert server.received == []

        settings = mail_settings(settings, server, username="arbdb", password="right-password")
        assert drain_outbox(settings.mail, db) == (1, 0)
        assert len(server.received) == 1
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_a_trusted_certificate(settings, db, tmp_path, security):
    cert, key = self_signed_cert(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server = SmtpServer(tls_context=server_tls, implicit_tls=security == "ssl").start()
    try:
        settings = mail_settings(settings, server, security=security)
        client = SmtpClient(settings.mail, ssl_context=ssl.create_default_context(cafile=str(cert)))
        assert deliver(settings.mail, db, make_message(), client=client) == "sent"
        assert len(server.received) == 1
        # Without trusting the certificate the handshake fails and the message waits.
        assert deliver(settings.mail, db, make_message()) == "outboxed"
        assert len(outbox_files(settings)) == 1
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_unreachable_server_is_one_clear_line(settings, db, smtp_server, caplog, security):
    settings = mail_settings(settings, smtp_server, security=security)
    smtp_server.stop()
    with caplog.at_level(logging.WARNING, logger="pipelines.report.mailer"):
        assert deliver(settings.mail, db, make_message(), kind="alert") == "outboxed"
    [record] = caplog.records
    assert f"127.0.0.1:{smtp_server.port}" in record.getMessage()
