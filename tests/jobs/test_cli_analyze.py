"""`arbdb analyze` through click's CliRunner: real SQLite file, loopback gateway."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner

from jobs.cli import cli
from tests.fixtures.llm_server import Reply
from tests.fixtures.llm_windows import sample_windows

RANGE = ["--from", "2024-03-01", "--to", "2024-03-10"]


def seed(db, cycles=3) -> list[dict]:
    rows = sample_windows(("BTC", "ETH"), datetime(2024, 3, 1, 8, tzinfo=UTC), cycles)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    return rows


def point_at(config_file: Path, server) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["llm"].update(base_url=server.base_url, timeout_seconds=2)
    config_file.write_text(yaml.safe_dump(data))
    return config_file


def run(config_file: Path, *args: str, key: str | None = None):
    env = {"HOLYSHEEP_API_KEY": key}  # None unsets it
    return CliRunner().invoke(cli, ["--config", str(config_file), "analyze", *args], env=env)


def test_offline_uses_the_rules_analyzer_and_records_the_run(config_file, db):
    seed(db)
    result = run(config_file, *RANGE)
    assert result.exit_code == 0, result.output
    assert "analyzer rules" in result.output and "analysed" in result.output
    (row,) = db["runs"].rows_where("job = 'analyze'")
    counts = json.loads(row["counts"])
    assert row["status"] == "done" and counts["analyzer"] == "rules" and counts["analysed"] == 6
    assert row["pair"] == "BTC,ETH" and row["window_start"] == "2024-03-01T00:00:00Z"


def test_with_a_key_calls_the_gateway_then_a_rerun_calls_nothing(config_file, db, llm_server):
    seed(db)
    point_at(config_file, llm_server)
    first = run(config_file, *RANGE, "--pair", "btc", key=llm_server.api_key)
    assert first.exit_code == 0, first.output
    assert "analyzer llm (deepseek-v3.2)" in first.output
    assert {i.split("@")[0] for r in llm_server.requests for i in r["ids"]} == {"BTC"}
    assert db["verdicts"].count == 3
    llm_server.reset()
    again = run(config_file, *RANGE, "--pair", "BTC", key=llm_server.api_key)
    assert again.exit_code == 0 and llm_server.requests == []
    runs = list(db["runs"].rows_where("job = 'analyze'", order_by="started_at"))
    assert json.loads(runs[-1]["counts"])["cached"] == 3


def test_dry_run_prints_prompts_and_estimates_without_calling(config_file, db, llm_server):
    rows = seed(db)
    point_at(config_file, llm_server)
    result = run(config_file, *RANGE, "--dry-run", key=llm_server.api_key)
    assert result.exit_code == 0, result.output
    assert llm_server.requests == [] and db["llm_calls"].count == 0 and db["runs"].count == 0
    assert "batch 1: 6 window(s)" in result.output and "estimated cost_usd" in result.output
    assert f"{rows[0]['pair']}@{rows[0]['window_end']}" in result.output and "[system]" in result.output


def test_a_refused_key_is_one_line_and_a_failed_run(config_file, db, llm_server):
    seed(db)
    point_at(config_file, llm_server)
    result = run(config_file, *RANGE, key="sk-wrong-key-123")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("arbdb: error: LLM gateway http://127.0.0.1:")
    assert "Traceback" not in result.output and "sk-wrong-key-123" not in result.output
    (row,) = db["runs"].rows_where("job = 'analyze'")
    assert row["status"] == "failed" and "HTTP 401" in row["error"]


def test_bad_date_and_unknown_pair_are_usage_errors(config_file):
    assert run(config_file, "--from", "2024-13-01", "--to", "2024-03-10").exit_code == 2
    unknown = run(config_file, *RANGE, "--pair", "XRP")
    assert unknown.exit_code == 2 and "unknown pair 'XRP'" in unknown.output


def test_an_unreachable_gateway_is_exit_1_within_seconds_and_keeps_what_succeeded(
    config_file, db, llm_server
):
    seed(db)
    point_at(config_file, llm_server)
    first = run(config_file, *RANGE, "--pair", "BTC", key=llm_server.api_key)
    assert first.exit_code == 0, first.output
    llm_server.stop()  # the port is closed now: connection refused
    started = time.monotonic()
    result = run(config_file, *RANGE, key=llm_server.api_key)
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"arbdb: error: 3 of 6 flagged windows not analysed: gateway {llm_server.base_url} unreachable "
        "(connection refused); they are retried on the next run"
    )
    assert "Traceback" not in result.output
    assert db["verdicts"].count == 3  # the earlier verdicts are kept
    row = list(db["runs"].rows_where("job = 'analyze'", order_by="started_at"))[-1]
    assert row["status"] == "failed" and "3 of 6 flagged windows not analysed" in row["error"]
    url = f"{llm_server.base_url}/chat/completions"
    refused = f"gateway: deepseek-v3.2: {url}: connection refused after 2 attempt(s)"
    reasons = {f["reason"] for f in db["llm_failures"].rows}
    assert refused in reasons and db["llm_failures"].count == 3


def test_a_gateway_failing_with_500_forever_stops_after_two_batches(config_file, db, llm_server):
    seed(db)
    point_at(config_file, llm_server)
    data = yaml.safe_load(config_file.read_text())
    data["llm"].update(batch_size=2, max_attempts=2, fallback_model="gpt-4.1")
    config_file.write_text(yaml.safe_dump(data))
    llm_server.script(*[Reply(status=500)] * 50)
    result = run(config_file, *RANGE, key=llm_server.api_key)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"arbdb: error: 6 of 6 flagged windows not analysed: gateway {llm_server.base_url} failing "
        "(HTTP 500 after 2 attempt(s)); they are retried on the next run"
    )
    # Two batches, each on the primary and the fallback model, two attempts each; the third not sent.
    assert len(llm_server.requests) == 2 * 2 * 2
    assert db["verdicts"].count == 0 and db["llm_failures"].count == 6
