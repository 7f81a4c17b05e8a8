"""`arbdb backfill` end to end: loopback Tardis server, real SQLite file, real subprocess kills."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli

TABLES = ("tickers", "funding", "extracted", "windows")


def write_config(config_file: Path, tardis_server, **tardis) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["tardis"].update(endpoint=tardis_server.url, datasets_endpoint=tardis_server.datasets_url, **tardis)
    config_file.write_text(yaml.safe_dump(data))
    return config_file


def snapshot(db_path: Path) -> dict:
    conn = sqlite3.connect(db_path)
    try:
        out = {}
        for table in TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in ("loaded_at",)]
            out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1, 2, 3").fetchall()
        return out
    finally:
        conn.close()


def backfill(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), "backfill", *args], catch_exceptions=False)


def test_backfill_loads_and_rerun_changes_nothing_and_fetches_nothing(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server)
    result = backfill(config, "--from", "2024-03-04", "--to", "2024-03-06", "--pairs", "BTC", "--no-llm")
    assert result.exit_code == 0, result.output
    assert "4 exchange-days fetched, 0 skipped" in result.output
    first = snapshot(tmp_path / "arbdb.db")
    assert len(first["tickers"]) == 2 * 2 * 1440
    assert len(first["funding"]) >= 10
    assert len(first["extracted"]) == 4
    served = len(tardis_server.requests)

    again = backfill(config, "--from", "2024-03-04", "--to", "2024-03-06", "--pairs", "BTC", "--no-llm")
    assert again.exit_code == 0, again.output
    assert "0 exchange-days fetched, 4 skipped (already loaded)" in again.output
    assert len(tardis_server.requests) == served
    assert snapshot(tmp_path / "arbdb.db") == first


def test_summary_of_a_rerun_counts_what_was_done(config_file, tardis_server, tmp_path):
    """A rerun inside a longer backfill writes nothing; days stored by other means (the scheduler
    does not mark days) are fetched again and counted as fetched, but bring no new rows."""
    config = write_config(config_file, tardis_server)
    common = ("--pairs", "BTC", "--no-llm")
    assert backfill(config, "--from", "2024-03-02", "--to", "2024-03-06", *common).exit_code == 0
    again = backfill(config, "--from", "2024-03-03", "--to", "2024-03-05", *common)
    assert again.exit_code == 0, again.output
    assert "0 exchange-days fetched, 4 skipped (already loaded)" in again.output
    assert "0 minute rows (0 new)" in again.output
    assert "6 windows in range, 0 window rows written" in again.output

    with sqlite3.connect(tmp_path / "arbdb.db") as conn:
        conn.execute("DELETE FROM extracted WHERE day = '2024-03-04'")
    refetch = backfill(config, "--from", "2024-03-03", "--to", "2024-03-05", *common)
    assert refetch.exit_code == 0, refetch.output
    assert "2 exchange-days fetched, 2 skipped (already loaded)" in refetch.output
    assert f"{2 * 1440:,} minute rows (0 new)" in refetch.output
    assert "6 windows in range, 0 window rows written" in refetch.output


def test_adding_a_pair_fetches_only_the_new_symbols(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server)
    assert (
        backfill(config, "--from", "2024-03-04", "--to", "2024-03-05", "--pairs", "BTC", "--no-llm").exit_code
        == 0
    )
    tardis_server.requests.clear()
    result = backfill(config, "--from", "2024-03-04", "--to", "2024-03-05", "--no-llm")
    assert result.exit_code == 0, result.output
    filters = " ".join(str(q.get("filters", "")) for _, q, _ in tardis_server.requests)
    assert "ETH" in filters and "BTC" not in filters


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-03-05", "--to", "2024-03-05"], "must be before --to"),
        (["--from", "2024-03-05", "--to", "2999-01-01"], "is in the future"),
        (["--from", "2019-01-01", "--to", "2019-01-05"], "before the history"),
        (["--from", "2024-13-01", "--to", "2024-03-05"], "--from '2024-13-01' is not a date"),
        (["--from", "2024-03-01", "--to", "2024-03-02", "--pairs", "XRP"], "unknown pair 'XRP'"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(config_file, args, message):
    result = CliRunner().invoke(cli, ["--config", str(config_file), "backfill", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pairs:\n  - {name: BTC, gate_symbol: BTC_USDT, bitfinex_symbol: 'BTCF0:USTF0'}\n"
        "fees: {gate_taker: -1}\n"
    )
    result = CliRunner().invoke(
        cli, ["--config", str(bad), "backfill", "--from", "2024-03-01", "--to", "2024-03-02"]
    )
    assert result.exit_code == 2
    assert "fees.gate_taker" in result.output and "Traceback" not in result.output


def test_auth_failure_leaves_nothing_half_written(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server)
    tardis_server.api_key = "the-real-key"
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "backfill", "--from", "2024-03-04", "--to", "2024-03-05", "--no-llm"],
        env={"TARDIS_API_KEY": "wrong"},
    )
    assert result.exit_code == 1
    assert "Tardis refused the API key (401)" in result.output
    assert all(not rows for rows in snapshot(tmp_path / "arbdb.db").values())


def test_killed_backfill_resumes_to_the_same_tables(config_file, tardis_server, tmp_path):
    """Kill a real backfill process mid-run, run again: the tables equal an uninterrupted run's."""
    config = write_config(config_file, tardis_server, workers=1)
    args = ["--from", "2024-03-03", "--to", "2024-03-07", "--pairs", "BTC", "--no-llm"]
    db_path = tmp_path / "arbdb.db"
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--config", str(config), "backfill", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    loaded = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path) as conn:
                    loaded = conn.execute("SELECT COUNT(*) FROM extracted").fetchone()[0]
            except sqlite3.OperationalError:
                loaded = 0
            if loaded >= 2:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert 2 <= loaded < 8, "the kill should land mid-backfill"

    resumed = backfill(config, *args)
    assert resumed.exit_code == 0, resumed.output

    fresh_config = tmp_path / "fresh.yaml"
    data = yaml.safe_load(config.read_text())
    data["database"] = str(tmp_path / "fresh.db")
    fresh_config.write_text(yaml.safe_dump(data))
    assert backfill(fresh_config, *args).exit_code == 0
    assert snapshot(db_path) == snapshot(tmp_path / "fresh.db")


def test_backfill_of_all_pairs_also_extracts_the_markets_legs_for_screen(
    config_file, tardis_server, tmp_path
):
    config = write_config(config_file, tardis_server)
    data = yaml.safe_load(config.read_text())
    data["pairs"] = [
        {"name": "BTC", "legs": ["gate-io-futures:BTC_USDT", "bitfinex-derivatives:BTCF0:USTF0"]}
    ]
    data["markets"] = [{"coin": "ETH", "venues": ["gate-io-futures", "bitfinex-derivatives"]}]
    config.write_text(yaml.safe_dump(data))
    only_btc = backfill(config, "--from", "2024-03-04", "--to", "2024-03-05", "--pairs", "BTC", "--no-llm")
    assert only_btc.exit_code == 0, only_btc.output
    assert {r[1] for r in snapshot(tmp_path / "arbdb.db")["extracted"]} == {"BTC_USDT", "BTCF0:USTF0"}
    watched = backfill(config, "--from", "2024-03-04", "--to", "2024-03-05", "--no-llm")
    assert watched.exit_code == 0, watched.output
    assert "2 exchange-days fetched" in watched.output  # the ETH legs; BTC's days were loaded
    extracted = {r[1] for r in snapshot(tmp_path / "arbdb.db")["extracted"]}
    assert extracted == {"BTC_USDT", "BTCF0:USTF0", "ETH_USDT", "ETHF0:USTF0"}
    windows = {r[0] for r in snapshot(tmp_path / "arbdb.db")["windows"]}
    assert windows == {"BTC"}  # a market without a pair is screened, not windowed
    screened = CliRunner().invoke(
        cli, ["--config", str(config), "screen", "--from", "2024-03-04", "--to", "2024-03-05"]
    )
    assert screened.exit_code == 0 and "ETH" in screened.output and "BTC" in screened.output
