"""`arbdb backfill` with the LLM gateway down: exit 1 with one summary line, loaded data kept."""

from __future__ import annotations

import time

import yaml
from click.testing import CliRunner

from jobs.cli import cli
from tests.fixtures.smtp import free_port
from tests.jobs.test_cli_backfill import write_config


def test_backfill_with_an_unreachable_gateway_keeps_the_data_and_exits_1(config_file, tardis_server, db):
    config = write_config(config_file, tardis_server)
    data = yaml.safe_load(config.read_text())
    closed = f"http://127.0.0.1:{free_port()}/v1"
    data["llm"]["base_url"] = closed
    data["transform"] = {"min_periods": 2, "z_threshold": 0.01}  # flag (nearly) every window
    config.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "backfill", "--from", "2024-03-04", "--to", "2024-03-06", "--pairs", "BTC"],
        env={"HOLYSHEEP_API_KEY": "sk-test"},
    )
    elapsed = time.monotonic() - started
    flagged = db.execute("SELECT COUNT(*) FROM windows WHERE flagged = 1").fetchone()[0]
    assert flagged > 0
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert "4 exchange-days fetched" in lines[-2]
    assert lines[-1] == (
        f"arbdb: error: {flagged} of {flagged} flagged windows not analysed: gateway {closed} unreachable "
        "(connection refused); they are retried on the next run"
    )
    assert db["tickers"].count == 2 * 2 * 1440 and db["verdicts"].count == 0
    assert elapsed < 60
