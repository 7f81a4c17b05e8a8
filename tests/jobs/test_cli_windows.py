"""`arbdb windows`: table, CSV and JSON views of stored windows, through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.store import upsert
from pipelines.transform.windows_stage import update_windows
from tests.fixtures.windows_data import funding_rows, minute_rows

START = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def stored(db, settings, config_file):
    """Two days of BTC: Gate settles every 4 h (configured 8 h); Bitfinex misses its last settlement."""
    upsert(db, "tickers", minute_rows("gate-io-futures", "BTC_USDT", START, 2, 1))
    upsert(db, "tickers", minute_rows("bitfinex-derivatives", "BTCF0:USTF0", START, 2, 2))
    upsert(db, "funding", funding_rows("gate-io-futures", "BTC_USDT", START, 2, 3, interval=4))
    skip = {"2024-03-03T00:00:00Z"}
    upsert(db, "funding", funding_rows("bitfinex-derivatives", "BTCF0:USTF0", START, 2, 4, skip=skip))
    update_windows(db, settings.window_config(), settings.pair("BTC"), START, START + timedelta(days=2))
    return config_file


def run(config_file, *args):
    # The table is as wide as the terminal: pinned, so the result does not depend on the caller's
    # terminal (pytest-xdist workers and an 80-column shell set COLUMNS=80, which cuts the reasons).
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["--config", str(config_file), "windows", *args], obj={}
    )


def test_table_shows_units_flags_incomplete_marks_and_interval_warnings(stored):
    result = run(stored, "--pair", "btc", "--from", "2024-03-01", "--to", "2024-03-03")
    assert result.exit_code == 0, result.output
    out = result.output
    for header in ("Carry", "APR %", "Diff", "bp", "fund %", "vs spot bp", "Cov"):
        assert header in out
    assert "2024-03-01 08:00" in out and "2024-03-03 00:00" in out
    assert "incomplete" in out and "Bitfinex settlement missing" in out
    assert "warning: Gate settles every 4 h, configured 8 h (6 windows)" in out
    assert "6 windows" in out


def test_csv_and_json_carry_every_stored_column(stored):
    text = run(
        stored, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02", "--format", "csv"
    ).output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and rows[0]["window_end"] == "2024-03-01T08:00:00Z"
    assert json.loads(rows[0]["warnings"]) == ["Gate settles every 4 h, configured 8 h"]
    data = json.loads(
        run(stored, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-03", "--format", "json").output
    )
    assert len(data) == 6 and data[-1]["complete"] is False and data[-1]["b_rate"] is None
    assert isinstance(data[0]["warnings"], list) and isinstance(data[0]["flagged"], bool)
    assert set(rows[0]) == set(data[0])


def test_flagged_only(stored, db):
    db.execute(
        "UPDATE windows SET flagged = 1, reasons = '[\"funding diff z=3.1\"]' WHERE window_end = ?",
        ("2024-03-01T16:00:00Z",),
    )
    db.conn.commit()
    result = run(stored, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-03", "--flagged")
    assert "funding diff z=3.1" in result.output and "FLAG" in result.output
    assert "2024-03-01 08:00" not in result.output and "1 windows, 1 flagged" in result.output


def test_empty_range_and_user_errors(stored):
    assert (
        "no windows stored"
        in run(stored, "--pair", "ETH", "--from", "2024-03-01", "--to", "2024-03-02").output
    )
    bad = run(stored, "--pair", "BTC", "--from", "March", "--to", "2024-03-02")
    assert bad.exit_code == 2 and "--from 'March' is not a date" in bad.output
    assert run(stored, "--pair", "XRP", "--from", "2024-03-01", "--to", "2024-03-02").exit_code == 2
    backwards = run(stored, "--pair", "BTC", "--from", "2024-03-02", "--to", "2024-03-01")
    assert backwards.exit_code == 2 and "must be before --to" in backwards.output
