"""`arbdb screen` on a seeded database: venue pairs ranked by mean net carry APR, figures by hand."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import BITFINEX, GATE
from pipelines.store import open_db, upsert

SQRT2 = math.sqrt(2)
FEES_APR = 2 * (0.0005 + 0.00065) * 1095 / 21  # both legs' default taker fees, 8 h windows


def settlement(exchange, symbol, time, rate, hours):
    return {
        "exchange": exchange,
        "symbol": symbol,
        "funding_time": f"2024-03-{time}:00:00Z",
        "rate": rate,
        "predicted_rate": None,
        "interval_hours": hours,
        "apr": rate * 8760 / hours,
    }


@pytest.fixture
def seeded(tmp_path):
    """BTC: Gate every 4 h (configured) and Bitfinex every 8 h on 2024-03-01; Gate's 24:00 is missing.
    ETH: Gate only, so no venue pair."""
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            database: {tmp_path / "arbdb.db"}
            markets:
              - {{coin: BTC, venues: [{GATE}, {BITFINEX}]}}
              - {{coin: ETH, venues: [{GATE}, {BITFINEX}]}}
            pairs:
              - {{name: BTC, coin: BTC, venues: [{GATE}, {BITFINEX}], interval_hours: {{{GATE}: 4}}}}
            """
        )
    )
    gate = [("01T04", 0.0002), ("01T08", 0.0001), ("01T12", 0.0001), ("01T16", 0.0001), ("01T20", 0.0001)]
    bfx = [("01T08", 0.0001), ("01T16", 0.0003), ("02T00", 0.0001)]
    rows = [settlement(GATE, "BTC_USDT", t, r, 4.0) for t, r in gate]
    rows += [settlement(BITFINEX, "BTCF0:USTF0", t, r, 8.0) for t, r in bfx]
    rows += [settlement(GATE, "ETH_USDT", "01T08", 0.0001, 8.0)]
    db = open_db(tmp_path / "arbdb.db")
    upsert(db, "funding", rows)
    db.close()
    return config


def screen(config, *args):
    return CliRunner().invoke(
        cli, ["--config", str(config), "screen", "--from", "2024-03-01", "--to", "2024-03-02", *args]
    )


def test_screen_sums_each_leg_per_window_and_ranks_the_venue_pair(seeded):
    result = screen(seeded, "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    # windows ending 08, 16, 24: Gate 0.0002 + 0.0001 vs 0.0001, Gate 0.0001 + 0.0001 vs 0.0003,
    # and the last has Gate's 20:00 only (4 of 8 h): left out.
    assert (row["coin"], row["legs"], row["short"], row["long"]) == (
        "BTC",
        "Gate - Bitfinex",
        "Gate",
        "Bitfinex",
    )
    assert (row["leg_a"], row["leg_b"]) == ("gate-io-futures:BTC_USDT", "bitfinex-derivatives:BTCF0:USTF0")
    assert (row["window_hours"], row["windows"], row["windows_in_range"]) == (8, 2, 3)
    assert row["coverage"] == pytest.approx(2 / 3)
    assert row["mean_diff"] == pytest.approx((0.0002 - 0.0001) / 2)  # positive: Gate pays more
    assert row["mean_carry_apr"] == pytest.approx((0.219 - 0.1095) / 2)  # diff x 1095, in its sign
    assert row["std_carry_apr"] == pytest.approx((0.219 + 0.1095) / SQRT2)
    assert row["fees_apr"] == pytest.approx(FEES_APR)
    assert row["mean_net_carry_apr"] == pytest.approx(0.05475 - FEES_APR)
    assert row["share_with_sign"] == 0.5


def test_screen_table_and_csv_show_the_same_ranking(seeded):
    table = screen(seeded)
    assert table.exit_code == 0
    assert "Gate - Bitfinex" in table.output and "Gate/Bitfinex" in table.output
    assert f"{(0.05475 - FEES_APR) * 100:.1f}" in table.output and "2/3" in table.output
    csv = screen(seeded, "--format", "csv", "--coins", "btc").output.splitlines()
    assert csv[0].startswith("coin,legs,leg_a,leg_b,short,long") and len(csv) == 2


def test_an_empty_screen_says_which_backfill_fills_it(seeded):
    result = screen(seeded, "--coins", "ETH")
    assert result.exit_code == 0
    assert result.output == (
        "no two venues with stored settlements for ETH in 2024-03-01 .. 2024-03-02 (exclusive); "
        "fill them with `arbdb backfill --from 2024-03-01 --to 2024-03-02`\n"
    )


def test_an_unwatched_coin_is_one_line(seeded):
    result = screen(seeded, "--coins", "XRP")
    assert result.exit_code == 2
    assert result.output == "arbdb: error: coin 'XRP' is not watched; watched coins: BTC, ETH\n"
