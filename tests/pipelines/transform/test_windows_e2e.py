"""Prediction kinds end to end: `arbdb backfill` of Gate beside OKX from the loopback Tardis server,
then `arbdb windows`, checked against the sample generator's ground truth.

Gate has shown the settled rate itself as its prediction since 2022-08 (the generator does too: its
`predicted_funding_rate` is its `funding_rate`), so Gate's forecast error is 0 by construction and
is not given; OKX's `nextFundingRate` is a forecast one period ahead (`loopback/okx_sim.py`), so its
error is. Rates are the generator's settled rates (`SampleFeed.settlements`).
"""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta

import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import GATE, OKX

START = date(2024, 11, 5)
DAYS = 2
SYMBOLS = {GATE: ["BTC_USDT"], OKX: ["BTC-USDT-SWAP"]}
PAIR = "BTC-GATE-OKX"


@pytest.fixture(scope="module")
def feed():
    return SampleFeed(seed=7, interval_seconds=30, symbols=SYMBOLS)


@pytest.fixture
def config(feed, tmp_path):
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
            "pairs": [{"name": PAIR, "legs": [f"{GATE}:BTC_USDT", f"{OKX}:BTC-USDT-SWAP"]}],
            "mail": {"outbox_dir": str(tmp_path / "outbox")},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        end = START + timedelta(days=DAYS)
        result = CliRunner().invoke(
            cli,
            ["backfill", "--config", str(path), "--from", str(START), "--to", str(end)],
            env={"HOLYSHEEP_API_KEY": None, "TARDIS_API_KEY": None},
        )
        assert result.exit_code == 0, result.output
    return path


def windows(config, *args) -> str:
    span = ["--from", str(START), "--to", str(START + timedelta(days=DAYS))]
    result = CliRunner().invoke(
        cli, ["--config", str(config), "windows", "--pair", PAIR, *span, *args], obj={}
    )
    assert result.exit_code == 0, result.output
    return result.output


def _truth(feed: SampleFeed, exchange: str, symbol: str) -> dict[str, float]:
    days = [START + timedelta(days=i) for i in range(-1, DAYS + 1)]
    return {
        t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"): rate
        for d in days
        for t, rate, _ in feed.settlements(exchange, symbol, d)
    }


def test_gate_settled_beside_okx_forecast_through_backfill_and_windows(feed, config):
    rows = json.loads(windows(config, "--format", "json"))
    assert len(rows) == 3 * DAYS
    gate, okx = _truth(feed, GATE, "BTC_USDT"), _truth(feed, OKX, "BTC-USDT-SWAP")
    settled = [r for r in rows if r["a_settled"] and r["b_settled"]]
    assert len(settled) >= 3 * DAYS - 1  # the last window's OKX settlement may wait for the next day
    for row in settled:
        assert row["a_rate"] == pytest.approx(gate[row["window_end"]], abs=1e-12)
        assert row["b_rate"] == pytest.approx(okx[row["window_end"]], abs=1e-12)
        assert row["a_forecast_error"] is None  # Gate's prediction is its settled rate: error 0, not given
        assert (row.get("a_predicted_kind"), row.get("b_predicted_kind")) == ("settled", "forecast")
    # OKX's forecast of the first period lies before the range; every later one is in the data
    forecast = [r for r in settled if r["b_predicted"] is not None]
    assert len(forecast) >= len(settled) - 1
    for row in forecast:
        assert row["b_forecast_error"] == pytest.approx(
            okx[row["window_end"]] - row["b_predicted"], abs=1e-12
        )
    table = windows(config)
    assert "predicted rate: Gate settled (the settled rate itself, no forecast error)" in table
    assert "OKX forecast" in table
