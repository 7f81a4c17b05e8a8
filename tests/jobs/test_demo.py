"""`arbdb demo` leaves a config beside its database that `status` and `windows` use as is."""

from __future__ import annotations

import re
import sqlite3

from click.testing import CliRunner

from jobs.cli import cli
from pipelines.config.settings import load_settings


def test_demo_writes_a_config_that_status_and_windows_use(config_file, tmp_path):
    workdir = tmp_path / "demo"
    env = {"SMTP_PASSWORD": "smtp-s3cr3t", "HOLYSHEEP_API_KEY": None}
    demo = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config_file),
            "demo",
            "--workdir",
            str(workdir),
            "--days",
            "1",
            "--interval-seconds",
            "60",
        ],
        env=env,
        prog_name="arbdb",
    )
    assert demo.exit_code == 0, demo.output
    written = workdir / "config.yaml"
    assert f".venv/bin/arbdb --config {written} status" in demo.output
    text = written.read_text()
    assert "smtp-s3cr3t" not in text and "api_key" not in text and "password" not in text

    settings = load_settings(written, env={})
    assert settings.database == (workdir / "arbdb.db").resolve()
    assert settings.mail.outbox_dir == (workdir / "outbox").resolve()
    # the demo's pairs (not all configured ones) and its cross-venue pair; ETH watched on five venues
    assert [p.name for p in settings.pairs] == ["BTC", "ETH", "ETH-BIN-BYB"]
    assert [leg.exchange for leg in settings.pairs[2].legs] == ["binance-futures", "bybit"]
    assert [m.coin for m in settings.markets] == ["ETH"] and len(settings.markets[0].venues) == 5
    assert "Funding carry by venue pair" in demo.output and "Binance - Bybit" in demo.output

    with sqlite3.connect(settings.database) as conn:
        windows = conn.execute("SELECT COUNT(*) FROM windows WHERE pair = 'BTC'").fetchone()[0]
        cross = conn.execute("SELECT COUNT(*) FROM windows WHERE pair = 'ETH-BIN-BYB'").fetchone()[0]
        tickers = conn.execute("SELECT COUNT(*) FROM tickers").fetchone()[0]
    assert windows > 0 and cross == windows
    assert "Backtest BTC (gate-io-futures:BTC_USDT vs bitfinex-derivatives:BTCF0:USTF0)" in demo.output
    assert "no stored verdicts in the range" in demo.output  # one day: nothing flagged yet
    with sqlite3.connect(settings.database) as conn:  # the demo's backtest is stored
        assert conn.execute("SELECT COUNT(*) FROM backtests WHERE pair = 'BTC'").fetchone()[0] == 1

    status = CliRunner().invoke(cli, ["--config", str(written), "status"], prog_name="arbdb")
    assert "arbdb: error" not in status.output
    assert re.search(rf"^\s+tickers\s+{tickers:,}$", status.output, re.M)  # the demo's rows
    assert status.exit_code == 1 and "behind" in status.output  # the demo's history is in 2024

    shown = CliRunner().invoke(
        cli,
        ["windows", "--config", str(written), "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02"],
        prog_name="arbdb",
    )
    assert shown.exit_code == 0, shown.output
    assert f"{windows} windows" in shown.output and "2024-03-01 08:00" in shown.output
