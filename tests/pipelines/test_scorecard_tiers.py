"""The scorecard per LLM tier on the scorecard's hand-made store, two tiers; figures by hand.

Realised trades (tests/pipelines/test_scorecard.py): W1 01T08 earns OPEN_NET over 16 h, W2 01T16
loses HOLD_NET over 8 h, W4 02T08 earns WATCH_NET over 8 h, W5 02T16 (the last window) is unscored.
Tier 1 (deepseek): W1 HOLD, W2 OPEN_ARB, W4 OPEN_ARB, W5 OPEN_ARB; tier 2 (gpt-4.1) overrules W1
to OPEN_ARB (right), W2 to HOLD (right), W4 to HOLD (wrong: tier 1 was right) and keeps W5.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.config.settings import load_settings
from pipelines.store import open_db, upsert
from tests.pipelines.test_scorecard import HOLD_NET, OPEN_NET, WATCH_NET, T, apr, config  # noqa: F401

W1, W2, W3, W4, W5 = T(1, "08"), T(1, "16"), T(2, "00"), T(2, "08"), T(2, "16")
CHEAP, STRONG = "deepseek-v3.2", "gpt-4.1"


def tier_verdict(end, tier, model, action, created="2024-03-05T00:00:00Z", version="v1", hash_="h"):
    return {
        "pair": "BTC",
        "window_end": end,
        "prompt_version": version,
        "tier": tier,
        "model": model,
        "risk": "LOW",
        "action": action,
        "confidence": 0.7,
        "feature_hash": hash_,
        "created_at": created,
    }


def call(i, tier, model, windows, cost, status="ok"):
    return {
        "id": i,
        "ts": "2024-03-02T01:00:00Z",
        "model": model,
        "batch_size": len(windows),
        "window_ids": json.dumps([f"BTC@{w}" for w in windows]),
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": cost,
        "status": status,
        "tier": tier,
    }


TIER_1 = [(W1, "HOLD"), (W2, "OPEN_ARB"), (W4, "OPEN_ARB"), (W5, "OPEN_ARB")]
TIER_2 = [(W1, "OPEN_ARB"), (W2, "HOLD"), (W4, "HOLD"), (W5, "OPEN_ARB")]
CALLS = [
    call(1, None, CHEAP, [W1, W2], 0.002),  # recorded before tiers: tier 1's
    call(2, 1, CHEAP, [W4, W5], 0.002),
    call(3, 2, STRONG, [W1, W2, W4, W5], 0.04),
    call(4, 2, STRONG, [W1], 0.0, status="skipped"),  # over budget: no call made
    call(5, 2, STRONG, ["2024-02-01T00:00:00Z"], 9.0),  # windows outside the range
]


def store_tiers(config, tiers=(TIER_1, TIER_2), calls=CALLS):  # noqa: F811
    db = open_db(load_settings(config, env={}).database)
    db.execute("UPDATE windows SET features_hash = 'h'")
    rows = [
        tier_verdict(end, n, (CHEAP, STRONG)[n - 1], a) for n, tier in enumerate(tiers, 1) for end, a in tier
    ]
    rows.append(
        tier_verdict(W1, 1, CHEAP, "OPEN_ARB", created="2024-03-04T00:00:00Z", version="v0")
    )  # superseded
    rows.append(tier_verdict(W3, 1, CHEAP, "OPEN_ARB", hash_="stale"))  # on features W3 no longer has
    upsert(db, "verdict_tiers", rows)
    upsert(db, "llm_calls", list(calls))
    db.close()


def run(config, *args):  # noqa: F811
    result = CliRunner().invoke(cli, ["scorecard", "--config", str(config), "--by", "tier", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_tier_scored_costed_and_its_overrules_judged_by_hand(config):  # noqa: F811
    store_tiers(config)
    body = json.loads(run(config, "--format", "json"))
    rows = {(r["tier"], r["model"], r["action"]): r for r in body["by_tier"]}
    assert {k: (r["verdicts"], r["scored"], r["hit_rate"]) for k, r in rows.items()} == {
        (1, CHEAP, "HOLD"): (1, 1, 1.0),
        (1, CHEAP, "OPEN_ARB"): (3, 2, 0.5),
        (2, STRONG, "HOLD"): (2, 2, 0.5),
        (2, STRONG, "OPEN_ARB"): (2, 1, 1.0),
    }
    assert rows[(1, CHEAP, "HOLD")]["missed"] == 1
    assert rows[(1, CHEAP, "OPEN_ARB")]["mean_net_apr"] == pytest.approx(
        (apr(HOLD_NET, 8) + apr(WATCH_NET, 8)) / 2
    )
    assert rows[(2, STRONG, "HOLD")]["missed_mean_net_apr"] == pytest.approx(apr(WATCH_NET, 8))
    assert rows[(2, STRONG, "OPEN_ARB")]["mean_net_apr"] == pytest.approx(apr(OPEN_NET, 16))
    costs = {r["tier"]: r for r in body["tier_costs"]}
    assert (costs[1]["models"], costs[1]["verdicts"], costs[1]["calls"]) == (CHEAP, 4, 2)
    assert costs[1]["cost_usd"] == pytest.approx(0.004) and costs[1]["cost_per_verdict"] == pytest.approx(
        0.001
    )
    assert (costs[2]["verdicts"], costs[2]["calls"]) == (4, 1)
    assert costs[2]["cost_usd"] == pytest.approx(0.04) and costs[2]["cost_per_verdict"] == pytest.approx(0.01)
    assert body["overrules"] == [
        {
            "tier": 2,
            "overruled": 3,
            "scored": 3,
            "right": 2,
            "earlier_right": 1,
            "right_rate": pytest.approx(2 / 3),
            "earlier_right_rate": pytest.approx(1 / 3),
        }
    ]


def test_the_tier_table_csv_and_one_model(config):  # noqa: F811
    store_tiers(config)
    table = run(config)
    assert "by tier, model and action" in table and "LLM cost per tier" in table and "Overrules" in table
    rows = list(csv.DictReader(io.StringIO(run(config, "--format", "csv"))))
    assert [(r["tier"], r["action"], r["verdicts"], r["cost_per_verdict"]) for r in rows] == [
        ("1", "HOLD", "1", "0.001"),
        ("1", "OPEN_ARB", "3", "0.001"),
        ("2", "HOLD", "2", "0.01"),
        ("2", "OPEN_ARB", "2", "0.01"),
    ]
    only = json.loads(run(config, "--format", "json", "--model", STRONG))
    assert {r["tier"] for r in only["by_tier"]} == {2}
    assert [(r["tier"], r["calls"]) for r in only["tier_costs"]] == [(2, 1)]
    assert only["overrules"][0]["overruled"] == 3  # overrules compare the tiers, whatever the filter


def test_one_tier_has_no_overrules_and_the_default_scorecard_is_unchanged(config):  # noqa: F811
    before = CliRunner().invoke(cli, ["scorecard", "--config", str(config), "--format", "json"]).output
    store_tiers(config, tiers=(TIER_1,), calls=CALLS[:2])
    after = CliRunner().invoke(cli, ["scorecard", "--config", str(config), "--format", "json"]).output
    assert after == before
    body = json.loads(run(config, "--format", "json"))
    assert {r["tier"] for r in body["by_tier"]} == {1} and body["overrules"] == []
    assert "Overrules" not in run(config)


def test_no_tier_verdicts_is_one_line(config):  # noqa: F811
    assert run(config).startswith("no stored tier verdicts on the windows' current features")
