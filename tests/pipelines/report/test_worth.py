"""The cost report's section on what the verdicts were worth, on the scorecard's hand-made store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipelines.config.settings import load_settings
from pipelines.report.data import build_report
from pipelines.report.render import render_report
from pipelines.store import open_db, upsert
from tests.pipelines.test_scorecard import OPEN_NET, apr, config  # noqa: F401 (the fixture)


def call(i, model, cost):
    return {
        "id": i,
        "ts": "2024-03-02T01:00:00Z",
        "model": model,
        "batch_size": 2,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": cost,
        "status": "ok",
    }


def test_cost_per_verdict_beside_the_realised_carry(config):  # noqa: F811
    settings = load_settings(config, env={})
    db = open_db(settings.database)
    upsert(db, "llm_calls", [call(1, "gpt-4.1", 0.03), call(2, "gpt-4.1", 0.01)])
    data = build_report(db, settings, date(2024, 3, 2), datetime(2024, 3, 3, 6, tzinfo=UTC))
    gpt, rules = data.verdict_worth
    assert (gpt["model"], gpt["verdicts"], gpt["scored"], gpt["open_arb"]) == ("gpt-4.1", 3, 3, 1)
    assert gpt["cost_usd"] == pytest.approx(0.04) and gpt["cost_per_verdict"] == pytest.approx(0.04 / 3)
    assert gpt["hit_rate"] == pytest.approx(2 / 3)  # OPEN_ARB and WATCH earned, HOLD lost
    assert gpt["worth_usd"] == pytest.approx(OPEN_NET) and gpt["open_arb_net_apr"] == pytest.approx(
        apr(OPEN_NET, 16)
    )
    assert (rules["model"], rules["verdicts"], rules["scored"], rules["cost_usd"]) == ("rules", 2, 1, 0.0)
    assert rules["worth_usd"] == pytest.approx(OPEN_NET)
    _, text, html = render_report(data)
    assert "WHAT THE VERDICTS WERE WORTH" in text and "What the verdicts were worth" in html
    line = next(x for x in text.splitlines() if x.startswith("gpt-4.1") and "0.0133" in x)
    assert line.split()[-1] == f"{OPEN_NET:.4f}"


def test_one_row_per_tier_when_tiers_exist(config):  # noqa: F811
    from tests.pipelines.test_scorecard_tiers import HOLD_NET, WATCH_NET, store_tiers

    store_tiers(config)  # tier 1 deepseek, tier 2 gpt-4.1 overruling W1, W2, W4
    settings = load_settings(config, env={})
    data = build_report(
        open_db(settings.database), settings, date(2024, 3, 2), datetime(2024, 3, 3, 6, tzinfo=UTC)
    )
    first, second = (w for w in data.verdict_worth if "tier" in w)
    assert (first["model"], first["verdicts"], first["scored"], first["open_arb"]) == (
        "tier 1 (deepseek-v3.2)",
        4,
        3,
        2,
    )
    assert first["cost_usd"] == pytest.approx(0.004) and first["cost_per_verdict"] == pytest.approx(0.001)
    assert first["hit_rate"] == pytest.approx(2 / 3) and first["worth_usd"] == pytest.approx(
        HOLD_NET + WATCH_NET
    )
    assert (second["model"], second["verdicts"], second["scored"], second["open_arb"]) == (
        "tier 2 (gpt-4.1)",
        4,
        3,
        1,
    )
    # the report's 7 days of calls by time, as its model rows: 0.04 + the 9.0 call on older windows
    assert second["cost_usd"] == pytest.approx(9.04) and second["cost_per_verdict"] == pytest.approx(9.04 / 4)
    assert second["worth_usd"] == pytest.approx(OPEN_NET)
    _, text, html = render_report(data)
    line = next(x for x in text.splitlines() if x.startswith("tier 2 (gpt-4.1)"))
    assert line.split()[5] == "2.2600" and line.split()[-1] == f"{OPEN_NET:.4f}"
    assert "Tier rows:" in text and "tier 1 (deepseek-v3.2)" in html


def test_a_single_tier_adds_no_tier_rows(config):  # noqa: F811
    from tests.pipelines.test_scorecard_tiers import CALLS, TIER_1, store_tiers

    store_tiers(config, tiers=(TIER_1,), calls=CALLS[:2])
    settings = load_settings(config, env={})
    data = build_report(
        open_db(settings.database), settings, date(2024, 3, 2), datetime(2024, 3, 3, 6, tzinfo=UTC)
    )
    assert [w["model"] for w in data.verdict_worth] == ["gpt-4.1", "rules"]
    assert "Tier rows:" not in render_report(data)[1]
