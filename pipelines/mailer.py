"""Mail delivery through an outbox: every message is on disk before any SMTP attempt.

`deliver` writes the message to `mail.outbox_dir` as `<timestamp>-<kind>-<id>.eml` (temp file +
`os.replace`, so a crash never leaves half a message), then sends it if SMTP is configured and
removes the file. A failed send logs one line and leaves the file; `drain_outbox` resends it on the
next run. Nothing is lost.

Sent at most once: the Message-ID is set once when the message is composed, and a file is claimed by
renaming it to `.sending` before the attempt, so two processes draining the same outbox never both
send it. Only a crash between the server's acceptance and the removal of the file can repeat a
message; such a stale claim is put back after `STALE_CLAIM_SECONDS`, because a duplicate with the same
Message-ID (which mail clients fold) is better than a lost report.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
import time
import uuid
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import sqlite_utils

from pipelines.errors import MailError
from pipelines.settings import Mail, Settings
from pipelines.timeutil import to_iso, utcnow

log = logging.getLogger(__name__)

STALE_CLAIM_SECONDS = 3600
_NAME = re.compile(r"^(?P<ts>\d{8}T\d{6}Z)-(?P<kind>[a-z0-9_]+)-(?P<id>[A-Za-z0-9]+)\.eml$")


class SmtpClient:
    """One SMTP connection per message, as configured in `mail` (STARTTLS, SSL or plain)."""

    def __init__(self, mail: Mail, ssl_context: ssl.SSLContext | None = None):
        self.mail = mail
        # Injectable so tests can trust a self-signed loopback certificate.
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        """Send `message` to the configured recipients, or raise MailError saying why."""
        mail = self.mail
        where = f"{mail.smtp_host}:{mail.smtp_port}"
        if "To" not in message:  # queued before recipients were configured
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
        except smtplib.SMTPRecipientsRefused:
            raise MailError(f"{where} refused every recipient") from None
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
    settings: Settings,
    db: sqlite_utils.Database,
    message: EmailMessage,
    kind: str = "report",
    report_id: int | None = None,
    *,
    send: bool = True,
    client: SmtpClient | None = None,
    now: datetime | None = None,
) -> str:
    """Put `message` in the outbox, then send it if SMTP is configured; "sent" or "outboxed".

    `report_id` ties the message to its row in `reports`, whose status follows the delivery.
    `send=False` only queues the message for the next `drain_outbox`.
    """
    path = write_outbox(settings.mail.outbox_dir, message, kind, str(report_id or uuid.uuid4().hex[:12]), now)
    _record(db, path, status="outboxed", eml_path=str(path))
    if not (send and settings.mail.configured):
        if send:
            log.info("mail: no SMTP settings; %s kept in the outbox at %s", kind, path)
        return "outboxed"
    return "sent" if _send_file(settings, db, path, client) else "outboxed"


def drain_outbox(
    settings: Settings, db: sqlite_utils.Database, client: SmtpClient | None = None
) -> tuple[int, int]:
    """Send every message waiting in the outbox, oldest first; (sent, still waiting)."""
    outbox = Path(settings.mail.outbox_dir)
    if not outbox.is_dir():
        return 0, 0
    _release_stale_claims(outbox)
    waiting = sorted(outbox.glob("*.eml"))
    if not waiting or not settings.mail.configured:
        return 0, len(waiting)
    sent = 0
    for path in waiting:
        if _send_file(settings, db, path, client):
            sent += 1
        elif path.exists():
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


def _send_file(settings: Settings, db: sqlite_utils.Database, path: Path, client: SmtpClient | None) -> bool:
    """Claim, send and remove one outbox file; False (file put back) when sending failed."""
    claim = path.with_name(path.name + ".sending")
    try:
        os.rename(path, claim)
    except FileNotFoundError:
        return False  # another process took it
    os.utime(claim)
    message = BytesParser(policy=policy.default).parsebytes(claim.read_bytes())
    try:
        (client or SmtpClient(settings.mail)).send(message)
    except MailError as err:
        os.rename(claim, path)
        log.warning("mail: %s stays in the outbox: %s", path.name, err)
        _record(db, path, status="outboxed", error=str(err), attempted=True)
        return False
    claim.unlink()
    log.info("mail: sent %s to %d recipient(s)", path.name, len(settings.mail.recipients))
    _record(db, path, status="sent", sent_at=to_iso(utcnow()), error=None, eml_path=None, attempted=True)
    return True


def _release_stale_claims(outbox: Path) -> None:
    for claim in outbox.glob("*.eml.sending"):
        if time.time() - claim.stat().st_mtime > STALE_CLAIM_SECONDS:
            log.warning("mail: %s was claimed but never finished; it goes out again", claim.name)
            os.rename(claim, claim.with_name(claim.name.removesuffix(".sending")))


def _record(db: sqlite_utils.Database, path: Path, attempted: bool = False, **changes) -> None:
    """Mirror a report file's delivery status into its `reports` row (alerts have no row)."""
    match = _NAME.match(path.name)
    if not match or match["kind"] != "report" or not match["id"].isdigit():
        return
    report_id = int(match["id"])
    row = db.execute("SELECT attempts FROM reports WHERE id = ?", [report_id]).fetchone()
    if row is None:
        return
    if attempted:
        changes["attempts"] = (row[0] or 0) + 1
    db["reports"].update(report_id, changes)
