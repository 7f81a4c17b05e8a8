"""Claims, permanent rejections and dead letters of the outbox, against a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

from pipelines.report.mailer import deliver, drain_outbox
from pipelines.report.outbox import MAX_REJECTIONS, outbox_state
from tests.fixtures.smtp import CollectingHandler, SmtpServer, mail_settings
from tests.pipelines.report.test_mailer import NOW, add_report_row, make_message, outbox_files


class RejectingHandler(CollectingHandler):
    """Refuses (with `reply`) every message whose Subject contains "bad"; accepts the others."""

    def __init__(self, reply: str = "554 5.6.0 message content rejected"):
        super().__init__()
        self.reply = reply
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if b"bad" in envelope.original_content.split(b"\r\n\r\n", 1)[0]:
            self.refused += 1
            return self.reply
        return await super().handle_DATA(server, session, envelope)


def rejecting_server(reply: str = "554 5.6.0 message content rejected") -> SmtpServer:
    server = SmtpServer()
    server.handler = RejectingHandler(reply)
    return server.start()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def queue(settings, db, subject: str, hour: int, report_id: int | None = None) -> None:
    queued = settings.model_copy(update={"mail": settings.mail.model_copy(update={"smtp_host": None})})
    deliver(queued.mail, db, make_message(subject), report_id=report_id, now=NOW.replace(hour=hour))


def test_a_permanent_rejection_is_dead_lettered_after_bounded_tries_and_holds_nothing_back(settings, db):
    server = rejecting_server()
    try:
        settings = mail_settings(settings, server)
        report_id = add_report_row(db)
        queue(settings, db, "bad report", 5, report_id)
        queue(settings, db, "good alert", 6)
        # The first drain refuses the bad one, and still sends the one behind it.
        assert drain_outbox(settings.mail, db) == (1, 1)
        assert [r.message["Subject"] for r in server.received] == ["good alert"]
        for _ in range(MAX_REJECTIONS - 1):
            drain_outbox(settings.mail, db)
        assert server.handler.refused == MAX_REJECTIONS
        assert outbox_files(settings) == []
        dead = settings.mail.outbox_dir / "dead"
        [eml] = sorted(dead.glob("*.eml"))
        assert eml.name == "20240302T053000Z-report-1.eml"
        reason = (dead / (eml.name + ".reason")).read_text()
        assert f"rejected {MAX_REJECTIONS} times" in reason and "554" in reason
        row = db["reports"].get(report_id)
        assert row["status"] == "dead" and row["eml_path"] == str(eml) and "554" in row["error"]
        assert row["attempts"] == MAX_REJECTIONS
        # Dead letters are not retried.
        assert drain_outbox(settings.mail, db) == (0, 0) and server.handler.refused == MAX_REJECTIONS
        assert outbox_state(settings.mail.outbox_dir)["dead"] == 1
    finally:
        server.stop()


def test_a_temporary_rejection_is_retried_forever_and_stops_the_drain(settings, db):
    server = rejecting_server("451 4.3.0 try again later")
    try:
        settings = mail_settings(settings, server)
        queue(settings, db, "bad alert", 5)
        queue(settings, db, "good alert", 6)
        for _ in range(MAX_REJECTIONS + 2):
            assert drain_outbox(settings.mail, db) == (0, 2)
        assert server.received == [] and not (settings.mail.outbox_dir / "dead").exists()
    finally:
        server.stop()


def test_refused_recipients_are_permanent_and_dead_lettered(settings, db):
    class NoSuchUser(CollectingHandler):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 5.1.1 no such user"

    server = SmtpServer()
    server.handler = NoSuchUser()
    server.start()
    try:
        settings = mail_settings(settings, server)
        assert deliver(settings.mail, db, make_message(), kind="alert") == "outboxed"
        for _ in range(MAX_REJECTIONS - 1):
            drain_outbox(settings.mail, db)
        assert outbox_state(settings.mail.outbox_dir)["dead"] == 1
        [reason] = (settings.mail.outbox_dir / "dead").glob("*.reason")
        assert "ops@example.com: 550 5.1.1 no such user" in reason.read_text()
    finally:
        server.stop()


def test_a_claim_whose_owner_died_is_released_at_once(settings, db, smtp_server):
    settings = mail_settings(settings, smtp_server)
    queue(settings, db, "interrupted", 5)
    [name] = outbox_files(settings)
    path = settings.mail.outbox_dir / name
    host = socket.gethostname().replace(".", "-")
    claim = path.with_name(f"{name}.{host}.{dead_pid()}.sending")
    os.rename(path, claim)  # as a sender killed mid-send leaves it
    assert outbox_state(settings.mail.outbox_dir) | {"dir": None} == {
        "dir": None,
        "messages": 1,
        "sending": 1,
        "dead": 0,
    }
    assert drain_outbox(settings.mail, db) == (1, 0)
    assert [r.message["Subject"] for r in smtp_server.received] == ["interrupted"]
    assert list(settings.mail.outbox_dir.iterdir()) == []


def test_a_claim_of_a_live_owner_is_left_alone(settings, db, smtp_server):
    settings = mail_settings(settings, smtp_server)
    queue(settings, db, "being sent", 5)
    [name] = outbox_files(settings)
    path = settings.mail.outbox_dir / name
    host = socket.gethostname().replace(".", "-")
    os.rename(path, path.with_name(f"{name}.{host}.{os.getppid()}.sending"))
    assert drain_outbox(settings.mail, db) == (0, 0)
    assert smtp_server.received == []


class StallingHandler(CollectingHandler):
    """Holds the first DATA for a long time (the sender gets killed meanwhile), accepts later ones."""

    def __init__(self):
        super().__init__()
        self.stalled = False

    async def handle_DATA(self, server, session, envelope):
        if not self.stalled:
            self.stalled = True
            await asyncio.sleep(30)
            return "451 4.3.0 too late"
        return await super().handle_DATA(server, session, envelope)


DRAIN = """
import sys
from pipelines.report.mailer import drain_outbox
from pipelines.config.settings import load_settings
from pipelines.store import open_db
settings = load_settings(sys.argv[1], env={})
drain_outbox(settings.mail, open_db(settings.database))
"""


def test_a_sender_killed_mid_send_leaves_a_claim_the_next_drain_releases_at_once(config_file, settings, db):
    server = SmtpServer()
    server.handler = StallingHandler()
    server.start()
    try:
        config_file.write_text(
            config_file.read_text().replace(
                "mail:\n",
                f"mail:\n  smtp_host: 127.0.0.1\n  smtp_port: {server.port}\n  security: none\n"
                "  recipients: [ops@example.com]\n  timeout_seconds: 60\n",
            )
        )
        queue(settings, db, "interrupted report", 5)
        sender = subprocess.Popen([sys.executable, "-c", DRAIN, str(config_file)])
        outbox = settings.mail.outbox_dir
        deadline = time.monotonic() + 30
        while not server.handler.stalled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.handler.stalled, "the sender never reached DATA"
        [claim] = outbox.glob("*.sending")
        assert claim.name.endswith(f".{sender.pid}.sending")
        sender.kill()
        sender.wait()
        assert outbox_state(outbox)["messages"] == 1  # status still sees it
        mail = mail_settings(settings, server, recipients=("ops@example.com",)).mail
        assert drain_outbox(mail, db) == (1, 0)
        assert [r.message["Subject"] for r in server.received] == ["interrupted report"]
        assert list(outbox.glob("*.sending")) == []
    finally:
        server.stop()


def test_a_refused_sender_is_permanent_and_the_report_row_says_dead(settings, db):
    class SenderRefused(CollectingHandler):
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            return "553 5.7.1 sender not allowed"

    server = SmtpServer()
    server.handler = SenderRefused()
    server.start()
    try:
        settings = mail_settings(settings, server)
        report_id = add_report_row(db)
        assert deliver(settings.mail, db, make_message(), report_id=report_id, now=NOW) == "outboxed"
        drain_outbox(settings.mail, db)
        drain_outbox(settings.mail, db)
        row = db["reports"].get(report_id)
        assert row["status"] == "dead" and "refused the sender: 553" in row["error"]
    finally:
        server.stop()
