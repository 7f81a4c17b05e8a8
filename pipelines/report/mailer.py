"""Mail delivery through an outbox: every message is on disk before any SMTP attempt.

`deliver` writes the message to `mail.outbox_dir` as `<timestamp>-<kind>-<id>.eml` (temp file +
`os.replace`, so a crash never leaves half a message), then sends it if SMTP is configured and
removes the file. A failed send logs one line and leaves the file; `drain_outbox` resends it on the
next run. Nothing is lost.

Sent at most once: the Message-ID is set once when the message is composed, and a file is claimed
before the attempt (`pipelines.report.outbox`), so two processes draining the same outbox never both send
it. A permanent rejection (5xx to MAIL, RCPT or DATA) is the message's own problem: the drain goes
on with the next one, and after `MAX_REJECTIONS` the message goes to the dead-letter folder. A
temporary one (4xx, connection, login) stops the drain, since the rest would fail the same way; it
is retried on every run.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
import uuid
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import sqlite_utils

from pipelines.config.settings import Mail
from pipelines.core.errors import MailError
from pipelines.core.timeutil import to_iso, utcnow
from pipelines.report import outbox as box
from pipelines.store import reports

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<ts>\d{8}T\d{6}Z)-(?P<kind>[a-z0-9_]+)-(?P<id>[A-Za-z0-9]+)\.eml$")


class MailRejected(MailError):
    """The server refused this message for good (5xx to MAIL, RCPT or DATA); resending will not help."""


class SmtpClient:
    """One SMTP connection per message, as configured in `mail` (STARTTLS, SSL or plain)."""

    def __init__(self, mail: Mail, ssl_context: ssl.SSLContext | None = None):
        self.mail = mail
        # Injectable so tests can trust a self-signed loopback certificate.
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        """Send `message` to the configured recipients, or raise MailError (MailRejected) saying why."""
        mail = self.mail
        where = f"{mail.smtp_host}:{mail.smtp_port}"
        if message.get("To") in (None, box.UNDISCLOSED):  # queued before recipients were configured
            del message["To"]
            message["To"] = ", ".join(mail.recipients)
        try:
            with self._connect() as smtp:
                if mail.security == "starttls":
                    smtp.starttls(context=self.ssl_context)
                if mail.username:
                    smtp.login(mail.username, mail.password)
                refused = smtp.send_message(message, from_addr=mail.sender, to_addrs=list(mail.recipients))
        except smtplib.SMTPAuthenticationError as err:
            raise MailError(f"SMTP login as {mail.username!r} refused by {where} ({err.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as err:
            codes = sorted({code for code, _ in err.recipients.values()})
            error = MailRejected if all(c >= 500 for c in codes) else MailError
            raise error(f"{where} refused every recipient ({_replies(err.recipients)})") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
            error = MailRejected if err.smtp_code >= 500 else MailError
            step = "sender" if isinstance(err, smtplib.SMTPSenderRefused) else "message"
            raise error(f"{where} refused the {step}: {err.smtp_code} {_text(err.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise MailError(f"cannot send through {where}: {type(err).__name__}: {err}") from None
        if refused:
            # The others already have it: resending would duplicate, so only report.
            log.warning("mail: %s refused %s", where, ", ".join(sorted(refused)))

    def _connect(self) -> smtplib.SMTP:
        mail = self.mail
        if mail.security == "ssl":
            return smtplib.SMTP_SSL(
                mail.smtp_host, mail.smtp_port, timeout=mail.timeout_seconds, context=self.ssl_context
            )
        return smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.timeout_seconds)


def deliver(
    mail: Mail,
    db: sqlite_utils.Database,
    message: EmailMessage,
    kind: str = "report",
    report_id: int | None = None,
    *,
    send: bool = True,
    client: SmtpClient | None = None,
    now: datetime | None = None,
) -> str:
    """Put `message` in the outbox, then send it if SMTP is configured: "sent", "outboxed" or "dead".

    `report_id` ties the message to its row in `reports`, whose status follows the delivery.
    `send=False` only queues the message for the next `drain_outbox`.
    """
    path = write_outbox(mail.outbox_dir, message, kind, str(report_id or uuid.uuid4().hex[:12]), now)
    _record(db, path, status="outboxed", eml_path=str(path))
    if not (send and mail.configured):
        if send:
            log.info("mail: no SMTP settings; %s kept in the outbox at %s", kind, path)
        return "outboxed"
    outcome = _send_file(mail, db, path, client)
    return outcome if outcome in ("sent", "dead") else "outboxed"


def drain_outbox(mail: Mail, db: sqlite_utils.Database, client: SmtpClient | None = None) -> tuple[int, int]:
    """Send every message waiting in the outbox, oldest first; (sent, still waiting)."""
    outbox = Path(mail.outbox_dir)
    if not outbox.is_dir():
        return 0, 0
    box.release_stale_claims(outbox)
    waiting = sorted(outbox.glob("*.eml"))
    if not waiting or not mail.configured:
        return 0, len(waiting)
    sent = 0
    for path in waiting:
        outcome = _send_file(mail, db, path, client)
        sent += outcome == "sent"
        if outcome == "failed":
            # The server is unreachable or refuses us: the rest would fail the same way.
            break
    remaining = len(list(outbox.glob("*.eml")))
    log.info("mail: outbox drained, %d sent, %d waiting", sent, remaining)
    return sent, remaining


def write_outbox(
    outbox_dir: Path, message: EmailMessage, kind: str, ident: str, now: datetime | None = None
) -> Path:
    """Write `message` atomically to `outbox_dir` as `<timestamp>-<kind>-<ident>.eml`."""
    outbox = Path(outbox_dir)
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = to_iso(now or utcnow()).replace("-", "").replace(":", "")
    path = outbox / f"{stamp}-{kind}-{ident}.eml"
    fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes(policy=policy.SMTP))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _send_file(mail: Mail, db: sqlite_utils.Database, path: Path, client: SmtpClient | None) -> str:
    """Claim, send and remove one outbox file: "sent", "failed" (put back), "rejected" (put back,
    a permanent refusal counted), "dead" (moved to the dead-letter folder) or "gone" (taken)."""
    claimed = box.claim(path)
    if claimed is None:
        return "gone"  # another process took it
    if _superseded(db, path):
        claimed.unlink()
        log.warning("mail: %s not sent: a newer copy of that report replaces it", path.name)
        _record(db, path, status="withdrawn", eml_path=None, error="replaced by a newer copy")
        return "gone"
    message = BytesParser(policy=policy.default).parsebytes(claimed.read_bytes())
    try:
        (client or SmtpClient(mail)).send(message)
    except MailError as err:
        os.rename(claimed, path)
        return _failed(db, path, err)
    claimed.unlink()
    box.clear_rejections(path)
    log.info("mail: sent %s to %d recipient(s)", path.name, len(mail.recipients))
    _record(db, path, status="sent", sent_at=to_iso(utcnow()), error=None, eml_path=None, attempted=True)
    return "sent"


def _failed(db: sqlite_utils.Database, path: Path, err: MailError) -> str:
    if not isinstance(err, MailRejected):
        log.warning("mail: %s stays in the outbox: %s", path.name, err)
        _record(db, path, status="outboxed", error=str(err), attempted=True)
        return "failed"
    count = box.note_rejection(path, str(err))
    if count < box.MAX_REJECTIONS:
        log.warning("mail: %s rejected (%d of %d tries): %s", path.name, count, box.MAX_REJECTIONS, err)
        _record(db, path, status="outboxed", error=str(err), attempted=True)
        return "rejected"
    reason = f"rejected {count} times, last: {err}"
    dead = box.bury(path, reason)
    log.error("mail: %s moved to the dead-letter folder %s: %s", path.name, dead.parent, reason)
    _record(db, path, status="dead", error=reason, eml_path=str(dead), attempted=True)
    return "dead"


def _replies(recipients: dict) -> str:
    return "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in sorted(recipients.items()))


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _report_id(path: Path) -> int | None:
    match = _NAME.match(path.name)
    if not match or match["kind"] != "report" or not match["id"].isdigit():
        return None
    return int(match["id"])


def _superseded(db: sqlite_utils.Database, path: Path) -> bool:
    """Whether a report file has a newer copy for its date, made after the day was over: two
    copies can wait together in an outbox filled by an older version, and only one may go out."""
    report_id = _report_id(path)
    return report_id is not None and reports.has_newer_copy(db, report_id)


def _record(db: sqlite_utils.Database, path: Path, attempted: bool = False, **changes) -> None:
    """Mirror a report file's delivery status into its `reports` row (alerts have no row)."""
    report_id = _report_id(path)
    if report_id is None:
        return
    row = reports.attempts(db, report_id)
    if row is None:
        return
    if attempted:
        changes["attempts"] = (row[0] or 0) + 1
    reports.update(db, report_id, changes)
