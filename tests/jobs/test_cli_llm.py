"""`arbdb llm models`, the start-up warning for a configured model the gateway does not list, and
a tiered `arbdb analyze` (real run and `--dry-run`) through click's CliRunner and the loopback gateway."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner

from jobs.cli import cli
from jobs.scheduler import run_scheduler
from tests.fixtures.llm_windows import sample_windows

RANGE = ["--from", "2024-03-01", "--to", "2024-03-10"]
TIERS = [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": ["OPEN_ARB", "HIGH"]}]


def configure(config_file: Path, server, **llm) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["llm"].update(base_url=server.base_url, timeout_seconds=2, **llm)
    config_file.write_text(yaml.safe_dump(data))
    return config_file


def arbdb(config_file: Path, *args: str, key: str | None):
    return CliRunner().invoke(cli, ["--config", str(config_file), *args], env={"HOLYSHEEP_API_KEY": key})


def seed(db) -> None:
    rows = sample_windows(("BTC", "ETH"), datetime(2024, 3, 1, 8, tzinfo=UTC), 3)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)


def test_llm_models_lists_the_gateway_models_with_their_configured_price(config_file, llm_server):
    llm_server.models = ["deepseek-v3.2", "qwen3-max"]
    configure(config_file, llm_server, tiers=TIERS)
    out = arbdb(config_file, "llm", "models", key=llm_server.api_key)
    assert out.exit_code == 0, out.output
    lines = {line.split("│")[1].strip(): line for line in out.output.splitlines() if line.count("│") >= 4}
    assert "$0.28 / $0.42" in lines["deepseek-v3.2"] and "tier 1" in lines["deepseek-v3.2"]
    assert "no price" in lines["qwen3-max"] and "yes" in lines["qwen3-max"]
    assert "NOT LISTED" in lines["gpt-4.1"] and "tier 2" in lines["gpt-4.1"]
    assert llm_server.model_requests == 1


def test_llm_models_failures_are_one_line(config_file, llm_server):
    configure(config_file, llm_server)
    offline = arbdb(config_file, "llm", "models", key=None)
    assert offline.exit_code != 0 and offline.output.strip().splitlines() == [
        "arbdb: error: llm models: no LLM key; set HOLYSHEEP_API_KEY to ask the gateway for its models"
    ]
    refused = arbdb(config_file, "llm", "models", key="wrong")
    assert refused.exit_code != 0 and "refused the API key (HTTP 401)" in refused.output
    llm_server.models = None  # a gateway without the route
    missing = arbdb(config_file, "llm", "models", key=llm_server.api_key)
    lines = missing.output.strip().splitlines()
    assert missing.exit_code != 0 and len(lines) == 1 and "does not offer a model list (HTTP 404)" in lines[0]


def test_analyze_warns_once_about_a_configured_model_the_gateway_does_not_list(config_file, db, llm_server):
    seed(db)
    llm_server.models = ["deepseek-v3.2"]
    configure(config_file, llm_server, tiers=TIERS)
    out = arbdb(config_file, "analyze", *RANGE, key=llm_server.api_key)
    warnings = [line for line in out.output.splitlines() if line.startswith("arbdb: warning:")]
    assert warnings == [
        f"arbdb: warning: llm: model(s) gpt-4.1 not listed by the gateway at {llm_server.base_url}/models; "
        "their calls will fail (see `arbdb llm models`)"
    ]
    assert out.exit_code == 0, out.output  # a warning, not a failure


def test_a_gateway_without_models_route_never_stops_analyze(config_file, db, llm_server):
    seed(db)
    llm_server.models = None
    configure(config_file, llm_server)
    out = arbdb(config_file, "analyze", *RANGE, key=llm_server.api_key)
    assert out.exit_code == 0 and "warning" not in out.output and db["verdicts"].count == 6


def test_run_scheduler_logs_the_warning_at_start_up(config_file, llm_server, caplog, monkeypatch):
    from jobs import funding_cycle

    llm_server.models = ["gpt-4.1"]
    path = configure(config_file, llm_server)
    monkeypatch.setenv("HOLYSHEEP_API_KEY", llm_server.api_key)
    monkeypatch.setattr(funding_cycle, "stop_requested", lambda: True)  # start, warn, stop at once
    with caplog.at_level(logging.WARNING, logger="jobs.scheduler"):
        run_scheduler(path)
    assert [r.getMessage() for r in caplog.records if "not listed" in r.getMessage()] == [
        f"llm: model(s) deepseek-v3.2 not listed by the gateway at {llm_server.base_url}/models; "
        "their calls will fail (see `arbdb llm models`)"
    ]


def test_tiered_dry_run_shows_each_tier_and_calls_nothing(config_file, db, llm_server):
    seed(db)
    configure(config_file, llm_server, tiers=TIERS)
    out = arbdb(config_file, "analyze", *RANGE, "--dry-run", key=llm_server.api_key)
    assert out.exit_code == 0, out.output
    assert llm_server.requests == [] and llm_server.model_requests == 0 and db["llm_calls"].count == 0
    lines = out.output.splitlines()
    at = lines.index("tiers (expected):")
    one, two = lines[at + 1], lines[at + 2]
    assert one.startswith("  tier 1 deepseek-v3.2 (every flagged window): ~6.0 window(s) [every flagged")
    assert two.startswith("  tier 2 gpt-4.1 (when OPEN_ARB or HIGH): ~6.0 window(s) [up to every window")


def test_a_tiered_run_shows_what_each_tier_did(config_file, db, llm_server):
    seed(db)
    configure(config_file, llm_server, tiers=TIERS)
    out = arbdb(config_file, "analyze", *RANGE, key=llm_server.api_key)
    assert out.exit_code == 0, out.output
    asked = len(llm_server.asked("gpt-4.1"))
    assert 0 < asked < 6
    assert (
        f"  tier 2 gpt-4.1 (when OPEN_ARB or HIGH): {asked} window(s), {asked} analysed, 0 cached"
        in out.output
    )
    assert "'tier': 1" not in out.output  # the per-tier counts are lines, not a dict in the table
