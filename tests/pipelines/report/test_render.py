"""Rendering a report from an empty store: zero figures, a chart all the same, a message to nobody yet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from pipelines.report.data import build_report
from pipelines.report.outbox import UNDISCLOSED
from pipelines.report.render import CHART_CID, compose_message, render_chart, render_report

DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)


def test_an_empty_day_renders_with_zero_cost_and_the_chart_cid(db, settings):
    subject, text, html = render_report(build_report(db, settings, DAY, NOW))
    assert subject == "arbdb LLM cost report 2024-03-01: 0.0000 USD"
    assert subject in text and "verdicts, action OPEN_ARB" in text
    assert f"cid:{CHART_CID}" in html and "<table" in html


def test_the_actions_and_risks_are_listed_most_urgent_first(db, settings):
    _, text, _ = render_report(build_report(db, settings, DAY, NOW))
    actions = [line.split()[2] for line in text.splitlines() if line.startswith("verdicts, action")]
    risks = [line.split()[2] for line in text.splitlines() if line.startswith("verdicts, risk")]
    assert actions == ["OPEN_ARB", "WATCH", "HOLD"] and risks == ["HIGH", "MEDIUM", "LOW"]


def test_an_empty_chart_is_still_a_png(db, settings):
    assert render_chart(build_report(db, settings, DAY, NOW)).startswith(b"\x89PNG\r\n\x1a\n")


def test_without_recipients_the_message_goes_to_the_empty_group_and_has_no_date_unless_given(db, settings):
    data = build_report(db, settings, DAY, NOW)
    subject, text, html = render_report(data)
    undated = compose_message(settings.mail, subject, text, html, render_chart(data))
    assert undated["To"] == UNDISCLOSED and undated["Date"] is None
    assert undated["From"] == settings.mail.sender and undated["Subject"] == subject
    dated = message_from_bytes(
        compose_message(settings.mail, subject, text, html, b"png", now=NOW).as_bytes(), policy=policy.default
    )
    assert dated["Date"] == "Sat, 02 Mar 2024 06:30:00 +0000"
