"""Held-out check of the windows (issue 17): `arbdb backfill` over the demo range of pairs whose legs
switch intervals (Gate DOGE 8 h -> 4 h -> 8 h beside Binance's switching coins; Bybit ETH going
hourly at the cap and back beside OKX ETH escalating 8 -> 1 h), on a seed no other test uses. Every
complete window's legs hold exactly the settlements the simulated venues paid inside it, summed; a
window that is not complete says why.

The expected sums come from the generator's ground truth (`SampleFeed.settlements`), never from the
pipeline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli
from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.core.columns import BINANCE, BYBIT, GATE, OKX
from pipelines.store import open_readonly
from pipelines.transform.windows_stage import read_windows

pytestmark = pytest.mark.slow

SEED = 6007  # used nowhere else
FIRST = date(2024, 3, 1)
DAYS = 14
PAIRS = {
    "DOGE-GATE-BIN": ((GATE, "DOGE_USDT"), (BINANCE, "DOGEUSDT")),
    "SOL-GATE-BIN": ((GATE, "SOL_USDT"), (BINANCE, "SOLUSDT")),
    "ETH-BYB-OKX": ((BYBIT, "ETHUSDT"), (OKX, "ETH-USDT-SWAP")),
}


@pytest.fixture(scope="module")
def feed():
    symbols: dict[str, list[str]] = {}
    for legs in PAIRS.values():
        for exchange, symbol in legs:
            symbols.setdefault(exchange, []).append(symbol)
    return SampleFeed(seed=SEED, interval_seconds=20, symbols=symbols)


@pytest.fixture(scope="module")
def backfilled(feed, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heldout-windows")
    with start_in_thread(feed, data_dir=tmp / "sample") as server:
        config = {
            "database": str(tmp / "arbdb.db"),
            "tardis": {
                "endpoint": server.url,
                "datasets_endpoint": server.datasets_url,
                "cache_dir": str(tmp / "cache"),
                "download_dir": str(tmp / "dl"),
            },
            "pairs": [{"name": n, "legs": [f"{e}:{s}" for e, s in legs]} for n, legs in PAIRS.items()],
            "mail": {"outbox_dir": str(tmp / "outbox")},
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        end = FIRST + timedelta(days=DAYS)
        result = CliRunner().invoke(
            cli,
            ["backfill", "--config", str(tmp / "config.yaml"), "--from", str(FIRST), "--to", str(end)],
            env={"HOLYSHEEP_API_KEY": None, "TARDIS_API_KEY": None},
        )
        assert result.exit_code == 0, result.output
    db = open_readonly(tmp / "arbdb.db")
    yield db
    db.close()


def _paid(feed: SampleFeed, exchange: str, symbol: str) -> dict[datetime, float]:
    days = [FIRST + timedelta(days=i) for i in range(-1, DAYS + 1)]
    return {t: rate for d in days for t, rate, _ in feed.settlements(exchange, symbol, d)}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_complete_windows_sum_what_the_venues_paid_and_the_others_say_why(feed, backfilled, pair):
    start = datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC)
    windows = read_windows(backfilled, pair, start, start + timedelta(days=DAYS))
    assert len(windows) >= DAYS * 3 - 1
    paid = {side: _paid(feed, *leg) for side, leg in zip("ab", PAIRS[pair], strict=True)}
    complete = 0
    for row in windows.to_dict("records"):
        lo, hi = row["window_start"].to_pydatetime(), row["window_end"].to_pydatetime()
        if not row["complete"]:
            assert row["warnings"], f"{pair} {hi}: incomplete without a warning"
            continue
        complete += 1
        for side in "ab":
            inside = [rate for t, rate in paid[side].items() if lo < t <= hi]
            assert row[f"{side}_settled"] == len(inside), (pair, hi, side)
            assert row[f"{side}_rate"] == pytest.approx(sum(inside), abs=1e-12), (pair, hi, side)
    incomplete = [(r["window_end"], r["warnings"]) for r in windows.to_dict("records") if not r["complete"]]
    # Only the range's edges may wait: the first period's opening and the last instant are outside it.
    assert complete >= len(windows) - 2, f"{pair}: incomplete {incomplete}"
