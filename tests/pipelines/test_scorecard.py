"""The verdict scorecard on hand-written windows, settlements, marks and verdicts; figures by hand."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.config.settings import load_settings
from pipelines.store import open_db
from tests.pipelines.backtest.seed import A, B, mark, seed, settlement, window

T = "2024-03-0{}T{}:00:00Z".format
FEES = 2 * 10_000 * (0.0001 + 0.0002) + 4 * 10_000 * 2 / 1e4  # both legs' taker fees, 2 bps a fill: 14


def verdict(end, action, model, confidence, created="2024-03-05T00:00:00Z", version="v1"):
    return {
        "pair": "BTC",
        "window_end": end,
        "prompt_version": version,
        "risk": "LOW",
        "action": action,
        "confidence": confidence,
        "model": model,
        "feature_hash": "h",
        "created_at": created,
    }


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            database: {tmp_path / "arbdb.db"}
            pairs:
              - {{name: BTC, legs: ["{A[0]}:{A[1]}", "{B[0]}:{B[1]}"]}}
            fees:
              taker: {{{A[0]}: 0.0001, {B[0]}: 0.0002}}
            """
        )
    )
    db = open_db(tmp_path / "arbdb.db")
    windows = [window(T(1, "08"), 0.3), window(T(1, "16"), 0.2), window(T(2, "00"), -0.1)]
    windows += [window(T(2, "08"), 0.1, short="b"), window(T(2, "16"), 0.1, short="b")]
    gate = [(T(1, "16"), 0.002), (T(2, "00"), 0.0002), (T(2, "08"), 0.0001), (T(2, "16"), 0.0005)]
    bfx = [(T(1, "16"), 0.0001), (T(2, "00"), 0.0001), (T(2, "08"), 0.0001), (T(2, "16"), 0.003)]
    marks = [
        mark(leg, f"2024-03-0{d}T{h}:59:00Z", 100.0)
        for leg in (A, B)
        for d in (1, 2)
        for h in ("07", "15", "23")
    ]
    verdicts = [
        verdict(
            T(1, "08"), "HOLD", "gpt-4.1", 0.1, created="2024-03-04T00:00:00Z", version="v0"
        ),  # superseded
        verdict(T(1, "08"), "OPEN_ARB", "gpt-4.1", 0.9),
        verdict(T(1, "16"), "HOLD", "gpt-4.1", 0.3),
        verdict(T(2, "08"), "WATCH", "gpt-4.1", 0.6),
        verdict(T(1, "08"), "OPEN_ARB", "rules", 0.5, version="rules-v1"),  # a key is (window, version)
        verdict(
            T(2, "16"), "OPEN_ARB", "rules", 0.5, version="rules-v1"
        ),  # the last window: nothing after it to realise
    ]
    funding = [settlement(A, t, r, 8) for t, r in gate] + [settlement(B, t, r, 8) for t, r in bfx]
    seed(db, windows, funding, marks, verdicts)
    db.close()
    return path


# W1 01T08 -> exit at 02T00 (net < 0): short Gate 0.002 + 0.0002, long Bitfinex 0.0001 + 0.0001
OPEN_NET = 10_000 * (0.0022 - 0.0002) - FEES  # 6
HOLD_NET = 10_000 * (0.0002 - 0.0001) - FEES  # W2 01T16 -> 02T00: -13
WATCH_NET = 10_000 * (0.003 - 0.0005) - FEES  # W4 02T08, short Bitfinex, to the last window 02T16: 11


def apr(net, hours):
    return net / 10_000 * 8760 / hours


def run(config, *args):
    return CliRunner().invoke(cli, ["scorecard", "--config", str(config), "--format", "json", *args])


def test_each_model_and_action_scored_by_hand(config):
    result = run(config)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    rows = {(r["model"], r["action"]): r for r in body["by_action"]}
    assert set(rows) == {
        ("gpt-4.1", "HOLD"),
        ("gpt-4.1", "OPEN_ARB"),
        ("gpt-4.1", "WATCH"),
        ("rules", "OPEN_ARB"),
    }
    hold, open_, watch, rules = (rows[k] for k in sorted(rows))
    assert (hold["verdicts"], hold["scored"], hold["hit_rate"], hold["missed"]) == (1, 1, 0.0, 0)
    assert hold["mean_net_apr"] == pytest.approx(apr(HOLD_NET, 8))
    assert (open_["hit_rate"], open_["missed"]) == (1.0, None)
    assert open_["mean_net_apr"] == pytest.approx(apr(OPEN_NET, 16))
    assert (watch["hit_rate"], watch["missed"]) == (1.0, 1)
    assert watch["missed_mean_net_apr"] == pytest.approx(apr(WATCH_NET, 8))
    assert (rules["verdicts"], rules["scored"], rules["hit_rate"]) == (2, 1, 1.0)
    buckets = {(r["model"], r["confidence"]): (r["scored"], r["hit_rate"]) for r in body["calibration"]}
    assert buckets == {
        ("gpt-4.1", "0.25-0.5"): (1, 0.0),
        ("gpt-4.1", "0.5-0.75"): (1, 1.0),
        ("gpt-4.1", "0.75-1"): (1, 1.0),
        ("rules", "0.5-0.75"): (1, 1.0),
    }


def test_one_model_a_range_and_the_table(config):
    only = json.loads(run(config, "--model", "rules", "--from", "2024-03-02", "--to", "2024-03-03").output)
    assert [(r["model"], r["verdicts"], r["scored"]) for r in only["by_action"]] == [("rules", 1, 0)]
    table = CliRunner().invoke(cli, ["scorecard", "--config", str(config)])
    assert table.exit_code == 0 and "Confidence calibration" in table.output and "OPEN_ARB" in table.output
    none = CliRunner().invoke(cli, ["scorecard", "--config", str(config), "--model", "nobody"])
    assert none.exit_code == 0 and none.output.startswith("no stored verdicts from model 'nobody'")


def test_realised_carry_matches_a_backtest_of_the_same_trade(config):
    settings = load_settings(config, env={})
    from datetime import UTC, datetime

    from pipelines.research.scorecard import realised

    db = open_db(settings.database)
    rows = realised(
        db, settings, settings.pair("BTC"), datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC)
    )
    got = {(r.window_end, r.model): r.net_pnl for r in rows.itertuples()}
    assert got[(T(1, "08"), "gpt-4.1")] == pytest.approx(OPEN_NET)
    assert got[(T(1, "16"), "gpt-4.1")] == pytest.approx(HOLD_NET)
    assert got[(T(2, "08"), "gpt-4.1")] == pytest.approx(WATCH_NET)
