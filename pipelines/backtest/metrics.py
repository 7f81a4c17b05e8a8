"""One backtest's figures from its priced trades and equity events (pure)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.core.units import HOURS_PER_YEAR


def instant_equity(events: pd.DataFrame) -> pd.Series:
    """The running equity after each instant (time-indexed): every cash event of one instant (both
    legs' settlements, an exit's costs and spread) netted into one point, so the curve does not
    depend on the order the legs or events of one instant are listed in."""
    if events.empty:
        return pd.Series(dtype=float)
    return events.groupby("time", sort=True)["amount"].sum().cumsum()


def max_drawdown(equity: pd.Series) -> float:
    """Largest fall of the running equity (one point per instant, `instant_equity`) from its previous
    peak (quote currency, >= 0); the curve starts at 0 before the first event."""
    if equity.empty:
        return 0.0
    curve = np.concatenate([[0.0], equity.to_numpy(dtype=float)])
    return float((np.maximum.accumulate(curve) - curve).max())


def period_returns(events: pd.DataFrame, start: datetime, end: datetime, hours: float, notional: float):
    """P&L per period of `hours` over (start, end] (the pair's windows), as a fraction of notional;
    periods out of the market count as 0."""
    edges = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=pd.Timedelta(hours=hours))
    if len(edges) < 2:
        return pd.Series(dtype=float)
    totals = np.zeros(len(edges) - 1)
    if len(events):
        times = pd.to_datetime(events["time"], utc=True).to_numpy(dtype="datetime64[ns]")
        bins = np.searchsorted(edges.to_numpy(dtype="datetime64[ns]"), times, side="left") - 1
        ok = (bins >= 0) & (bins < len(totals))
        np.add.at(totals, bins[ok], events["amount"].to_numpy(dtype=float)[ok])
    return pd.Series(totals / notional, index=edges[1:])


def sharpe(returns: pd.Series) -> float | None:
    """Mean over standard deviation (ddof 1) of per-period returns, not annualised; None when flat."""
    if len(returns) < 2 or not returns.std() > 0:
        return None
    return float(returns.mean() / returns.std())


def summary(
    priced: pd.DataFrame, events: pd.DataFrame, start: datetime, end: datetime, hours: float, notional: float
) -> dict:
    """The figures of one run: P&L decomposition, return, drawdown, Sharpe, trades, time in market."""
    range_hours = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 3600
    held = (
        (priced["exit_time"] - priced["entry_time"]).dt.total_seconds().sum() / 3600 if len(priced) else 0.0
    )
    net = float(priced["net_pnl"].sum()) if len(priced) else 0.0
    total_return = net / notional
    return {
        "funding_pnl": float(priced["funding_pnl"].sum()) if len(priced) else 0.0,
        "fees": float(priced["fees"].sum()) if len(priced) else 0.0,
        "slippage": float(priced["slippage"].sum()) if len(priced) else 0.0,
        "spread_pnl": float(priced["spread_pnl"].sum()) if len(priced) else 0.0,
        "net_pnl": net,
        "return_on_notional": total_return,
        "annualised_return": total_return * HOURS_PER_YEAR / range_hours if range_hours else None,
        "max_drawdown": max_drawdown(instant_equity(events)),
        "sharpe_per_period": sharpe(period_returns(events, start, end, hours, notional)),
        "trades": len(priced),
        "time_in_market": held / range_hours if range_hours else 0.0,
    }
