"""The LLM ledger on a real store: what each call costs, what a day spent, what got no verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.analyze.client import Attempt, ChatResult
from pipelines.analyze.ledger import (
    call_base,
    call_cost,
    record_attempts,
    record_failures,
    record_result,
    record_unbilled,
    spent_on_day,
)
from pipelines.core.errors import ConfigError

NOW = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
IDS = ("BTC@2024-03-01T08:00:00Z", "ETH@2024-03-01T08:00:00Z")


def _calls(db) -> list[dict]:
    return list(db.query("SELECT * FROM llm_calls ORDER BY id"))


def test_cost_is_tokens_times_price_per_million(settings):
    # deepseek-v3.2 in the test config: $0.28 in, $0.42 out per million tokens
    assert call_cost(settings.llm, "deepseek-v3.2", 1_000_000, 500_000) == pytest.approx(0.28 + 0.21)
    with pytest.raises(ConfigError, match="'unpriced' has no price"):
        call_cost(settings.llm, "unpriced", 1, 1)


def test_a_base_row_names_the_request(db):
    base = call_base(NOW, "run-1", "deepseek-v3.2", IDS)
    assert base == {
        "ts": "2024-03-01T23:30:00Z",
        "run_id": "run-1",
        "model": "deepseek-v3.2",
        "batch_size": 2,
        "window_ids": json.dumps(list(IDS)),
    }


def test_failed_attempts_and_skipped_batches_are_billed_zero(db):
    base = call_base(NOW, "run-1", "deepseek-v3.2", IDS)
    record_attempts(db, base, [Attempt("HTTP 500", 12.5, status=500), Attempt("timeout", 30_000.0)])
    record_unbilled(db, base, "skipped", "daily budget reached")
    rows = _calls(db)
    assert [(r["status"], r["error"], r["latency_ms"]) for r in rows] == [
        ("error", "HTTP 500", 12.5),
        ("error", "timeout", 30_000.0),
        ("skipped", "daily budget reached", 0.0),
    ]
    assert {
        (r["prompt_tokens"], r["completion_tokens"], r["cost_usd"], r["usage_estimated"]) for r in rows
    } == {(0, 0, 0.0, 0)}


def test_a_completed_call_is_priced_and_says_when_usage_was_estimated(db, settings):
    base = call_base(NOW, "run-1", "deepseek-v3.2", IDS)
    result = ChatResult("{}", prompt_tokens=2000, completion_tokens=220, latency_ms=840.0, usage_missing=True)
    cost = record_result(db, settings.llm, base, result, "ok", None)
    [row] = _calls(db)
    assert cost == pytest.approx((2000 * 0.28 + 220 * 0.42) / 1e6) and row["cost_usd"] == cost
    assert (row["prompt_tokens"], row["completion_tokens"], row["usage_estimated"]) == (2000, 220, 1)


def test_a_days_spend_counts_only_that_utc_day(db, settings):
    result = ChatResult(
        "{}", prompt_tokens=1_000_000, completion_tokens=0, latency_ms=1.0, usage_missing=False
    )
    for ts in (NOW - timedelta(days=1), NOW, NOW + timedelta(hours=1)):  # yesterday, today, tomorrow
        record_result(db, settings.llm, call_base(ts, "run-1", "deepseek-v3.2", IDS), result, "ok", None)
    assert spent_on_day(db, NOW.replace(hour=0)) == pytest.approx(0.28)
    assert spent_on_day(db, NOW - timedelta(days=3)) == 0.0


def test_failures_are_one_row_per_window_and_run_with_a_short_reason(db):
    failures = {("BTC", "2024-03-01T08:00:00Z"): "x" * 900, ("ETH", "2024-03-01T08:00:00Z"): "gateway down"}
    record_failures(db, failures, "v1-abc", "run-1", "deepseek-v3.2", NOW)
    record_failures(db, failures, "v1-abc", "run-1", "deepseek-v3.2", NOW)  # the same run again: no new rows
    record_failures(db, {}, "v1-abc", "run-2", "deepseek-v3.2", NOW)  # nothing failed: nothing written
    rows = list(db.query("SELECT pair, reason, run_id, ts FROM llm_failures ORDER BY pair"))
    assert [(r["pair"], len(r["reason"]), r["run_id"]) for r in rows] == [
        ("BTC", 500, "run-1"),
        ("ETH", 12, "run-1"),
    ]
    assert rows[0]["ts"] == "2024-03-01T23:30:00Z"
