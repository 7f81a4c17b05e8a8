"""Alerts: a new HIGH-risk or OPEN_ARB verdict is surfaced at once.

Always a WARNING log line per verdict; with `mail.alerts` on, one email per stored batch through
`pipelines.report.mailer.deliver` (SMTP, or the outbox when mail is not configured). A mail problem is
logged and never stops the analysis: the verdicts are already stored.

Alerting is delivery, so it lives here; the analyze stage calls it through the `Alerts` callback the
flow hands it (`alerter`), never by import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import sqlite_utils

from pipelines.config.settings import Mail
from pipelines.core.errors import ArbdbError
from pipelines.core.verdicts import Verdict
from pipelines.report.mailer import deliver
from pipelines.report.outbox import UNDISCLOSED

log = logging.getLogger(__name__)


def is_alert(verdict: Verdict) -> bool:
    return verdict.risk == "HIGH" or verdict.action == "OPEN_ARB"


def raise_alerts(
    mail: Mail, db: sqlite_utils.Database, verdicts: Sequence[Verdict], model: str, now: datetime
) -> int:
    """Log (and optionally email) the alert-worthy verdicts among `verdicts`; how many there were."""
    hits = [v for v in verdicts if is_alert(v)]
    for v in hits:
        log.warning(
            "ALERT %s: %s risk, %s (confidence %.2f, %s): %s",
            v.id,
            v.risk,
            v.action,
            v.confidence,
            model,
            v.alert,
        )
    if hits and mail.alerts:
        _email(mail, db, hits, model, now)
    return len(hits)


def alerter(mail: Mail, db: sqlite_utils.Database, now: datetime) -> Callable[[Sequence[Verdict], str], int]:
    """`raise_alerts` bound to a run's mail settings, database and clock: the analyze stage's `alerts`."""
    return lambda verdicts, model: raise_alerts(mail, db, verdicts, model, now)


def alert_message(mail: Mail, verdicts: Sequence[Verdict], model: str, now: datetime) -> EmailMessage:
    """The alert email for `verdicts` (plain text)."""
    first = verdicts[0]
    more = f" (+{len(verdicts) - 1} more)" if len(verdicts) > 1 else ""
    msg = EmailMessage()
    msg["Subject"] = f"arbdb alert: {first.id} {first.risk} {first.action}{more}"
    msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.recipients) if mail.recipients else UNDISCLOSED
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain="arbdb")
    blocks = [
        f"{v.id}\n  risk {v.risk}, action {v.action}, confidence {v.confidence:.2f} ({model})\n"
        f"  {v.alert}\n  {v.rationale}"
        for v in verdicts
    ]
    msg.set_content("\n\n".join(blocks) + "\n")
    return msg


def _email(mail: Mail, db: sqlite_utils.Database, hits: Sequence[Verdict], model: str, now: datetime) -> None:
    try:
        outcome = deliver(mail, db, alert_message(mail, hits, model, now), kind="alert")
    except (ArbdbError, OSError) as err:
        log.warning("alert email not sent: %s", err)
        return
    log.info("alert email for %d verdict(s): %s", len(hits), outcome)
