"""Tiered analysis against a real SQLite file and the loopback gateway answering per model:
tier 2 sees only the windows tier 1's verdict sends it, keeps tier 1's verdict when it fails or
its budget is spent, and a rerun calls no tier."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from pipelines.analyze.stage import analyze_range, make_client
from pipelines.report.alerts import alerter
from tests.fixtures.llm import tiered_settings
from tests.fixtures.llm_server import Reply, default_verdict, verdicts_json
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
START, END = date(2024, 3, 1), date(2024, 3, 10)
NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)
TRIAGE, STRONG = "deepseek-v3.2", "gpt-4.1"
TWO_TIERS = [{"model": TRIAGE}, {"model": STRONG, "when": ["OPEN_ARB", "HIGH"]}]
# The strong model's standing answer: calmer than triage, so its verdicts are told apart.
CALM = Reply(content=lambda ids: verdicts_json(ids, risk="MEDIUM", action="WATCH", confidence=0.9))


def seed(db, cycles=6, pairs=("BTC", "ETH")) -> list[str]:
    rows = sample_windows(pairs, FIRST_END, cycles, seed=11)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    return [f"{r['pair']}@{r['window_end']}" for r in rows if r["flagged"]]


def escalated(ids: list[str]) -> list[str]:
    """The windows whose triage verdict (the server's default) is OPEN_ARB or HIGH."""
    return [
        i for i in ids if default_verdict(i)["action"] == "OPEN_ARB" or default_verdict(i)["risk"] == "HIGH"
    ]


def analyze(db, settings, run_id="run-1", **kw):
    client = make_client(settings, backoff_base=0.01)
    alerts = alerter(settings.mail, db, NOW)
    return analyze_range(db, settings, START, END, None, run_id, NOW, client=client, alerts=alerts, **kw)


def final(db) -> dict[str, dict]:
    return {f"{v['pair']}@{v['window_end']}": v for v in db["verdicts"].rows}


def test_only_the_windows_tier_1_escalates_reach_tier_2_and_its_verdict_is_stored(db, settings, llm_server):
    ids = seed(db)
    up = escalated(ids)
    assert 0 < len(up) < len(ids), "the sample should escalate some windows, not all"
    llm_server.answer(STRONG, CALM)
    cfg = tiered_settings(settings, llm_server, TWO_TIERS, batch_size=4)
    result = analyze(db, cfg)
    assert sorted(llm_server.asked(TRIAGE)) == sorted(ids)
    assert sorted(llm_server.asked(STRONG)) == sorted(up)
    verdicts = final(db)
    assert {i for i, v in verdicts.items() if v["model"] == STRONG} == set(up)
    for ident in up:
        v = verdicts[ident]
        assert (v["tier"], v["risk"], v["action"], json.loads(v["models"])) == (
            2,
            "MEDIUM",
            "WATCH",
            [TRIAGE, STRONG],
        )
    for ident in set(ids) - set(up):
        v, want = verdicts[ident], default_verdict(ident)
        assert (v["tier"], v["action"], json.loads(v["models"])) == (1, want["action"], [TRIAGE])
    tiers = {(t["pair"], t["window_end"], t["tier"]): t for t in db["verdict_tiers"].rows}
    assert len(tiers) == len(ids) + len(up)  # every tier's verdict is kept
    first = tiers[(up[0].split("@")[0], up[0].split("@")[1], 1)]
    assert (first["model"], first["action"], first["risk"]) == (
        TRIAGE, default_verdict(up[0])["action"], default_verdict(up[0])["risk"],
    )  # fmt: skip
    ledger = list(db["llm_calls"].rows)
    assert {c["tier"] for c in ledger if c["model"] == STRONG} == {2}
    assert {c["tier"] for c in ledger if c["model"] == TRIAGE} == {1}
    assert result.analysed == len(ids) and result.failed == 0
    assert [(t.tier, t.windows, t.analysed) for t in result.tiers] == [
        (1, len(ids), len(ids)),
        (2, len(up), len(up)),
    ]
    assert result.alerts == 0  # tier 2 overruled every alert tier 1 would have raised
    assert result.counts()["tiers"][1]["model"] == STRONG


def test_a_rerun_calls_no_tier(db, settings, llm_server):
    ids = seed(db)
    cfg = tiered_settings(settings, llm_server, TWO_TIERS)
    analyze(db, cfg)
    before, rows = len(llm_server.requests), db["verdicts"].count
    again = analyze(db, cfg, run_id="run-2")
    assert len(llm_server.requests) == before and again.calls == 0 and db["verdicts"].count == rows
    assert [(t.cached, t.analysed) for t in again.tiers] == [(len(ids), 0), (len(escalated(ids)), 0)]


def test_adding_a_tier_later_asks_only_that_tier(db, settings, llm_server):
    ids = seed(db)
    analyze(db, tiered_settings(settings, llm_server, TWO_TIERS[:1]))
    llm_server.reset()
    analyze(db, tiered_settings(settings, llm_server, TWO_TIERS), run_id="run-2")
    assert llm_server.asked(TRIAGE) == [] and sorted(llm_server.asked(STRONG)) == sorted(escalated(ids))


def test_tier_2_failing_keeps_tier_1_verdict_records_why_and_is_retried(db, settings, llm_server):
    ids = seed(db, cycles=3)
    up = escalated(ids)
    llm_server.answer(STRONG, Reply(status=503))
    cfg = tiered_settings(settings, llm_server, TWO_TIERS, max_attempts=1, batch_size=50)
    result = analyze(db, cfg)
    verdicts = final(db)
    assert set(verdicts) == set(ids) and {v["model"] for v in verdicts.values()} == {TRIAGE}
    failures = list(db["llm_failures"].rows)
    assert {(f["pair"] + "@" + f["window_end"], f["tier"], f["model"]) for f in failures} == {
        (i, 2, STRONG) for i in up
    }
    assert all("HTTP 503" in f["reason"] for f in failures)
    assert result.failed == 0 and result.error_line() is None  # every window has a verdict
    assert result.tiers[1].failed == len(up)
    assert result.alerts == len(up)  # tier 1's verdicts stand, so their alerts are raised
    llm_server.answer(STRONG, CALM)
    llm_server.reset()
    analyze(db, cfg, run_id="run-2")
    assert llm_server.asked(TRIAGE) == [] and sorted(llm_server.asked(STRONG)) == sorted(up)
    assert {i for i, v in final(db).items() if v["model"] == STRONG} == set(up)


def test_each_tier_has_its_fallback(db, settings, llm_server):
    ids = seed(db, cycles=2)
    tiers = [{"model": TRIAGE}, {"model": STRONG, "when": "OPEN_ARB", "fallback_model": "claude-sonnet-4.5"}]
    llm_server.answer(STRONG, Reply(status=500))
    analyze(db, tiered_settings(settings, llm_server, tiers, max_attempts=1, batch_size=50))
    opened = [i for i in ids if default_verdict(i)["action"] == "OPEN_ARB"]
    assert opened and sorted(llm_server.asked("claude-sonnet-4.5")) == sorted(opened)
    assert {i for i, v in final(db).items() if v["model"] == "claude-sonnet-4.5"} == set(opened)
    assert {c["tier"] for c in db["llm_calls"].rows if c["model"] == "claude-sonnet-4.5"} == {2}


def test_a_tier_over_its_budget_share_leaves_tier_1_verdicts_standing(db, settings, llm_server):
    ids = seed(db, cycles=3)
    tiers = [{"model": TRIAGE}, {"model": STRONG, "when": ["OPEN_ARB", "HIGH"], "budget_share": 0.0001}]
    result = analyze(db, tiered_settings(settings, llm_server, tiers, daily_budget_usd=2.0))
    up = escalated(ids)
    assert llm_server.asked(STRONG) == [] and len(llm_server.asked(TRIAGE)) == len(ids)
    assert {v["model"] for v in final(db).values()} == {TRIAGE} and result.analysed == len(ids)
    skipped = [c for c in db["llm_calls"].rows if c["status"] == "skipped"]
    assert [(c["tier"], c["model"], c["cost_usd"]) for c in skipped] == [(2, STRONG, 0.0)]
    assert "tier 2 (gpt-4.1) budget $0.00 of the daily $2.00 reached" in skipped[0]["error"]
    reasons = {
        f["pair"] + "@" + f["window_end"]: f["reason"] for f in db["llm_failures"].rows if f["tier"] == 2
    }
    assert set(reasons) == set(up) and all(r.startswith("budget: ") for r in reasons.values())
    assert result.skipped_budget == 0 and result.tiers[1].skipped_budget == len(up)


def test_tier_1_share_stops_tier_1_but_not_the_tier_with_its_own_share(db, settings, llm_server):
    seed(db, cycles=3)
    tiers = [{"model": TRIAGE, "budget_share": 0.5}, {"model": STRONG, "when": "HIGH", "budget_share": 0.5}]
    db["llm_calls"].insert(
        {
            "ts": "2024-03-10T01:00:00Z",
            "model": TRIAGE,
            "batch_size": 1,
            "status": "ok",
            "cost_usd": 1.0,
            "tier": 1,
        }
    )  # tier 1's half of the $2 is spent already
    result = analyze(db, tiered_settings(settings, llm_server, tiers, daily_budget_usd=2.0))
    assert llm_server.requests == [] and result.skipped_budget == result.flagged
    assert "tier 1 (deepseek-v3.2) budget $1.00 of the daily $2.00 reached" in result.budget_note


def test_the_gateway_reported_cost_is_kept_beside_ours(db, settings, llm_server):
    seed(db, cycles=1)
    llm_server.script(Reply(cost=0.00123))
    analyze(db, tiered_settings(settings, llm_server, TWO_TIERS[:1], batch_size=1))
    costs = [(c["gateway_cost_usd"], c["cost_usd"] > 0) for c in db["llm_calls"].rows_where(order_by="id")]
    assert costs == [(0.00123, True), (None, True)]
