"""The report's cost-per-tier section from a seeded ledger: cost per tier for the day and the 7
days, the gateway-reported cost beside ours, a note where they differ, nothing for one tier."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pipelines.report.data import build_report
from pipelines.report.render import render_report

DAY = date(2024, 3, 1)
NOW = datetime(2024, 3, 2, 6, 30, tzinfo=UTC)


def call(ts, tier, model, cost, gateway=None, status="ok"):
    return {
        "ts": ts, "run_id": "r", "model": model, "batch_size": 2, "window_ids": "[]", "prompt_tokens": 900,
        "completion_tokens": 200, "cost_usd": cost, "latency_ms": 700.0, "status": status, "tier": tier,
        "gateway_cost_usd": gateway,
    }  # fmt: skip


def section(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("LLM COST PER TIER")
    end = lines.index("WINDOWS AND VERDICTS")
    return [line for line in lines[start:end] if line.strip()]


def test_two_tiers_show_their_cost_and_a_gateway_cost_that_differs(settings, db):
    db["llm_calls"].insert_all([
        call("2024-03-01T08:20:00Z", 1, "deepseek-v3.2", 0.0010, gateway=0.0010),
        call("2024-03-01T16:20:00Z", 1, "deepseek-v3.2", 0.0020, gateway=0.0020),
        call("2024-03-01T16:21:00Z", 2, "gpt-4.1", 0.0100, gateway=0.0150),
        call("2024-03-01T16:22:00Z", 2, "gpt-4.1", 0.0, status="skipped"),
        call("2024-02-27T08:20:00Z", None, "deepseek-v3.2", 0.0040),  # before tiers: tier 1
    ])  # fmt: skip
    _, text, html = render_report(build_report(db, settings, DAY, NOW))
    got = [" ".join(line.split()) for line in section(text)]
    assert got == [
        "LLM COST PER TIER",
        "Day:",
        "tier models calls cost USD gateway USD",
        "1 deepseek-v3.2 2 0.0030 0.0030",
        "2 gpt-4.1 1 0.0100 0.0150",
        "Tier 2: the gateway reported 0.0150 USD for calls the configured prices put at 0.0100 USD "
        "(check llm.prices).",
        "7 days:",
        "tier models calls cost USD gateway USD",
        "1 deepseek-v3.2 3 0.0070 0.0030",
        "2 gpt-4.1 1 0.0100 0.0150",
        "Tier 2: the gateway reported 0.0150 USD for calls the configured prices put at 0.0100 USD "
        "(check llm.prices).",
        "Cost USD is from the configured llm.prices (what the budget counts); gateway USD is what the "
        "gateway reported, n/a when it reported none.",
    ]
    assert "<h2>LLM cost per tier</h2>" in html and "<td>gpt-4.1</td>" not in html
    assert '<td style="text-align:left">gpt-4.1</td><td>1</td><td>0.0100</td><td>0.0150</td>' in html


def test_one_tier_without_gateway_costs_adds_no_section(settings, db):
    db["llm_calls"].insert_all([call("2024-03-01T08:20:00Z", 1, "deepseek-v3.2", 0.0010)])
    _, text, html = render_report(build_report(db, settings, DAY, NOW))
    assert "PER TIER" not in text and "per tier" not in html
