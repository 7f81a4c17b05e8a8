"""A cross-venue pair end to end: `arbdb backfill` of Binance (8 h) beside Hyperliquid (hourly) from the
loopback Tardis server, then the windows, against the sample generator's ground-truth settlements.

The expected rates come from the generator's simulated state (`SampleFeed.settlements`), never from
the pipeline: each 8-hour window must hold Binance's one settlement and the SUM of Hyperliquid's
eight hourly settlements (the funding actually paid), and the carry follows from those two numbers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import BINANCE, HYPERLIQUID
from pipelines.core.units import HOURS_PER_YEAR
from pipelines.store import open_readonly
from pipelines.transform.windows_stage import read_windows

START = date(2024, 11, 5)
DAYS = 2
SYMBOLS = {BINANCE: ["BTCUSDT"], HYPERLIQUID: ["BTC"]}


@pytest.fixture(scope="module")
def feed():
    return SampleFeed(seed=7, interval_seconds=30, symbols=SYMBOLS)


@pytest.fixture
def backfilled(feed, tmp_path):
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        config = {
            "database": str(tmp_path / "arbdb.db"),
            "tardis": {
                "endpoint": server.url,
                "datasets_endpoint": server.datasets_url,
                "workers": 1,
                "cache_dir": str(tmp_path / "cache"),
                "download_dir": str(tmp_path / "dl"),
            },
            "pairs": [{"name": "BTC-BIN-HL", "legs": ["binance-futures:BTCUSDT", "hyperliquid:BTC"]}],
            "mail": {"outbox_dir": str(tmp_path / "outbox")},
        }
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        end = START + timedelta(days=DAYS)
        result = CliRunner().invoke(
            cli,
            ["backfill", "--config", str(tmp_path / "config.yaml"), "--from", str(START), "--to", str(end)],
            env={"HOLYSHEEP_API_KEY": None, "TARDIS_API_KEY": None},
        )
        assert result.exit_code == 0, result.output
    db = open_readonly(tmp_path / "arbdb.db")
    yield db
    db.close()


def _truth(feed: SampleFeed, exchange: str, symbol: str) -> dict[datetime, tuple[float, float]]:
    days = [START + timedelta(days=i) for i in range(-1, DAYS + 1)]
    return {t: (rate, hours) for d in days for t, rate, hours in feed.settlements(exchange, symbol, d)}


def test_windows_sum_the_hourly_leg_and_take_the_8_hour_leg_as_settled(feed, backfilled):
    binance, hyper = _truth(feed, BINANCE, "BTCUSDT"), _truth(feed, HYPERLIQUID, "BTC")
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    windows = read_windows(backfilled, "BTC-BIN-HL", start, start + timedelta(days=DAYS))
    complete = windows[windows["complete"].astype(bool)]
    assert len(complete) >= 3 * DAYS - 1  # the last window waits for the day after the range
    for row in complete.itertuples():
        end = row.window_end.to_pydatetime()
        paid = [hyper[end - timedelta(hours=h)][0] for h in range(8)]
        assert row.b_settled == 8 and row.b_interval_hours == 1 and row.window_hours == 8
        assert row.b_rate == pytest.approx(sum(paid), abs=1e-12)
        a_rate, a_hours = binance[end]
        assert row.a_rate == pytest.approx(a_rate, abs=1e-12) and row.a_interval_hours == a_hours == 8
        assert row.funding_diff == pytest.approx(a_rate - sum(paid), abs=1e-12)
        assert row.carry_apr == pytest.approx((a_rate - sum(paid)) * HOURS_PER_YEAR / 8, abs=1e-9)
        assert (row.a_exchange, row.b_exchange) == (BINANCE, HYPERLIQUID)


def test_the_funding_table_holds_each_legs_ground_truth_with_its_interval(feed, backfilled):
    for exchange, symbol in ((BINANCE, "BTCUSDT"), (HYPERLIQUID, "BTC")):
        truth = _truth(feed, exchange, symbol)
        rows = backfilled.execute(
            "SELECT funding_time, rate, interval_hours FROM funding WHERE exchange = ? AND symbol = ?",
            (exchange, symbol),
        ).fetchall()
        assert len(rows) >= (3 if exchange == BINANCE else 24) * DAYS - 1
        for funding_time, rate, hours in rows:
            t = datetime.fromisoformat(funding_time.replace("Z", "+00:00"))
            assert (rate, hours) == pytest.approx(truth[t], abs=1e-12), (exchange, funding_time)
