"""One backtest run: read the pair's stored inputs, make and price its trades, sum it up, store it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import sqlite_utils

from pipelines.backtest import coverage, metrics, pnl, rules, store
from pipelines.config.pairs import Pair
from pipelines.config.settings import Fees
from pipelines.core.columns import SIDES
from pipelines.core.timeutil import series_from_iso, to_iso
from pipelines.core.units import HOURS_PER_YEAR


@dataclass
class Backtest:
    """A run's `backtests` row, its `backtest_trades` rows and its equity events."""

    run: dict
    trades: pd.DataFrame
    events: pd.DataFrame
    windows: int = 0  # stored windows the rules read (0: nothing to backtest yet)
    notes: list[str] = field(default_factory=list)  # why the range ends before the one asked
    asked_end: str = ""  # the range end asked (ISO); `run["range_end"]` is where it really ends
    replaces: str | None = None  # the key of the run asked (cut: stored before the cut existed)


def pair_costs(pair: Pair, fees: Fees, notional: float, slippage_bps: float) -> pnl.Costs:
    """The pair's legs' taker fees (`settings.fees`), with the run's notional and slippage."""
    fee_a, fee_b = (fees.taker_fee(leg.exchange) for leg in pair.legs)
    return pnl.Costs(notional=notional, fee_a=fee_a, fee_b=fee_b, slippage_bps=slippage_bps)


def open_arb_mask(windows: pd.DataFrame, ends: set) -> pd.Series:
    """Per window: is its end among `ends` (ISO text)?"""
    iso = windows["window_end"].map(to_iso) if len(windows) else pd.Series(dtype=object)
    return iso.isin(ends)


def _trade_rows(priced: pd.DataFrame, pair: Pair, notional: float) -> pd.DataFrame:
    names = {side: f"{leg.exchange}:{leg.symbol}" for side, leg in zip(SIDES, pair.legs, strict=True)}
    hours = (priced["exit_time"] - priced["entry_time"]).dt.total_seconds() / 3600
    ret = priced["net_pnl"] / notional
    return priced.assign(
        pair=pair.name,
        long_leg=priced["long_side"].map(names),
        short_leg=priced["short_side"].map(names),
        hours=hours,
        return_on_notional=ret,
        net_apr=ret * HOURS_PER_YEAR / hours.where(hours > 0),
    )


def run_backtest(
    db: sqlite_utils.Database,
    pair: Pair,
    start: datetime,
    end: datetime,
    chosen: rules.Rules,
    costs: pnl.Costs,
) -> Backtest:
    """Backtest `pair` over windows ending in (start, end], the end held to the stored data
    (`coverage.usable_span`, its notes say where and why): the trades, their P&L and the figures."""
    span = coverage.usable_span(db, pair, start, end)
    asked, end = to_iso(end), span.end
    windows, funding = store.read_inputs(db, pair, start, end)
    open_arb = None
    if chosen.entry_model:
        open_arb = open_arb_mask(windows, store.read_open_arb(db, pair.name, chosen.entry_model, start, end))
    made = rules.trades(windows, chosen, end, open_arb)
    made = made.assign(
        entry_time=series_from_iso(made["entry_time"].map(to_iso)),
        exit_time=series_from_iso(made["exit_time"].map(to_iso)),
    )
    priced = pnl.price_trades(made, funding, store.read_marks(db, pair, made), costs)
    events = pnl.equity_events(priced, pnl.settlement_flows(made, funding, costs.notional))
    figures = metrics.summary(priced, events, start, end, pair.window_hours, costs.notional)
    run = _run_row(pair, start, end, chosen, costs) | figures
    # A range cut short is keyed by where it ends, so every --to past the data is one stored run;
    # a run of the same command stored before ranges were cut (keyed by the --to asked) goes.
    replaces = (
        store.run_key(pair, start, span.asked, chosen.text(), costs) if span.end != span.asked else None
    )
    trades = _trade_rows(priced, pair, costs.notional)
    return Backtest(run, trades, events, len(windows), span.notes, asked, replaces)


def _run_row(pair: Pair, start: datetime, end: datetime, chosen: rules.Rules, costs: pnl.Costs) -> dict:
    text = chosen.text()
    a, b = pair.legs
    return {
        "id": store.run_key(pair, start, end, text, costs),
        "pair": pair.name,
        "a_leg": f"{a.exchange}:{a.symbol}",
        "b_leg": f"{b.exchange}:{b.symbol}",
        "range_start": to_iso(start),
        "range_end": to_iso(end),
        "rules": text,
        "notional": costs.notional,
        "fee_a": costs.fee_a,
        "fee_b": costs.fee_b,
        "slippage_bps": costs.slippage_bps,
        "window_hours": pair.window_hours,
    }


def save(db: sqlite_utils.Database, result: Backtest) -> None:
    """Store the run and its trades (an upsert keyed by the run's hash), dropping the run it replaces."""
    store.write_run(db, result.run, result.trades, result.replaces)
