"""Invariants of the pure backtest over random windows and settlements (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.backtest import metrics, pnl, rules

START = pd.Timestamp("2024-03-01", tz="UTC")
RATE = st.floats(-0.002, 0.002, allow_nan=False).map(lambda r: round(r, 6))


@st.composite
def history(draw):
    """8 h windows with random net carry and sides; leg a settles every 8 h, leg b every 1, 4 or 8 h."""
    n = draw(st.integers(1, 25))
    ends = pd.Series([START + pd.Timedelta(hours=8 * (i + 1)) for i in range(n)])
    short = draw(st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n))
    windows = pd.DataFrame(
        {
            "window_end": ends,
            "net_carry_apr": draw(st.lists(st.floats(-0.5, 0.5), min_size=n, max_size=n)),
            "short_side": short,
            "long_side": [{"a": "b", "b": "a"}.get(s) for s in short],
            "flagged": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        }
    )
    funding = {}
    for side, hours in (("a", 8), ("b", draw(st.sampled_from([1, 4, 8])))):
        times = pd.date_range(START + pd.Timedelta(hours=hours), ends.iloc[-1], freq=f"{hours}h")
        rates = draw(st.lists(RATE, min_size=len(times), max_size=len(times)))
        funding[side] = pd.DataFrame({"funding_time": times, "rate": rates})
    rule = rules.Rules(
        entry_net=draw(st.sampled_from([None, 0.0, 0.2])),
        entry_flag=draw(st.booleans()),
        exit_net=draw(st.sampled_from([None, -0.1, 0.0])),
        exit_sign=draw(st.booleans()),
        max_hold_hours=draw(st.sampled_from([None, 8, 24])),
    )
    return windows, funding, rule, ends.iloc[-1] + pd.Timedelta(hours=draw(st.sampled_from([0, 8])))


def flat_marks(trades: pd.DataFrame) -> dict[str, pd.DataFrame]:
    ones = pd.DataFrame({"entry_mark": np.ones(len(trades)), "exit_mark": np.ones(len(trades))})
    return {"a": ones, "b": ones}


def summed_differentials(trades: pd.DataFrame, funding: dict, notional: float) -> float:
    """The funding every trade earned, settlement by settlement, by a plain loop."""
    total = 0.0
    for trade in trades.itertuples():
        for side, leg in funding.items():
            for time, rate in zip(leg["funding_time"], leg["rate"], strict=True):
                if trade.entry_time < time <= trade.exit_time:
                    total += notional * (rate if side == trade.short_side else -rate)
    return total


@settings(max_examples=150, deadline=None)
@given(history())
def test_zero_costs_and_no_spread_change_earn_the_summed_differentials(case):
    windows, funding, rule, end = case
    made = rules.trades(windows, rule, end)
    priced = pnl.price_trades(made, funding, flat_marks(made), pnl.Costs(1000, 0, 0, 0))
    flows = pnl.settlement_flows(made, funding, 1000)
    want = summed_differentials(made, funding, 1000)
    assert priced["net_pnl"].sum() == pytest.approx(want, abs=1e-9)
    assert flows["amount"].sum() == pytest.approx(want, abs=1e-9)  # the equity curve's settlements
    assert (priced["exit_time"] > priced["entry_time"]).all()
    assert (priced["entry_time"].iloc[1:].to_numpy() >= priced["exit_time"].iloc[:-1].to_numpy()).all()


@settings(max_examples=60, deadline=None)
@given(history())
def test_a_position_never_open_earns_nothing(case):
    windows, funding, rule, end = case
    never = rules.Rules(entry_net=1.0, exit_net=rule.exit_net)  # no window reaches 100 % APR
    made = rules.trades(windows, never, end)
    priced = pnl.price_trades(made, funding, flat_marks(made), pnl.Costs(1000, 0.001, 0.001, 5))
    flows = pnl.settlement_flows(made, funding, 1000)
    figures = metrics.summary(priced, pnl.equity_events(priced, flows), START, end, 8, 1000)
    assert made.empty and flows.empty
    assert (figures["net_pnl"], figures["funding_pnl"], figures["fees"], figures["time_in_market"]) == (
        0,
        0,
        0,
        0,
    )
    assert figures["max_drawdown"] == 0 and figures["sharpe_per_period"] is None


def swapped(windows: pd.DataFrame, funding: dict) -> tuple[pd.DataFrame, dict]:
    """The same history with the legs listed the other way round (a <-> b)."""
    flip = {"a": "b", "b": "a"}
    windows = windows.assign(
        short_side=windows["short_side"].map(flip), long_side=windows["long_side"].map(flip)
    )
    return windows, {flip[side]: leg for side, leg in funding.items()}


def figures(windows: pd.DataFrame, funding: dict, rule, end) -> dict:
    made = rules.trades(windows, rule, end)
    priced = pnl.price_trades(made, funding, flat_marks(made), pnl.Costs(1000, 0.001, 0.001, 5))
    events = pnl.equity_events(priced, pnl.settlement_flows(made, funding, 1000))
    return metrics.summary(priced, events, START, end, 8, 1000)


@settings(max_examples=150, deadline=None)
@given(history())
def test_the_figures_do_not_depend_on_the_order_the_legs_are_listed(case):
    windows, funding, rule, end = case
    one, other = figures(windows, funding, rule, end), figures(*swapped(windows, funding), rule, end)
    for name in ("net_pnl", "max_drawdown", "time_in_market"):
        assert one[name] == pytest.approx(other[name], abs=1e-9)
