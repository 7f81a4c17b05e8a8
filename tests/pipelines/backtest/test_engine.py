"""Backtest runs on hand-written stored inputs; every expected figure is worked out by hand here."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from pipelines.backtest.engine import run_backtest, save
from pipelines.backtest.pnl import Costs
from pipelines.backtest.rules import Rules
from tests.pipelines.backtest.seed import A, B, mark, seed, settlement, window

START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC)
COSTS = Costs(notional=10_000, fee_a=0.0005, fee_b=0.0007, slippage_bps=2)
T = "2024-03-0{}T{}:00:00Z".format


@pytest.fixture
def three_settlements(db, settings):
    """Entry at the 03-01 16:00 close (net 30 % >= 25 %, Gate pays more: short a, long b), exit at
    the 03-02 16:00 close (net -5 % < 0). Gate settles three times while open (8 h), Bitfinex six
    (4 h). The 03-03 00:00 window fires again, but at the range end: no trade. Both legs' settlements
    are stored to the range end (03-03 00:00), so the range is not cut."""
    windows = [
        window(T(1, "08"), 0.10),
        window(T(1, "16"), 0.30),
        window(T(2, "00"), 0.20),
        window(T(2, "08"), 0.15),
        window(T(2, "16"), -0.05),
        window(T(3, "00"), 0.30),
    ]
    gate = [(T(1, "16"), 0.0004), (T(2, "00"), 0.0003), (T(2, "08"), 0.0002), (T(2, "16"), 0.0001)]
    gate += [(T(3, "00"), 0.0002)]
    bfx = [(T(1, "16"), 0.0009), (T(1, "20"), 0.00005), (T(2, "00"), 0.0001), (T(2, "04"), -0.00002)]
    bfx += [(T(2, "08"), 0.00001), (T(2, "12"), 0.0), (T(2, "16"), 0.00003), (T(2, "20"), 0.0001)]
    bfx += [(T(3, "00"), 0.00004)]
    marks = [
        mark(A, "2024-03-01T15:59:00Z", 100.0),
        mark(B, "2024-03-01T15:59:00Z", 99.5),
        mark(A, "2024-03-01T16:00:00Z", 90.0),  # after the entry close: not used
        mark(A, "2024-03-02T15:59:00Z", 101.0),
        mark(B, "2024-03-02T15:59:00Z", 100.7),
        mark(B, "2024-03-02T16:00:00Z", 50.0),
    ]
    seed(
        db,
        windows,
        [settlement(A, t, r, 8) for t, r in gate] + [settlement(B, t, r, 4) for t, r in bfx],
        marks,
    )
    return settings.pair("BTC")


def test_three_settlements_with_known_fees_and_marks(db, three_settlements):
    result = run_backtest(db, three_settlements, START, END, Rules(entry_net=0.25, exit_net=0.0), COSTS)
    [trade] = result.trades.to_dict("records")
    short_a = 0.0003 + 0.0002 + 0.0001  # Gate's settlements in (01T16, 02T16]
    long_b = 0.00005 + 0.0001 - 0.00002 + 0.00001 + 0.0 + 0.00003  # Bitfinex's
    funding = 10_000 * (short_a - long_b)  # 4.3
    fees = 2 * 10_000 * (0.0005 + 0.0007)  # open and close, both legs: 24
    slippage = 4 * 10_000 * 2 / 1e4  # four fills: 8
    spread = 10_000 * (100.7 / 99.5 - 101.0 / 100.0)  # long b, short a
    net = funding - fees - slippage + spread
    assert (trade["entry_time"], trade["exit_time"]) == (
        datetime(2024, 3, 1, 16, tzinfo=UTC),
        datetime(2024, 3, 2, 16, tzinfo=UTC),
    )
    assert (trade["short_leg"], trade["long_leg"], trade["exit_reason"]) == (
        "gate-io-futures:BTC_USDT",
        "bitfinex-derivatives:BTCF0:USTF0",
        "net",
    )
    assert trade["settlements"] == 3 + 6
    assert trade["funding_pnl"] == pytest.approx(funding, abs=1e-9)
    assert (trade["fees"], trade["slippage"]) == pytest.approx((fees, slippage))
    assert trade["spread_pnl"] == pytest.approx(spread)
    assert trade["net_pnl"] == pytest.approx(net)
    assert trade["net_apr"] == pytest.approx(net / 10_000 * 8760 / 24)
    run = result.run
    assert run["trades"] == 1 and run["time_in_market"] == pytest.approx(24 / 48)
    assert run["annualised_return"] == pytest.approx(net / 10_000 * 8760 / 48)
    # equity: -16 at entry (half the fill costs), then 01T20 b -0.5: the lowest point
    assert run["max_drawdown"] == pytest.approx(16.5)
    periods = [0, -16, -0.5 + 3 - 1, 0.2 + 2 - 0.1, 0 + 1 - 0.3 + spread - 16, 0]
    per_period = [p / 10_000 for p in periods]
    assert run["sharpe_per_period"] == pytest.approx(
        statistics.mean(per_period) / statistics.stdev(per_period)
    )


def test_zero_costs_and_flat_marks_earn_the_summed_differentials(db, three_settlements):
    free = Costs(notional=5_000, fee_a=0, fee_b=0, slippage_bps=0)
    result = run_backtest(db, three_settlements, START, END, Rules(entry_net=0.25, exit_net=0.0), free)
    spread = 5_000 * (100.7 / 99.5 - 101.0 / 100.0)
    assert result.run["net_pnl"] - spread == pytest.approx(5_000 * 0.00043, abs=1e-9)


def test_sign_and_hold_exits_and_the_range_end(db, three_settlements):
    sign = run_backtest(db, three_settlements, START, END, Rules(entry_net=0.1, exit_net=None), COSTS)
    # entry 01T08 (net 10 %), no exit rule but the sign: open to the range end 03T00
    assert sign.trades[["exit_reason"]].to_dict("list") == {"exit_reason": ["end"]}
    assert sign.trades["settlements"].tolist() == [5 + 9]  # Gate 16, 00, 08, 16, 00; Bitfinex 16 .. 00
    held = run_backtest(
        db, three_settlements, START, END, Rules(entry_net=0.1, exit_net=None, max_hold_hours=8), COSTS
    )
    # enter 01T08, hold 8 h -> exit 01T16; 01T16 opens nothing (it closed one); enter 02T00, exit 02T08 ...
    assert held.trades["exit_reason"].tolist() == ["hold", "hold"]
    assert held.trades["entry_time"].dt.hour.tolist() == [8, 0]


def test_a_rerun_is_an_upsert(db, three_settlements):
    rules = Rules(entry_net=0.25, exit_net=0.0)
    for _ in range(2):
        save(db, run_backtest(db, three_settlements, START, END, rules, COSTS))
    assert db["backtests"].count == 1 and db["backtest_trades"].count == 1
    other = Costs(notional=20_000, fee_a=0.0005, fee_b=0.0007, slippage_bps=2)
    save(db, run_backtest(db, three_settlements, START, END, rules, other))
    assert db["backtests"].count == 2


def test_entry_on_a_models_open_arb_verdict(db, three_settlements):
    def verdict(end, action, model, created):
        return {
            "pair": "BTC",
            "window_end": end,
            "prompt_version": created,
            "risk": "LOW",
            "action": action,
            "confidence": 0.5,
            "model": model,
            "feature_hash": "x",
            "created_at": created,
        }

    seed(
        db,
        verdicts=[
            verdict(T(2, "00"), "OPEN_ARB", "gpt-4.1", "v1"),
            verdict(T(2, "08"), "OPEN_ARB", "gpt-4.1", "v1"),
            verdict(T(2, "08"), "HOLD", "gpt-4.1", "v2"),  # the latest verdict of 02T08 wins
            verdict(T(1, "08"), "OPEN_ARB", "rules", "v1"),
        ],
    )
    rules = Rules(entry_net=None, entry_model="gpt-4.1", exit_net=0.0)
    result = run_backtest(db, three_settlements, START, END, rules, COSTS)
    assert result.trades[["entry_time", "exit_time"]].map(lambda t: t.hour).values.tolist() == [[0, 16]]


def test_an_incomplete_window_opens_nothing(db, three_settlements):
    """Issue 17: a window holding a hint settlement (or missing one) is never complete, and its net
    carry is not known: a trade must not open on it. The 03-01 16:00 entry window made incomplete
    leaves the next window firing the entry rule (03-02 00:00, net 20 % >= 20 %)."""
    db.execute("UPDATE windows SET complete = 0 WHERE window_end = ?", [T(1, "16")])
    db.conn.commit()
    result = run_backtest(db, three_settlements, START, END, Rules(entry_net=0.2, exit_net=0.0), COSTS)
    assert result.trades["entry_time"].tolist() == [datetime(2024, 3, 2, 0, tzinfo=UTC)]
