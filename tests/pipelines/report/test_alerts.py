"""Alerts: which verdicts raise one, the log line each gets, and the one email per batch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pipelines.core.verdicts import Verdict
from pipelines.report.alerts import alert_message, is_alert, raise_alerts
from pipelines.report.outbox import UNDISCLOSED

NOW = datetime(2024, 3, 1, 8, 5, tzinfo=UTC)
OPEN = Verdict("BTC@2024-03-01T08:00:00Z", "LOW", "OPEN_ARB", 0.6, "Carry pays.", "BTC: net carry +40% APR")
RISKY = Verdict("ETH@2024-03-01T08:00:00Z", "HIGH", "HOLD", 0.7, "Dislocated.", "ETH: extreme move")
CALM = Verdict("SOL@2024-03-01T08:00:00Z", "MEDIUM", "WATCH", 0.5, "Nothing clear.", "SOL: flagged, watch")


def test_high_risk_or_open_arb_is_an_alert():
    assert is_alert(OPEN) and is_alert(RISKY) and not is_alert(CALM)


def test_each_alert_is_a_warning_line_and_no_mail_unless_asked(db, settings, caplog):
    with caplog.at_level(logging.WARNING, logger="pipelines.llm_alerts"):
        assert raise_alerts(settings.mail, db, [OPEN, CALM, RISKY], "rules", NOW) == 2
    btc, eth = (r.getMessage() for r in caplog.records)
    assert btc == "ALERT BTC@2024-03-01T08:00:00Z: LOW risk, OPEN_ARB (confidence 0.60, rules): " + OPEN.alert
    assert (
        eth == "ALERT ETH@2024-03-01T08:00:00Z: HIGH risk, HOLD (confidence 0.70, rules): ETH: extreme move"
    )
    assert not settings.mail.outbox_dir.exists()


def test_with_alerts_on_one_email_per_batch_waits_in_the_outbox(db, settings):
    mail = settings.mail.model_copy(update={"alerts": True})
    assert raise_alerts(mail, db, [OPEN, RISKY], "rules", NOW) == 2
    assert raise_alerts(mail, db, [CALM], "rules", NOW) == 0  # nothing to say: no email
    [eml] = list(mail.outbox_dir.glob("*.eml"))
    assert "-alert-" in eml.name and "ETH: extreme move" in eml.read_text()
    assert db["reports"].count == 0  # alerts have no `reports` row


def test_the_alert_email_names_the_first_verdict_and_counts_the_rest(settings):
    message = alert_message(settings.mail, [OPEN, RISKY], "deepseek-v3.2", NOW)
    assert message["Subject"] == "arbdb alert: BTC@2024-03-01T08:00:00Z LOW OPEN_ARB (+1 more)"
    assert message["To"] == UNDISCLOSED and message["From"] == settings.mail.sender
    body = message.get_content()
    assert "risk HIGH, action HOLD, confidence 0.70 (deepseek-v3.2)" in body and "ETH: extreme move" in body
    one = alert_message(settings.mail.model_copy(update={"recipients": ("ops@x.io",)}), [RISKY], "rules", NOW)
    assert one["Subject"] == "arbdb alert: ETH@2024-03-01T08:00:00Z HIGH HOLD" and one["To"] == "ops@x.io"
