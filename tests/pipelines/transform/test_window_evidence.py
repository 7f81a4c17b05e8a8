"""Settlement evidence in windows (issue 17), on a real SQLite file: funding and minute rows are
stored through `pipelines.store.upsert`, windows computed by `update_windows` and shown by
`arbdb windows` and the cost report.

Expected values are the seeded rows' own numbers (a forecast error is the seeded rate minus the
seeded prediction) or hand computations from them, never the code's output.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.config.settings import load_settings
from pipelines.core.columns import BINANCE, BITFINEX, BYBIT, GATE, OKX
from pipelines.core.timeutil import to_iso
from pipelines.report.data import build_report
from pipelines.report.render import render_report
from pipelines.store import open_db, transaction, upsert
from pipelines.transform.windows_stage import read_windows, update_windows
from tests.fixtures.windows_data import minute_rows

START = datetime(2024, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
HINT = "Gate BTC_USDT 2024-03-01 16:00: interval 8 h configured, data shows none"


def settlement(exchange, symbol, time, rate, predicted, kind, hours=8.0, evidence="data", warning=None):
    """One `funding` row as a venue's settle function stores it."""
    return {
        "exchange": exchange,
        "symbol": symbol,
        "funding_time": to_iso(time),
        "rate": rate,
        "predicted_rate": predicted,
        "interval_hours": hours,
        "apr": rate * 8760 / hours,
        "predicted_kind": kind,
        "evidence": evidence,
        "warning": warning,
    }


def every(hours: float, days: int, start: datetime = START) -> list[datetime]:
    """Funding times every `hours` from 3 days before `start` (interval lookback) to `days` after."""
    n = int((days + 3) * 24 / hours)
    return [start - timedelta(days=3) + (i + 1) * hours * H for i in range(n)]


@pytest.fixture
def configure(tmp_path):
    """Settings (and their config file) for the pairs given: {"name": ..., "legs": [...]}."""

    def make(pairs: list[dict], **transform):
        config = {
            "database": str(tmp_path / "arbdb.db"),
            "tardis": {
                "workers": 1,
                "cache_dir": str(tmp_path / "cache"),
                "download_dir": str(tmp_path / "dl"),
            },
            "pairs": pairs,
            "transform": transform,
            "mail": {"outbox_dir": str(tmp_path / "outbox")},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path, load_settings(path, env={})

    return make


def store(settings, minutes: list[tuple[str, str]], funding: list[dict], days: int, seed: int = 1):
    db = open_db(settings.database)
    with transaction(db):
        for i, (exchange, symbol) in enumerate(minutes):
            upsert(db, "tickers", minute_rows(exchange, symbol, START, days, seed + i))
        upsert(db, "funding", funding)
    return db


def windows_cli(config, *args):
    result = CliRunner().invoke(cli, ["--config", str(config), "windows", *args], obj={})
    assert result.exit_code == 0, result.output
    return result.output


# -- prediction kinds ----------------------------------------------------------------------------


def test_a_gate_leg_in_the_settled_era_has_no_forecast_error_beside_an_okx_forecast(configure):
    config, settings = configure([{"name": "BTC-GO", "legs": [f"{GATE}:BTC_USDT", f"{OKX}:BTC-USDT-SWAP"]}])
    times = every(8, 1)
    gate = [settlement(GATE, "BTC_USDT", t, 1e-4, 1e-4, "settled") for t in times]  # predicted = settled
    okx = [settlement(OKX, "BTC-USDT-SWAP", t, 3e-4, 2.5e-4, "forecast") for t in times]
    db = store(settings, [(GATE, "BTC_USDT"), (OKX, "BTC-USDT-SWAP")], gate + okx, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC-GO"), START, START + 24 * H)
    rows = read_windows(db, "BTC-GO", START, START + 24 * H)
    assert len(rows) == 3 and rows["complete"].all()
    assert rows["a_forecast_error"].isna().all()  # 0 by construction: no forecast to judge
    assert set(rows["a_predicted_kind"]) == {"settled"} and set(rows["b_predicted_kind"]) == {"forecast"}
    assert rows["b_forecast_error"].tolist() == pytest.approx([3e-4 - 2.5e-4] * 3)
    data = json.loads(
        windows_cli(
            config, "--pair", "BTC-GO", "--from", "2024-03-01", "--to", "2024-03-02", "--format", "json"
        )
    )
    assert [(r["a_predicted_kind"], r["a_forecast_error"], r["b_predicted_kind"]) for r in data] == [
        ("settled", None, "forecast")
    ] * 3
    table = windows_cli(config, "--pair", "BTC-GO", "--from", "2024-03-01", "--to", "2024-03-02")
    assert (
        "predicted rate: Gate settled (the settled rate itself, no forecast error) 3; OKX forecast 3" in table
    )


def test_a_window_whose_settlements_predict_in_different_ways_is_mixed_and_gives_no_error(configure):
    # Bybit settles every 4 h; up to 04:00 it forecast a period ahead (before V5), then a running
    # estimate (V5): the window (00:00, 08:00] holds one of each.
    _, settings = configure([{"name": "BTC-BB", "legs": [f"{BYBIT}:BTCUSDT", f"{BINANCE}:BTCUSDT"]}])
    bybit = [
        settlement(
            BYBIT, "BTCUSDT", t, 1e-4, 1e-4 - 1e-5, "forecast" if t <= START + 4 * H else "estimate", 4
        )
        for t in every(4, 1)
    ]
    binance = [settlement(BINANCE, "BTCUSDT", t, 1e-4, 1e-4, "estimate") for t in every(8, 1)]
    db = store(settings, [(BYBIT, "BTCUSDT"), (BINANCE, "BTCUSDT")], bybit + binance, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC-BB"), START, START + 24 * H)
    rows = read_windows(db, "BTC-BB", START, START + 24 * H)
    assert rows["a_settled"].tolist() == [2, 2, 2]
    assert rows["a_predicted_kind"].tolist() == ["mixed", "estimate", "estimate"]
    assert math.isnan(rows["a_forecast_error"].iloc[0])
    assert rows["a_forecast_error"].iloc[1:].tolist() == pytest.approx([2e-5, 2e-5])  # 1e-5 twice


def test_forecast_error_zscores_never_reach_across_an_era_change(configure):
    """Bybit forecasts (before V5, errors about 0) for 4 days, then running estimates (errors about
    3e-4). A z-score against the forecast era would read the first estimates as extreme; scored
    only against windows of their own kind, they wait for `min_periods` estimate windows."""
    config, settings = configure(
        [{"name": "BTC-BB", "legs": [f"{BYBIT}:BTCUSDT", f"{BINANCE}:BTCUSDT"]}],
        zscore_features=["a_forecast_error"],
        lookback_windows=6,
        min_periods=3,
        net_carry_apr_floor=None,
    )
    days, switch = 6, START + timedelta(days=4)
    rng = np.random.default_rng(5)
    times = every(8, days)
    errors = np.where([t <= switch for t in times], 0.0, 3e-4) + rng.normal(0, 1e-5, len(times)).round(8)
    kinds = ["forecast" if t <= switch else "estimate" for t in times]
    bybit = [
        settlement(BYBIT, "BTCUSDT", t, 1e-4, 1e-4 - e, k)
        for t, e, k in zip(times, errors, kinds, strict=True)
    ]
    binance = [settlement(BINANCE, "BTCUSDT", t, 1e-4, 1e-4, "estimate") for t in times]
    db = store(settings, [(BYBIT, "BTCUSDT"), (BINANCE, "BTCUSDT")], bybit + binance, days=days)
    update_windows(db, settings.window_config(), settings.pair("BTC-BB"), START, START + timedelta(days=days))
    rows = read_windows(db, "BTC-BB", START, START + timedelta(days=days)).set_index("window_end")
    assert rows["complete"].all()
    after = rows[rows.index > switch]
    # the first three estimate windows have fewer than 3 estimate windows before them
    assert after["z_a_forecast_error"].iloc[:3].isna().all()
    assert not any("forecast error" in r for rs in rows["reasons"] for r in rs)
    assert (after["a_predicted_kind"] == "estimate").all() and len(after) == 6
    # the fourth is scored against the three before it, all estimates (hand computation)
    by_time = dict(zip(times, errors, strict=True))
    past = [by_time[t.to_pydatetime()] for t in after.index[:3]]
    x = by_time[after.index[3].to_pydatetime()]
    floor = 0.05 * 8 / 8760
    expected = (x - np.mean(past)) / max(np.std(past, ddof=1), floor)
    assert after["z_a_forecast_error"].iloc[3] == pytest.approx(expected, rel=1e-6)
    assert after["a_forecast_error"].iloc[3] == pytest.approx(x, abs=1e-12)


# -- evidence and warnings -----------------------------------------------------------------------


@pytest.fixture
def gate_bitfinex(configure):
    config, settings = configure([{"name": "BTC", "legs": [f"{GATE}:BTC_USDT", f"{BITFINEX}:BTCF0:USTF0"]}])
    return config, settings


def test_a_window_holding_a_hint_settlement_is_incomplete_and_says_why(gate_bitfinex):
    config, settings = gate_bitfinex
    hint_at = START + 16 * H
    gate = [
        settlement(
            GATE,
            "BTC_USDT",
            t,
            1e-4,
            1e-4,
            "settled",
            **({"evidence": "hint", "warning": HINT} if t == hint_at else {}),
        )
        for t in every(8, 1)
    ]
    bitfinex = [settlement(BITFINEX, "BTCF0:USTF0", t, 5e-5, 5e-5, "estimate") for t in every(8, 1)]
    db = store(settings, [(GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")], gate + bitfinex, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC"), START, START + 24 * H)
    rows = read_windows(db, "BTC", START, START + 24 * H).set_index("window_end")
    assert rows["complete"].tolist() == [True, False, True]  # (08:00, 16:00] holds the hint
    assert rows["warnings"].tolist() == [[], [HINT], []]
    assert not rows["flagged"].any()
    table = windows_cli(config, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02")
    line = next(ln for ln in table.splitlines() if ln.lstrip().startswith("2024-03-01 16:00"))
    assert "incomplete" in line
    assert HINT in " ".join(table.split()) and f"warning: {HINT} (1 window)" in table
    _, text, _ = render_report(build_report(db, settings, date(2024, 3, 1), START + 30 * H))
    assert f"BTC window ending 2024-03-01T16:00:00Z: incomplete: {HINT}" in text


def test_a_hint_without_words_still_gets_a_warning(gate_bitfinex):
    config, settings = gate_bitfinex
    gate = [
        settlement(
            GATE, "BTC_USDT", t, 1e-4, 1e-4, "settled", evidence="hint" if t == START + 8 * H else "data"
        )
        for t in every(8, 1)
    ]
    bitfinex = [settlement(BITFINEX, "BTCF0:USTF0", t, 5e-5, 5e-5, "estimate") for t in every(8, 1)]
    db = store(settings, [(GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")], gate + bitfinex, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC"), START, START + 24 * H)
    first = read_windows(db, "BTC", START, START + 8 * H).iloc[0]
    assert not first["complete"] and first["warnings"] == ["Gate settlement unconfirmed by the data"]


def test_a_settlement_warning_reaches_the_window_the_table_and_the_report(gate_bitfinex):
    """A data settlement whose stated rate differs from the inferred one keeps its window complete
    (the rate paid is known), and its venue's warning is shown wherever window warnings are."""
    config, settings = gate_bitfinex
    stated = "Bitfinex BTCF0:USTF0 2024-03-01 08:00: stated 0.00006, inferred 0.00005"
    gate = [settlement(GATE, "BTC_USDT", t, 1e-4, 1e-4, "settled") for t in every(8, 1)]
    bitfinex = [
        {
            **settlement(BITFINEX, "BTCF0:USTF0", t, 5e-5, 5e-5, "estimate"),
            **({"warning": stated, "stated_rate": 6e-5} if t == START + 8 * H else {}),
        }
        for t in every(8, 1)
    ]
    db = store(settings, [(GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")], gate + bitfinex, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC"), START, START + 24 * H)
    rows = read_windows(db, "BTC", START, START + 24 * H)
    assert rows["complete"].all() and rows["warnings"].tolist() == [[stated], [], []]
    table = windows_cli(config, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02")
    assert f"warning: {stated} (1 window)" in table
    _, text, html = render_report(build_report(db, settings, date(2024, 3, 1), START + 30 * H))
    assert f"BTC window ending 2024-03-01T08:00:00Z: {stated}" in text
    assert stated in html


def test_the_interval_check_reads_data_settlements_only(configure):
    """Gate configured 4 h on a contract the data shows settling every 8 h: the venue stores the
    8-hourly settlements as data and the mid-period ones it could not confirm as hints. Measured
    over all of them the spacing is the configured 4 h; over the data it is 8 h, and says so."""
    config, settings = configure(
        [
            {
                "name": "BTC",
                "legs": [f"{GATE}:BTC_USDT", f"{BITFINEX}:BTCF0:USTF0"],
                "interval_hours": {GATE: 4},
            }
        ]
    )
    gate = [
        settlement(GATE, "BTC_USDT", t, 1e-4, 1e-4, "settled", hours=4)
        if t.hour % 8 == 0
        else settlement(
            GATE,
            "BTC_USDT",
            t,
            0.0,
            0.0,
            "settled",
            hours=4,
            evidence="hint",
            warning=f"Gate {t:%H:%M}: no settlement in the data",
        )
        for t in every(4, 1)
    ]
    bitfinex = [settlement(BITFINEX, "BTCF0:USTF0", t, 5e-5, 5e-5, "estimate") for t in every(8, 1)]
    db = store(settings, [(GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")], gate + bitfinex, days=1)
    update_windows(db, settings.window_config(), settings.pair("BTC"), START, START + 24 * H)
    rows = read_windows(db, "BTC", START, START + 24 * H)
    assert rows["a_interval_inferred_hours"].tolist() == [8.0, 8.0, 8.0]
    assert all("Gate settles every 8 h, configured 4 h" in w for w in rows["warnings"])
    assert not rows["complete"].any()
    table = windows_cli(config, "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02")
    assert "warning: Gate settles every 8 h, configured 4 h (3 windows)" in table


def test_cached_verdicts_survive_kinds_being_recorded_unless_the_features_change(configure):
    """Rows stored before kinds were recorded have none; re-deriving them fills it in. OKX's
    "forecast" changes nothing the model was given, so its verdicts stay; Gate's "settled" voids
    the 0 forecast error the model was shown, so those verdicts go (the window is analysed again)."""
    _, settings = configure([{"name": "BTC-GO", "legs": [f"{GATE}:BTC_USDT", f"{OKX}:BTC-USDT-SWAP"]}])
    times = every(8, 1)
    gate = [settlement(GATE, "BTC_USDT", t, 1e-4, 1e-4, None) for t in times]
    okx = [settlement(OKX, "BTC-USDT-SWAP", t, 3e-4, 2.5e-4, None) for t in times]
    db = store(settings, [(GATE, "BTC_USDT"), (OKX, "BTC-USDT-SWAP")], gate + okx, days=1)
    span = (START, START + 24 * H)
    update_windows(db, settings.window_config(), settings.pair("BTC-GO"), *span)
    stored = read_windows(db, "BTC-GO", *span)
    assert stored["a_forecast_error"].tolist() == [0.0] * 3  # unknown kind: the error as before
    verdict = {"prompt_version": "v1", "risk": "LOW", "action": "HOLD", "confidence": 0.5, "model": "rules"}
    rows = [{"pair": "BTC-GO", "window_end": to_iso(r.window_end), "feature_hash": r.features_hash, **verdict}
            for r in stored.itertuples()]  # fmt: skip
    with transaction(db):
        upsert(db, "verdicts", rows)

    def verdicts() -> int:
        return db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    with transaction(db):
        upsert(db, "funding", [{**r, "predicted_kind": "forecast"} for r in okx])
    update_windows(db, settings.window_config(), settings.pair("BTC-GO"), *span)
    assert set(read_windows(db, "BTC-GO", *span)["b_predicted_kind"]) == {"forecast"} and verdicts() == 3
    with transaction(db):
        upsert(db, "funding", [{**r, "predicted_kind": "settled"} for r in gate])
    update_windows(db, settings.window_config(), settings.pair("BTC-GO"), *span)
    assert read_windows(db, "BTC-GO", *span)["a_forecast_error"].isna().all() and verdicts() == 0
