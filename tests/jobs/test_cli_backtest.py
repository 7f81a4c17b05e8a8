"""`arbdb backtest` through click on a seeded database: figures by hand, the store, the chart, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.backtest.engine import pair_costs
from pipelines.backtest.rules import Rules
from pipelines.backtest.store import run_key
from pipelines.config.settings import load_settings
from pipelines.store import open_db
from tests.pipelines.backtest.seed import A, B, mark, seed, settlement, window

T = "2024-03-0{}T{}:00:00Z".format


@pytest.fixture
def config(config_file):
    """The small config with explicit fees; BTC: enter 03-01 08:00, exit 03-01 16:00 (net < 0). The
    last stored window ends 03-02 00:00, both legs' settlements are stored to it."""
    config_file.write_text(
        config_file.read_text() + "fees:\n  taker: {gate-io-futures: 0.0004, bitfinex-derivatives: 0.0006}\n"
    )
    db = open_db(config_file.parent / "arbdb.db")
    seed(
        db,
        [window(T(1, "08"), 0.3, short="b"), window(T(1, "16"), -0.1, short="b"), window(T(2, "00"), 0.1)],
        [settlement(A, T(1, "16"), 0.0001, 8), settlement(B, T(1, "16"), 0.0005, 8)]
        + [settlement(A, T(2, "00"), 0.0002, 8), settlement(B, T(2, "00"), 0.0001, 8)],
        [mark(A, "2024-03-01T07:59:00Z", 100), mark(B, "2024-03-01T07:59:00Z", 100)]
        + [mark(A, "2024-03-01T15:59:00Z", 100), mark(B, "2024-03-01T15:59:00Z", 100)],
    )
    db.close()
    return config_file


def backtest(config, *args):
    argv = [
        "backtest",
        "--pair",
        "BTC",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-03",
        "--config",
        str(config),
    ]
    return CliRunner().invoke(cli, argv + list(args))


def test_json_shows_the_hand_computed_trade_and_a_rerun_stores_nothing_new(config):
    result = backtest(config, "--format", "json", "--notional", "1000", "--slippage-bps", "1")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    [trade] = body["trades"]
    funding = 1000 * (0.0005 - 0.0001)  # short Bitfinex, long Gate, one settlement each
    costs = 2 * 1000 * (0.0004 + 0.0006) + 4 * 1000 * 1 / 1e4
    assert (trade["entry_time"], trade["exit_time"], trade["exit_reason"]) == (T(1, "08"), T(1, "16"), "net")
    assert trade["net_pnl"] == pytest.approx(funding - costs)
    assert body["backtest"]["net_pnl"] == pytest.approx(funding - costs)
    # asked to 03-03, but the stored windows end 03-02 00:00: the range is (03-01 00:00, 03-02 00:00]
    assert body["backtest"]["range_end"] == T(2, "00")
    assert body["backtest"]["time_in_market"] == pytest.approx(8 / 24)
    assert body["backtest"]["annualised_return"] == pytest.approx((funding - costs) / 1000 * 8760 / 24)
    again = backtest(config, "--format", "json", "--notional", "1000", "--slippage-bps", "1")
    assert json.loads(again.stdout) == body
    db = open_db(config.parent / "arbdb.db")
    assert (db["backtests"].count, db["backtest_trades"].count) == (1, 1)


def test_table_csv_and_chart(config, tmp_path):
    chart = tmp_path / "charts" / "btc.png"
    table = backtest(config, "--chart", str(chart))
    assert table.exit_code == 0, table.output
    assert "1 trades" in table.output and "2024-03-01T08:00" in table.output
    assert "windows ending in (2024-03-01 00:00, 2024-03-02 00:00]" in table.output
    assert (
        "note: range ends at the last stored window 2024-03-02 00:00 (asked to 2024-03-03 00:00)"
        in table.output
    )
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000
    csv = backtest(config, "--format", "csv", "--entry", "net:0.05", "--exit", "hold:24")
    lines = csv.stdout.splitlines()
    assert csv.exit_code == 0 and lines[0].startswith("entry_time,exit_time") and len(lines) == 2
    assert ",end," in lines[1]  # 03-01 08:00 on; the last window (03-02 00:00) is 16 h in: to the end


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--entry", "carry:1"], "--entry 'carry:1' is not a rule"),
        (["--exit", "hold:x"], "--exit 'hold:x': expected a number"),
        (["--pair", "XRP"], "XRP"),
    ],
)
def test_bad_options_are_one_line(config, args, words):
    result = backtest(config, *args)
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("arbdb: error:") and words in line


def test_a_range_without_windows_is_one_line_and_stores_nothing(config, tmp_path):
    chart = tmp_path / "none.png"
    argv = [
        "backtest",
        "--pair",
        "BTC",
        "--from",
        "2024-04-01",
        "--to",
        "2024-04-02",
        "--config",
        str(config),
    ]
    result = CliRunner().invoke(cli, [*argv, "--chart", str(chart)])
    assert result.exit_code == 0 and result.output.strip() == NO_WINDOWS
    assert open_db(config.parent / "arbdb.db")["backtests"].count == 0 and not chart.exists()


NO_WINDOWS = (
    "no stored windows for BTC ending in (2024-04-01 00:00, 2024-04-02 00:00]; "
    "fill them with `arbdb backfill --from 2024-04-01 --to 2024-04-02`"
)


def test_a_range_without_windows_stays_valid_json_and_csv(config):
    """A script reading stdout gets a valid empty result and exit 0; the note goes to stderr."""
    april = ["--from", "2024-04-01", "--to", "2024-04-02"]
    as_json = backtest(config, "--format", "json", *april)
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"backtest": None, "trades": [], "notes": [NO_WINDOWS]}
    assert as_json.stderr.strip() == f"arbdb: note: {NO_WINDOWS}"
    as_csv = backtest(config, "--format", "csv", *april)
    assert as_csv.exit_code == 0 and as_csv.stderr.strip() == f"arbdb: note: {NO_WINDOWS}"
    [header] = as_csv.stdout.splitlines()
    assert header.startswith("entry_time,exit_time,long_side,short_side,") and header.endswith(",net_apr")


def test_help_states_the_window_range_and_the_exit_order():
    text = " ".join(CliRunner().invoke(cli, ["backtest", "--help"]).output.split())
    assert "windows ending in (--from, --to]" in text and "[--from, --to)" not in text
    assert "when several fire at one close, the first listed names the exit" in text


def test_ranges_past_the_stored_data_are_one_stored_run(config):
    """--to 03-03 and --to 03-05 both end at the last stored window (03-02 00:00): the same run,
    stored once; the JSON says where the range ended."""
    first = json.loads(backtest(config, "--format", "json").stdout)
    later = backtest(config, "--format", "json", "--to", "2024-03-05")
    assert json.loads(later.stdout)["backtest"] == first["backtest"]
    assert json.loads(later.stdout)["notes"] == [
        "range ends at the last stored window 2024-03-02 00:00 (asked to 2024-03-05 00:00)"
    ]
    assert "arbdb: note: range ends at the last stored window 2024-03-02 00:00" in later.stderr
    assert open_db(config.parent / "arbdb.db")["backtests"].count == 1


def test_a_run_stored_under_the_asked_range_is_replaced(config):
    """A run of the same command stored before ranges were cut (keyed by --to 03-03, as arbdb stored
    it then) is replaced by the run keyed by where the range ends: one row per command."""
    settings = load_settings(config, env={})
    pair = settings.pair("BTC")
    costs = pair_costs(pair, settings.fees, 10_000.0, 2.0)  # as click passes them
    old = run_key(
        pair, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC), Rules().text(), costs
    )
    db = open_db(config.parent / "arbdb.db")
    row = {
        "id": old,
        "pair": "BTC",
        "range_start": T(1, "00"),
        "range_end": T(3, "00"),
        "rules": Rules().text(),
    }
    db["backtests"].insert(row)
    trade = {"backtest_id": old, "trade": 0, "pair": "BTC", "entry_time": T(1, "08"), "exit_time": T(3, "00")}
    db["backtest_trades"].insert(trade)
    db.close()
    result = backtest(config, "--format", "json")
    assert result.exit_code == 0, result.output
    db = open_db(config.parent / "arbdb.db")
    assert [r["range_end"] for r in db["backtests"].rows] == [T(2, "00")]
    assert db.execute("SELECT count(*) FROM backtest_trades WHERE backtest_id = ?", (old,)).fetchone()[0] == 0
