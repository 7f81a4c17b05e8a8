"""The analyze stage against a real SQLite file and the loopback OpenAI-compatible gateway."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.analyze.ledger import call_cost
from pipelines.analyze.stage import analyze_range, current_prompt_version, make_client, pending_windows
from pipelines.core.errors import AuthError
from pipelines.report.alerts import alerter
from tests.fixtures.llm import online_settings
from tests.fixtures.llm_server import Reply, default_verdict, verdicts_json
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
START, END = date(2024, 3, 1), date(2024, 3, 10)
NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)


def seed(db, cycles=5, pairs=("BTC", "ETH"), flagged_every=1, seed=7) -> list[dict]:
    rows = sample_windows(pairs, FIRST_END, cycles, flagged_every=flagged_every, seed=seed)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    return rows


def ids_of(rows) -> list[str]:
    return [f"{r['pair']}@{r['window_end']}" for r in rows if r["flagged"]]


def analyze(db, settings, now=NOW, run_id="run-1", **kw):
    client = None if settings.llm.offline else make_client(settings, backoff_base=0.01)
    alerts = alerter(settings.mail, db, now)
    return analyze_range(db, settings, START, END, None, run_id, now, client=client, alerts=alerts, **kw)


def calls(db) -> list[dict]:
    return list(db["llm_calls"].rows_where(order_by="id"))


def verdict_ids(db) -> set[str]:
    return {f"{v['pair']}@{v['window_end']}" for v in db["verdicts"].rows}


def test_good_batches_store_one_verdict_per_flagged_window_and_ledger_every_call(db, settings, llm_server):
    rows = seed(db, cycles=6, flagged_every=2)  # 6 of 12 windows flagged
    cfg = online_settings(settings, llm_server, batch_size=4)
    result = analyze(db, cfg)
    flagged = ids_of(rows)
    assert len(flagged) == 6 and result.flagged == 6
    assert result.analyzer == "llm" and result.model == "deepseek-v3.2"
    assert result.analysed == 6 and result.calls == 2 and result.failed == 0
    asked = [i for r in llm_server.requests for i in r["ids"]]
    assert sorted(asked) == sorted(flagged)  # only flagged windows, each once
    assert verdict_ids(db) == set(flagged)
    verdict = db["verdicts"].get((rows[0]["pair"], rows[0]["window_end"], current_prompt_version(cfg)))
    expected = default_verdict(f"{rows[0]['pair']}@{rows[0]['window_end']}")
    assert (verdict["risk"], verdict["action"], verdict["confidence"]) == (
        expected["risk"],
        expected["action"],
        expected["confidence"],
    )
    assert verdict["model"] == "deepseek-v3.2" and verdict["feature_hash"] == rows[0]["features_hash"]
    ledger = calls(db)
    assert [c["status"] for c in ledger] == ["ok", "ok"] and [c["batch_size"] for c in ledger] == [4, 2]
    for c in ledger:
        assert c["cost_usd"] == pytest.approx(
            (c["prompt_tokens"] * 0.28 + c["completion_tokens"] * 0.42) / 1e6
        )
        assert c["run_id"] == "run-1" and c["latency_ms"] >= 0 and c["usage_estimated"] == 0
        assert len(json.loads(c["window_ids"])) == c["batch_size"]
    assert result.cost_usd == pytest.approx(sum(c["cost_usd"] for c in ledger))


def test_rerun_is_a_cache_hit_with_zero_requests(db, llm_settings, llm_server):
    seed(db)
    first = analyze(db, llm_settings)
    llm_server.reset()
    second = analyze(db, llm_settings, run_id="run-2")
    assert llm_server.requests == []
    assert second.cached == first.analysed == 10 and second.calls == 0 and second.analysed == 0
    assert len(calls(db)) == first.calls


def test_changed_prompt_version_reanalyses_and_changed_features_reanalyse_one_window(
    db, llm_settings, llm_server
):
    rows = seed(db)
    analyze(db, llm_settings)
    llm_server.reset()
    changed = {**rows[0], "a_rate": 0.0009, "features_hash": "changed"}
    db["windows"].upsert(changed, pk=("pair", "window_end"))
    analyze(db, llm_settings, run_id="run-2")
    assert [r["ids"] for r in llm_server.requests] == [[f"{rows[0]['pair']}@{rows[0]['window_end']}"]]
    llm_server.reset()
    bumped = online_settings(llm_settings, llm_server, prompt_version="v2")
    result = analyze(db, bumped, run_id="run-3")
    assert result.analysed == 10 and len(llm_server.requests) == 2
    assert db["verdicts"].count == 20  # one per window and prompt version


def test_pending_windows_are_flagged_unanalysed_in_range_and_pair(db, llm_settings, llm_server):
    rows = seed(db, cycles=6, flagged_every=2)
    assert len(pending_windows(db, llm_settings, START, END)) == 6
    assert set(pending_windows(db, llm_settings, START, END, pair="BTC")["pair"]) == {"BTC"}
    assert len(pending_windows(db, llm_settings, START, date(2024, 3, 2))) == len(
        [r for r in rows if r["flagged"] and r["window_end"] <= "2024-03-02T00:00:00Z"]
    )
    analyze(db, llm_settings)
    assert pending_windows(db, llm_settings, START, END).empty


def test_partial_batch_retries_only_the_missing_windows(db, llm_settings, llm_server):
    rows = seed(db, cycles=2)  # 4 flagged windows, one batch
    ids = ids_of(rows)
    llm_server.script(Reply(content=lambda asked: verdicts_json(asked[:2])))
    result = analyze(db, llm_settings)
    assert [r["ids"] for r in llm_server.requests] == [ids, ids[2:]]
    assert result.analysed == 4 and result.failed == 0 and verdict_ids(db) == set(ids)
    ledger = calls(db)
    assert [c["status"] for c in ledger] == ["invalid", "ok"]
    assert "missing from reply" in ledger[0]["error"]


def test_invented_ids_twice_are_recorded_as_failed_never_stored(db, llm_settings, llm_server):
    rows = seed(db, cycles=2)
    fake = lambda asked: verdicts_json([i.replace("@2024", "@2023") for i in asked])  # noqa: E731
    llm_server.script(Reply(content=fake), Reply(content=fake))
    result = analyze(db, llm_settings)
    assert result.analysed == 0 and result.failed == 4 and db["verdicts"].count == 0
    assert [c["status"] for c in calls(db)] == ["invalid", "invalid"]
    assert "invented ids" in calls(db)[0]["error"]
    failures = list(db["llm_failures"].rows)
    assert {f"{f['pair']}@{f['window_end']}" for f in failures} == set(ids_of(rows))
    assert all("invalid after retry" in f["reason"] and f["run_id"] == "run-1" for f in failures)
    # failed windows stay pending: the next run asks again (default mode answers well)
    llm_server.reset()
    assert analyze(db, llm_settings, run_id="run-2").analysed == 4


def test_bad_enum_and_out_of_range_confidence_are_retried_for_those_windows_only(
    db, llm_settings, llm_server
):
    rows = seed(db, cycles=2)
    ids = ids_of(rows)

    def broken(asked):
        items = json.loads(verdicts_json(asked))["verdicts"]
        items[0]["risk"] = "EXTREME"
        items[1]["confidence"] = 1.7
        items[2]["action"] = "buy"
        return json.dumps({"verdicts": items})

    llm_server.script(Reply(content=broken))
    result = analyze(db, llm_settings)
    assert llm_server.requests[1]["ids"] == ids[:3]
    assert result.analysed == 4 and verdict_ids(db) == set(ids)
    assert "not one of LOW/MEDIUM/HIGH" in calls(db)[0]["error"]


def test_prose_and_fences_around_json_are_parsed_when_json_mode_is_off(db, settings, llm_server):
    rows = seed(db, cycles=2)
    cfg = online_settings(settings, llm_server, json_mode=False)
    llm_server.script(
        Reply(content=lambda asked: f"Sure! Here you go:\n```json\n{verdicts_json(asked)}\n```\nBye.")
    )
    result = analyze(db, cfg)
    assert "response_format" not in llm_server.requests[0]["payload"]
    assert result.analysed == 4 and len(llm_server.requests) == 1 and verdict_ids(db) == set(ids_of(rows))


def test_429_with_retry_after_and_500_are_retried_and_each_attempt_is_in_the_ledger(
    db, llm_settings, llm_server
):
    seed(db, cycles=2)
    llm_server.script(Reply(status=429, headers={"Retry-After": "0.2"}), Reply(status=500))
    result = analyze(db, llm_settings)
    ledger = calls(db)
    assert [(c["status"], c["error"]) for c in ledger] == [
        ("error", "HTTP 429"),
        ("error", "HTTP 500"),
        ("ok", None),
    ]
    assert ledger[0]["cost_usd"] == 0 and ledger[0]["batch_size"] == 4
    assert result.calls == 3 and result.analysed == 4


def test_timeout_then_success(db, settings, llm_server):
    seed(db, cycles=1)
    cfg = online_settings(settings, llm_server, timeout_seconds=0.3)
    llm_server.script(Reply(delay=0.8))
    result = analyze(db, cfg)
    assert result.analysed == 2 and calls(db)[0]["error"].startswith("timeout")


def test_gateway_down_records_failures_and_the_stage_goes_on(db, settings, llm_server):
    seed(db, cycles=2)
    cfg = online_settings(settings, llm_server, max_attempts=2, batch_size=2)
    llm_server.script(Reply(status=503), Reply(status=503))
    result = analyze(db, cfg)
    assert result.failed == 2 and result.analysed == 2  # first batch lost, second fine
    assert all(f["reason"].startswith("gateway: deepseek-v3.2") for f in db["llm_failures"].rows)


def test_fallback_model_answers_when_the_primary_fails_and_is_priced_as_itself(db, settings, llm_server):
    seed(db, cycles=1)
    cfg = online_settings(settings, llm_server, max_attempts=2, fallback_model="gpt-4.1")
    llm_server.script(Reply(status=500), Reply(status=500))
    result = analyze(db, cfg)
    assert [r["payload"]["model"] for r in llm_server.requests] == ["deepseek-v3.2"] * 2 + ["gpt-4.1"]
    assert {v["model"] for v in db["verdicts"].rows} == {"gpt-4.1"} and result.analysed == 2
    ok = calls(db)[-1]
    assert ok["model"] == "gpt-4.1"
    assert ok["cost_usd"] == pytest.approx((ok["prompt_tokens"] * 2.0 + ok["completion_tokens"] * 8.0) / 1e6)


def test_401_stops_the_stage_with_one_clear_line_and_is_in_the_ledger(db, settings, llm_server, caplog):
    caplog.set_level(logging.DEBUG)
    seed(db, cycles=1)
    secret = "sk-not-the-right-one"
    cfg = online_settings(settings, llm_server).model_copy(
        update={"llm": online_settings(settings, llm_server).llm.model_copy(update={"api_key": secret})}
    )
    with pytest.raises(AuthError) as info:
        analyze(db, cfg)
    assert "refused the API key (HTTP 401)" in str(info.value) and secret not in str(info.value)
    assert len(llm_server.requests) == 1 and db["verdicts"].count == 0
    assert [(c["status"], c["error"]) for c in calls(db)] == [("error", "HTTP 401")]
    assert secret not in caplog.text


def test_missing_usage_is_estimated_priced_and_marked(db, llm_settings, llm_server):
    seed(db, cycles=1)
    llm_server.script(Reply(usage=False))
    analyze(db, llm_settings)
    (call,) = calls(db)
    assert call["usage_estimated"] == 1 and call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
    assert call["cost_usd"] == pytest.approx(
        call_cost(llm_settings.llm, "deepseek-v3.2", call["prompt_tokens"], call["completion_tokens"])
    )


def test_budget_reached_mid_run_skips_the_rest_and_says_so(db, settings, llm_server):
    seed(db, cycles=8)  # 16 flagged windows, 2 batches of 8
    cfg = online_settings(settings, llm_server)
    estimate = analyze(db, cfg, dry_run=True).batches[0].cost_usd
    cfg = online_settings(settings, llm_server, daily_budget_usd=estimate * 1.5)
    result = analyze(db, cfg)
    assert result.calls == 1 and result.analysed == 8 and result.skipped_budget == 8
    assert "daily LLM budget" in result.budget_note and "daily LLM budget" in result.summary()
    ledger = calls(db)
    assert [c["status"] for c in ledger] == ["ok", "skipped"] and ledger[1]["batch_size"] == 8
    assert ledger[1]["cost_usd"] == 0
    reasons = [f["reason"] for f in db["llm_failures"].rows]
    assert len(reasons) == 8 and all(r.startswith("budget: ") for r in reasons)
    # the same day: still over budget, no call; the next UTC day: the rest is analysed
    llm_server.reset()
    assert analyze(db, cfg, run_id="run-2").calls == 0 and llm_server.requests == []
    next_day = analyze(db, cfg, now=NOW + timedelta(days=1), run_id="run-3")
    assert next_day.analysed == 8 and next_day.cached == 8 and len(llm_server.requests) == 1


def test_cost_arithmetic_per_model(settings):
    llm = settings.llm
    assert call_cost(llm, "deepseek-v3.2", 1_000_000, 1_000_000) == pytest.approx(0.28 + 0.42)
    assert call_cost(llm, "gpt-4.1", 1500, 400) == pytest.approx(1500 * 2.0e-6 + 400 * 8.0e-6)
    assert call_cost(llm, "deepseek-v3.2", 0, 0) == 0


def test_dry_run_makes_no_request_and_writes_nothing(db, llm_settings, llm_server):
    rows = seed(db, cycles=6)
    result = analyze(db, llm_settings, dry_run=True)
    assert llm_server.requests == [] and result.dry_run
    assert db["llm_calls"].count == 0 and db["verdicts"].count == 0 and db["llm_failures"].count == 0
    assert [len(b.ids) for b in result.batches] == [8, 4]
    first = result.batches[0]
    assert first.ids == ids_of(rows)[:8] and all(i in first.messages[1]["content"] for i in first.ids)
    assert first.prompt_tokens > 0 and first.cost_usd == pytest.approx(
        call_cost(llm_settings.llm, "deepseek-v3.2", first.prompt_tokens, first.completion_tokens)
    )


def test_prompt_carries_features_zscores_reasons_and_previous_windows(db, llm_settings, llm_server):
    rows = seed(db, cycles=5, pairs=("BTC",), flagged_every=5)  # only the first window flagged ...
    db["windows"].upsert(
        {**rows[4], "flagged": 1, "reasons": '["funding diff z=3.2"]'}, pk=("pair", "window_end")
    )
    analyze(db, llm_settings)
    text = llm_server.requests[0]["payload"]["messages"][1]["content"]
    header, line = text.splitlines()[1], text.splitlines()[-1]
    assert "net_carry_apr" in header and "mark_spread_mean_bps" in header and "z_" not in header
    assert "expected_minutes" not in header and "features_hash" not in header
    assert line.startswith(f"BTC@{rows[4]['window_end']}|") and "funding diff z=3.2" in line
    prev = line.rsplit("|", 1)[1]
    assert len(prev.split(",")) == 3  # the three windows before, flagged or not


def test_offline_rules_analyzer_needs_no_network_and_is_upgraded_once_a_key_exists(db, settings, llm_server):
    rows = seed(db, cycles=4)
    offline = analyze(db, settings)
    assert offline.analyzer == "rules" and offline.model == "rules" and offline.analysed == 8
    assert "analyzer rules" in offline.summary()
    assert {v["model"] for v in db["verdicts"].rows} == {"rules"} and db["llm_calls"].count == 0
    assert analyze(db, settings, run_id="run-2").cached == 8  # offline rerun: cached
    online = analyze(db, online_settings(settings, llm_server), run_id="run-3")
    assert online.analysed == 8 and {v["model"] for v in db["verdicts"].rows} == {"deepseek-v3.2"}
    assert len(rows) == 8


def test_rules_verdicts(settings):
    from pipelines.analyze.rules import rules_params, rules_verdict

    def _ra(ident, row, cfg):
        verdict = rules_verdict(ident, row, rules_params(cfg))
        return verdict.risk, verdict.action

    base = {
        "complete": 1,
        "net_carry_apr": 0.05,
        "break_even_periods": 30,
        "mark_spread_mean_bps": 3,
        "a_basis_mean_bps": 2,
        "z_funding_diff": 2.6,
    }
    assert _ra("BTC@x", base, settings) == ("MEDIUM", "WATCH")
    assert _ra("BTC@x", {**base, "complete": 0}, settings) == ("HIGH", "HOLD")
    assert _ra("BTC@x", {**base, "a_basis_mean_bps": -80}, settings) == ("HIGH", "HOLD")
    carry = {**base, "net_carry_apr": 0.4, "break_even_periods": 3, "z_funding_diff": 1.0}
    assert _ra("BTC@x", carry, settings) == ("LOW", "OPEN_ARB")
    assert _ra("BTC@x", {"z_x": None}, settings) == ("LOW", "WATCH")  # nothing known


def test_alerts_log_and_email_to_the_outbox_when_mail_is_not_set(db, settings, llm_server, caplog):
    caplog.set_level(logging.WARNING)
    seed(db, cycles=5)
    cfg = online_settings(settings, llm_server).model_copy(
        update={"mail": settings.mail.model_copy(update={"alerts": True})}
    )
    result = analyze(db, cfg)
    hits = [v for v in db["verdicts"].rows if v["risk"] == "HIGH" or v["action"] == "OPEN_ARB"]
    assert result.alerts == len(hits) > 0
    assert sum("ALERT " in r.getMessage() for r in caplog.records) == len(hits)
    emails = sorted(settings.mail.outbox_dir.glob("*-alert-*.eml"))
    assert len(emails) == len(llm_server.requests)  # one email per batch holding alerts
    body = emails[0].read_text()
    assert "arbdb alert:" in body and "risk" in body


def test_no_alert_email_unless_enabled(db, llm_settings):
    seed(db, cycles=5)
    analyze(db, llm_settings)
    assert not list(llm_settings.mail.outbox_dir.glob("*.eml"))


def test_windows_from_the_real_transform_stage_are_analysed_and_cached(db, settings, llm_server):
    from pipelines.config.settings import Transform
    from pipelines.transform.windows_stage import update_windows
    from tests.fixtures.windows_data import store_history

    transform = Transform(lookback_windows=6, min_periods=3, z_threshold=1.5, net_carry_apr_floor=0.2)
    cfg = online_settings(settings.model_copy(update={"transform": transform}), llm_server)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for pair in cfg.pairs:
        store_history(db, pair, start, 4, seed=3 if pair.name == "BTC" else 11)
        update_windows(db, cfg.window_config(), pair, start, start + timedelta(days=4))
    flagged = db.execute("SELECT COUNT(*) FROM windows WHERE flagged = 1").fetchone()[0]
    assert flagged > 0
    result = analyze(db, cfg)
    assert result.analysed == flagged == result.flagged and result.failed == 0
    header = llm_server.requests[0]["payload"]["messages"][1]["content"].splitlines()[1]
    assert "net_carry_apr" in header and "long_side" in header and "z" in header.split("|")
    stored = {(v["pair"], v["window_end"]): v["feature_hash"] for v in db["verdicts"].rows}
    hashes = dict(
        ((p, e), h) for p, e, h in db.execute("SELECT pair, window_end, features_hash FROM windows")
    )
    assert all(hashes[key] == value for key, value in stored.items())  # the transform's own hash
    llm_server.reset()
    for pair in cfg.pairs:  # recomputing the same windows changes nothing: no call
        update_windows(db, cfg.window_config(), pair, start, start + timedelta(days=4))
    assert analyze(db, cfg, run_id="run-2").cached == flagged and llm_server.requests == []


def test_an_unreachable_gateway_ends_the_pass_at_once_without_the_fallback(db, settings):
    from tests.fixtures.smtp import free_port

    seed(db, cycles=3)  # 6 flagged windows, 3 batches of 2
    closed = f"http://127.0.0.1:{free_port()}/v1"
    cfg = settings.model_copy(
        update={
            "llm": settings.llm.model_copy(
                update={"base_url": closed, "api_key": "k", "batch_size": 2, "fallback_model": "gpt-4.1"}
            )
        }
    )
    result = analyze(db, cfg)
    assert result.failed == 6 and result.analysed == 0
    # Two attempts on the primary model only, for the first batch; the rest was never sent.
    assert [(c["model"], c["error"]) for c in calls(db)] == [("deepseek-v3.2", "connection refused")] * 2
    assert result.error_line() == (
        f"6 of 6 flagged windows not analysed: gateway {closed} unreachable (connection refused); "
        "they are retried on the next run"
    )
    assert sum(f["reason"].startswith("gateway: not tried") for f in db["llm_failures"].rows) == 4
    assert result.counts()["llm_error"] == result.error_line()


def test_invalid_verdicts_after_the_retry_are_named_in_the_error_line(db, llm_settings, llm_server):
    seed(db, cycles=1)
    llm_server.script(Reply(content='{"verdicts": []}'), Reply(content='{"verdicts": []}'))
    result = analyze(db, llm_settings)
    assert result.failed == 2 and result.invalid == 2
    assert result.error_line().startswith(
        "2 of 2 flagged windows not analysed: 2 invalid verdict(s) after a retry"
    )
