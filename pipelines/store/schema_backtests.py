"""The research tables: `backtests` (one run of `arbdb backtest`) and `backtest_trades` (its trades).

`pipelines.store.schema` lists them; `pipelines.store.backtests` reads and writes them.
"""

from __future__ import annotations

# id = hash of pair, range, rules, notional, fees, slippage
BACKTESTS: tuple[dict[str, type], tuple[str, ...], set[str]] = (
    {
        "id": str,
        "pair": str,
        "a_leg": str,  # exchange:symbol
        "b_leg": str,
        "range_start": str,  # windows ending in (range_start, range_end]
        "range_end": str,
        "rules": str,  # "entry net:0.25; exit net:0,sign,end"
        "notional": float,  # per leg, quote currency
        "fee_a": float,  # taker fee per fill, fraction
        "fee_b": float,
        "slippage_bps": float,  # per fill
        "window_hours": float,
        "funding_pnl": float,  # quote currency, like every *_pnl, fees, slippage, max_drawdown
        "fees": float,
        "slippage": float,
        "spread_pnl": float,
        "net_pnl": float,
        "return_on_notional": float,  # fraction
        "annualised_return": float,  # fraction per year of range
        "max_drawdown": float,
        "sharpe_per_period": float,  # per window period, not annualised
        "trades": int,
        "time_in_market": float,  # fraction of the range
    },
    ("id",),
    {"id", "pair", "range_start", "range_end", "rules"},
)

BACKTEST_TRADES: tuple[dict[str, type], tuple[str, ...], set[str]] = (
    {
        "backtest_id": str,
        "trade": int,  # 0, 1, ... in time order
        "pair": str,
        "entry_time": str,  # close of the window whose entry rule fired
        "exit_time": str,  # close of the window whose exit rule fired, or the range end
        "long_side": str,  # a | b
        "short_side": str,
        "long_leg": str,  # exchange:symbol
        "short_leg": str,
        "entry_net_carry_apr": float,
        "exit_reason": str,  # net | sign | hold | end
        "settlements": int,  # both legs' settlements paid while open
        "funding_pnl": float,
        "fees": float,
        "slippage": float,
        "spread_pnl": float,
        "marks_missing": int,  # 1: no fresh mark at entry or exit, spread P&L taken as 0
        "net_pnl": float,
        "hours": float,
        "return_on_notional": float,
        "net_apr": float,  # return_on_notional annualised over the hours held
    },
    ("backtest_id", "trade"),
    {"backtest_id", "trade", "pair", "entry_time", "exit_time"},
)
