"""`--dry-run` per tier: tier 1's exact batches, tier 2's windows expected from stored history (or
"up to" all of them without history), tokens and cost at each tier's own prices; nothing called."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.analyze.stage import analyze_range, make_client
from tests.fixtures.llm import tiered_settings
from tests.fixtures.llm_server import default_verdict
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
NOW = datetime(2024, 3, 20, tzinfo=UTC)
TIERS = [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": ["OPEN_ARB", "HIGH"]}]
PRICES = {"deepseek-v3.2": (0.28, 0.42), "gpt-4.1": (2.0, 8.0)}  # conftest's config, per Mtok


def seed(db, first_end, cycles) -> list[str]:
    rows = sample_windows(("BTC", "ETH"), first_end, cycles, seed=3)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    return [f"{r['pair']}@{r['window_end']}" for r in rows]


def run(db, cfg, start, end, dry_run):
    client = make_client(cfg, backoff_base=0.01)
    return analyze_range(db, cfg, start, end, None, "r", NOW, dry_run=dry_run, client=client)


def priced(model: str, prompt: int, completion: int) -> float:
    inp, out = PRICES[model]
    return (prompt * inp + completion * out) / 1e6


def escalates(ident: str) -> bool:
    v = default_verdict(ident)
    return v["action"] == "OPEN_ARB" or v["risk"] == "HIGH"


def test_without_history_tier_2_expects_up_to_every_window(db, settings, llm_server):
    ids = seed(db, FIRST_END, 4)
    cfg = tiered_settings(settings, llm_server, TIERS, batch_size=3)
    result = run(db, cfg, date(2024, 3, 1), date(2024, 3, 5), dry_run=True)
    one, two = result.tiers
    assert llm_server.requests == [] and db["llm_calls"].count == 0 and db["verdicts"].count == 0
    assert (one.expected_windows, len(one.batches)) == (len(ids), 3)
    assert one.cost_usd == pytest.approx(priced("deepseek-v3.2", one.prompt_tokens, one.completion_tokens))
    assert two.expected_windows == len(ids) and two.basis.startswith("up to every window")
    assert two.batches == []  # no tier-1 verdict known yet: nothing certain to build
    assert two.cost_usd == pytest.approx(priced("gpt-4.1", two.prompt_tokens, two.completion_tokens))
    assert two.prompt_tokens == pytest.approx(one.prompt_tokens, rel=0.01)  # same windows, same size


def test_with_history_tier_2_expects_the_share_that_matched_and_builds_the_known_ones(
    db, settings, llm_server
):
    old = seed(db, FIRST_END, 5)
    cfg = tiered_settings(settings, llm_server, TIERS, batch_size=50)
    run(db, cfg, date(2024, 3, 1), date(2024, 3, 3), dry_run=False)  # analyses the first days only
    done = [i for i in old if i.split("@")[1] <= "2024-03-03T00:00:00Z"]
    share = sum(map(escalates, done)) / len(done)
    llm_server.reset()
    new = seed(db, FIRST_END + timedelta(days=3), 3)
    result = run(db, cfg, date(2024, 3, 1), date(2024, 3, 10), dry_run=True)
    one, two = result.tiers
    pending = sorted(set(old + new) - set(done))
    assert llm_server.requests == [] and one.expected_windows == len(pending) and one.cached == len(done)
    assert two.expected_windows == pytest.approx(len(pending) * share)
    assert f"{share:.0%} of {len(done)} stored tier-1 verdicts matched OPEN_ARB or HIGH" == two.basis
    assert two.batches == []  # the cached ones were all escalated already


def test_windows_whose_cached_tier_1_verdict_escalates_are_built_for_tier_2(db, settings, llm_server):
    ids = seed(db, FIRST_END, 3)
    one_tier = tiered_settings(settings, llm_server, TIERS[:1], batch_size=50)
    run(db, one_tier, date(2024, 3, 1), date(2024, 3, 5), dry_run=False)
    result = run(
        db,
        tiered_settings(settings, llm_server, TIERS, batch_size=50),
        date(2024, 3, 1),
        date(2024, 3, 5),
        True,
    )
    one, two = result.tiers
    assert one.expected_windows == 0 and one.cached == len(ids)
    assert sorted(i for b in two.batches for i in b.ids) == sorted(filter(escalates, ids))
    assert two.expected_windows == len(two.batches[0].ids) and two.batches[0].model == "gpt-4.1"
