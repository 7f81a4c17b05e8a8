"""The cost report from a seeded SQLite file: figures, text, HTML, chart, message and delivery."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from pipelines.core.timeutil import to_iso
from pipelines.report.data import build_report, run_report
from pipelines.report.render import CHART_CID, compose_message, render_chart, render_report
from tests.fixtures.smtp import mail_settings

DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def call(ts, model="deepseek-v3.2", status="ok", tokens=(1200, 300), cost=0.0005, latency=900.0, **extra):
    return {
        "ts": ts, "run_id": "r", "model": model, "batch_size": 4, "window_ids": "[]",
        "prompt_tokens": tokens[0], "completion_tokens": tokens[1], "cost_usd": cost,
        "latency_ms": latency, "status": status, "error": extra.get("error"),
    }  # fmt: skip


def window_rows() -> list[dict]:
    """BTC and ETH 8-hour windows from 2024-02-24 to 2024-03-01 (ETH misses 2024-03-01 16:00-24:00)."""
    rows = []
    start = datetime(2024, 2, 24, tzinfo=UTC)
    for i in range(21):
        begin = start + timedelta(hours=8 * i)
        for n, pair in enumerate(("BTC", "ETH")):
            if pair == "ETH" and i == 20:
                continue
            diff = 0.0001 * (1 + n) * (1 if i % 3 else -0.5) + 0.00002 * i
            rows.append({
                "pair": pair, "window_start": to_iso(begin), "window_end": to_iso(begin + timedelta(hours=8)),
                "complete": 0 if (pair, i) == ("BTC", 18) else 1, "flagged": int(i in (18, 19)),
                "reasons": "[]", "features_hash": f"h{pair}{i}", "funding_diff": diff,
                "carry_apr": diff * 1095, "net_carry_apr": diff * 1095 - 0.1,
                "warnings": json.dumps(["gate mark stale for 75 min"]) if (pair, i) == ("ETH", 19) else None,
            })  # fmt: skip
    return rows


def verdict(pair, window_end, action, risk, created_at, prompt_version="v1", alert=""):
    return {
        "pair": pair, "window_end": window_end, "prompt_version": prompt_version, "risk": risk,
        "action": action, "confidence": 0.8, "rationale": "carry wide", "alert": alert,
        "model": "deepseek-v3.2", "feature_hash": "h", "run_id": "r", "created_at": created_at,
    }  # fmt: skip


def seed(db) -> None:
    db["llm_calls"].insert_all([
        call("2024-03-01T00:20:00Z", latency=800.0),
        call("2024-03-01T08:20:00Z", latency=1200.0),
        call("2024-03-01T16:20:00Z", latency=2000.0, tokens=(3000, 700), cost=0.0012),
        call("2024-03-01T16:21:00Z", model="gpt-4.1", status="error", tokens=(0, 0), cost=0.0, latency=None,
             error="HTTP 503"),
        call("2024-03-01T23:59:59Z", status="skipped", tokens=(0, 0), cost=0.0, latency=None),
        call("2024-02-27T08:20:00Z", model="gpt-4.1", cost=0.0084, latency=3000.0),
        call("2024-02-23T23:59:59Z", cost=5.0),  # before the 7 days
        call("2024-03-02T00:00:00Z", cost=7.0),  # after the report day
    ])  # fmt: skip
    db["windows"].upsert_all(window_rows(), pk=("pair", "window_end"), alter=True)
    db["verdicts"].insert_all([
        verdict("BTC", "2024-03-01T08:00:00Z", "HOLD", "LOW", "2024-03-01T08:20:00Z"),
        verdict("BTC", "2024-03-01T16:00:00Z", "HOLD", "LOW", "2024-03-01T16:20:00Z"),
        verdict("BTC", "2024-03-01T16:00:00Z", "OPEN_ARB", "MEDIUM", "2024-03-01T16:25:00Z", "v2",
                alert="BTC carry 30 % APR after fees"),
        verdict("ETH", "2024-03-01T16:00:00Z", "WATCH", "HIGH", "2024-03-01T16:20:00Z"),
        verdict("ETH", "2024-02-27T16:00:00Z", "WATCH", "LOW", "2024-02-27T16:20:00Z"),
    ])  # fmt: skip
    db["runs"].insert_all([
        {"run_id": "a", "job": "funding_cycle", "started_at": "2024-03-01T08:15:00Z", "status": "done",
         "counts": json.dumps({"windows": 2, "cached": 3})},
        {"run_id": "b", "job": "funding_cycle", "started_at": "2024-02-27T08:15:00Z", "status": "done",
         "counts": json.dumps({"cached": 1})},
        {"run_id": "c", "job": "funding_cycle", "started_at": "2024-03-01T16:15:00Z", "status": "failed",
         "error": "ExtractError: gate-io-futures 2024-03-01 timed out", "counts": None},
    ])  # fmt: skip


@pytest.fixture
def seeded(db):
    seed(db)
    return db


def test_figures_cover_the_day_and_the_seven_days(settings, seeded):
    data = build_report(seeded, settings, DAY, NOW)
    day, week = data.day, data.week
    assert (day.start, day.end) == (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))
    assert week.start == datetime(2024, 2, 24, tzinfo=UTC)
    assert day.total["calls"] == 4 and day.total["skipped"] == 1 and day.total["errors"] == 1
    assert day.total["cost_usd"] == pytest.approx(0.0022)
    assert day.total["prompt_tokens"] == 5400 and day.total["completion_tokens"] == 1300
    [deepseek, gpt] = day.models
    assert deepseek["model"] == "deepseek-v3.2" and deepseek["calls"] == 3
    assert deepseek["p50_ms"] == 1200 and deepseek["p95_ms"] == pytest.approx(1920)
    assert gpt["errors"] == 1 and gpt["p50_ms"] is None
    assert week.total["cost_usd"] == pytest.approx(0.0106)
    assert data.budget_used == pytest.approx(0.0022 / 2.0)
    assert (day.cache_hits, week.cache_hits, data.cache_hits_recorded) == (3, 4, True)


def test_windows_verdicts_and_top_opportunities(settings, seeded):
    data = build_report(seeded, settings, DAY, NOW)
    assert (data.day.windows, data.week.windows) == (5, 41)
    assert (data.day.flagged, data.week.flagged) == (4, 4)
    # the v2 verdict replaces v1 for BTC 16:00
    assert data.day.by_action == {"OPEN_ARB": 1, "WATCH": 1, "HOLD": 1}
    assert data.day.by_risk == {"HIGH": 1, "MEDIUM": 1, "LOW": 1}
    assert data.week.by_action["WATCH"] == 2
    top = data.top
    assert len(top) == settings.report.top_n
    aprs = [o["net_carry_apr"] for o in top]
    assert aprs == sorted(aprs, reverse=True)
    assert top[0]["pair"] == "ETH"
    btc_16 = next(o for o in top if (o["pair"], o["window_end"]) == ("BTC", "2024-03-01T16:00:00Z"))
    assert btc_16["action"] == "OPEN_ARB" and btc_16["alert"].startswith("BTC carry")


def test_data_quality_warnings(settings, seeded):
    warnings = build_report(seeded, settings, DAY, NOW).warnings
    assert "ETH: 2 of 3 windows stored for the day" in warnings
    assert "BTC window ending 2024-03-01T08:00:00Z: incomplete: cause not recorded" in warnings
    assert "ETH window ending 2024-03-01T16:00:00Z: gate mark stale for 75 min" in warnings
    assert any(w.startswith("run c failed: ExtractError") for w in warnings)


def test_text_and_html_carry_the_figures_with_units(settings, seeded):
    subject, text, html = render_report(build_report(seeded, settings, DAY, NOW))
    assert subject == "arbdb LLM cost report 2024-03-01: 0.0022 USD"
    budget = "Budget used on the day: 0.0022 USD of 2.0000 USD (0.1 %)"
    for needle in (
        "cost USD",
        "p95 ms",
        "deepseek-v3.2",
        budget,
        "net carry APR %",
        "OPEN_ARB",
        "gate mark stale",
    ):
        assert needle in text, needle
    assert "no call): day 3, 7 days 4." in text
    assert f'src="cid:{CHART_CID}"' in html
    assert "<th>cost (USD)</th>" in html and "BTC carry 30 % APR after fees" in html
    assert "<td>1,920</td>" in html  # deepseek p95 latency, ms


def test_html_is_escaped(settings, db):
    db["llm_calls"].insert(call("2024-03-01T10:00:00Z", model="<script>x</script>"))
    _, text, html = render_report(build_report(db, settings, DAY, NOW))
    assert "<script>x</script>" in text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_empty_database_gives_a_valid_report(settings, db):
    data = build_report(db, settings, DAY, NOW)
    assert not data.active
    subject, text, html = render_report(data)
    assert subject == "arbdb LLM cost report 2024-03-01: 0.0000 USD"
    assert "No activity" in text and "No activity" in html
    assert "not recorded by any run" in text
    assert "BTC: 0 of 3 windows stored for the day" in text
    assert render_chart(data).startswith(PNG_MAGIC)


def test_chart_is_a_png_with_both_panels(settings, seeded):
    png = render_chart(build_report(seeded, settings, DAY, NOW))
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 640)  # two stacked panels at 100 dpi


def test_message_is_alternative_with_inline_chart(settings, seeded):
    settings = settings.model_copy(
        update={"mail": settings.mail.model_copy(update={"recipients": ("a@x.io",)})}
    )
    data = build_report(seeded, settings, DAY, NOW)
    subject, text, html = render_report(data)
    message = compose_message(settings.mail, subject, text, html, render_chart(data), now=NOW)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == "a@x.io" and parsed["Message-ID"]
    plain, related = parsed.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png" and image["Content-ID"] == f"<{CHART_CID}>"
    assert image.get_content().startswith(PNG_MAGIC)
    assert parsed.get_body(("html",)).get_content() == html


def test_run_report_sends_once_and_records_it(settings, seeded, smtp_server):
    settings = mail_settings(settings, smtp_server)
    result = run_report(seeded, settings, DAY, NOW)
    assert result.status == "sent"
    [got] = smtp_server.received
    assert got.message["Subject"] == "arbdb LLM cost report 2024-03-01: 0.0022 USD"
    assert got.rcpt_tos == list(settings.mail.recipients)
    row = seeded["reports"].get(result.report_id)
    assert row["status"] == "sent" and row["report_date"] == "2024-03-01"
    assert row["recipients"] == "ops@example.com, desk@example.com"
    assert row["message_id"] == got.message["Message-ID"]
    assert row["cost_usd"] == pytest.approx(0.0022)

    again = run_report(seeded, settings, DAY, NOW)
    assert again.status == "skipped" and again.report_id == result.report_id
    assert len(smtp_server.received) == 1
    forced = run_report(seeded, settings, DAY, NOW, force=True)
    assert forced.status == "sent" and len(smtp_server.received) == 2


def test_server_down_then_up_outbox_drained_one_delivery(settings, seeded, smtp_server):
    settings = mail_settings(settings, smtp_server)
    smtp_server.stop()
    first = run_report(seeded, settings, DAY, NOW)
    assert first.status == "outboxed"
    assert len(list(settings.mail.outbox_dir.glob("*.eml"))) == 1
    row = seeded["reports"].get(first.report_id)
    assert row["status"] == "outboxed" and "ConnectionRefusedError" in row["error"]

    smtp_server.start()
    # Next night: the waiting report goes first, then the new day's report.
    second = run_report(seeded, settings, DAY + timedelta(days=1), NOW + timedelta(days=1))
    assert second.drained == (1, 0) and second.status == "sent"
    subjects = [r.message["Subject"] for r in smtp_server.received]
    assert subjects == [
        "arbdb LLM cost report 2024-03-01: 0.0022 USD",
        "arbdb LLM cost report 2024-03-02: 7.0000 USD",
    ]
    assert seeded["reports"].get(first.report_id)["status"] == "sent"
    assert run_report(seeded, settings, DAY, NOW).status == "skipped"
    assert len(smtp_server.received) == 2


def test_without_smtp_the_report_waits_and_is_not_made_twice(settings, seeded):
    first = run_report(seeded, settings, DAY, NOW)
    assert first.status == "outboxed"
    assert run_report(seeded, settings, DAY, NOW).status == "skipped"
    assert len(list(settings.mail.outbox_dir.glob("*.eml"))) == 1
    assert [r["status"] for r in seeded["reports"].rows] == ["outboxed"]


def test_dry_run_writes_nothing(settings, seeded):
    result = run_report(seeded, settings, DAY, NOW, dry_run=True)
    assert result.status == "dry-run" and "LLM USAGE" in result.text
    assert seeded["reports"].count == 0
    assert not settings.mail.outbox_dir.exists()
