"""Each trade's P&L from the settlements each leg actually paid, fees, slippage and the marks (pure).

Sign convention: a position is long one leg and short the other at equal `notional`. At a funding
settlement with rate r a long pays notional x r and a short receives it (r < 0: the other way), so a
trade's funding P&L is notional x (sum of the short leg's rates - sum of the long leg's rates), each
leg at its own settlement times with entry < funding_time <= exit (mixed intervals are exact).
Costs: a taker fee and `slippage_bps` on each of the four fills (open and close, both legs). Spread
P&L: the change of the legs' marks between entry and exit, notional x (long_exit / long_entry -
short_exit / short_entry) (a quantity of notional / entry mark held on each leg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.core.columns import SIDES

PNL_COLUMNS = ("settlements", "funding_pnl", "fees", "slippage", "spread_pnl", "marks_missing", "net_pnl")


@dataclass(frozen=True)
class Costs:
    """Notional per leg (quote currency), each leg's taker fee (fraction per fill), slippage (bps
    per fill)."""

    notional: float = 10_000.0
    fee_a: float = 0.0
    fee_b: float = 0.0
    slippage_bps: float = 2.0

    def per_fill_pair(self) -> tuple[float, float]:
        """(fees, slippage) of opening (or closing) both legs once, in quote currency."""
        return self.notional * (self.fee_a + self.fee_b), 2 * self.notional * self.slippage_bps / 1e4


def settlement_flows(trades: pd.DataFrame, funding: dict[str, pd.DataFrame], notional: float) -> pd.DataFrame:
    """One row per settlement paid while a trade was open: trade (position in `trades`), time,
    side, amount (quote currency, + received). `funding`: per side, funding_time (UTC) and rate."""
    entries = trades["entry_time"].to_numpy(dtype="datetime64[ns]")
    exits = trades["exit_time"].to_numpy(dtype="datetime64[ns]")
    parts = []
    for side in SIDES:
        leg = funding.get(side)
        if leg is None or leg.empty or trades.empty:
            continue
        times = leg["funding_time"].to_numpy(dtype="datetime64[ns]")
        i = np.searchsorted(entries, times, side="left") - 1  # the last trade opened before the time
        ok = (i >= 0) & (times > entries[i.clip(0)]) & (times <= exits[i.clip(0)])
        idx = i[ok]
        short = trades["short_side"].to_numpy()[idx] == side
        rate = leg["rate"].to_numpy(dtype=float)[ok]
        parts.append(
            pd.DataFrame(
                {
                    "trade": idx,
                    "time": pd.to_datetime(times[ok], utc=True),
                    "side": side,
                    "amount": notional * np.where(short, rate, -rate),
                }
            )
        )
    if not parts:
        return pd.DataFrame({"trade": [], "time": pd.to_datetime([], utc=True), "side": [], "amount": []})
    return pd.concat(parts, ignore_index=True).sort_values(["time", "side"], ignore_index=True)


def spread_pnl(
    trades: pd.DataFrame, marks: dict[str, pd.DataFrame], notional: float
) -> tuple[np.ndarray, np.ndarray]:
    """(spread P&L, marks missing) per trade. `marks`: per side, `entry_mark` and `exit_mark`
    aligned with `trades`; a trade missing any of its four marks gets 0 and missing = 1."""

    def leg(column: str, kind: str) -> np.ndarray:
        values = {s: marks[s][f"{kind}_mark"].to_numpy(dtype=float) for s in SIDES}
        return np.where(trades[column].to_numpy() == "a", values["a"], values["b"])

    change = leg("long_side", "exit") / leg("long_side", "entry") - leg("short_side", "exit") / leg(
        "short_side", "entry"
    )
    missing = ~np.isfinite(change)
    return np.where(missing, 0.0, notional * change), missing.astype(int)


def leg_sums(trades: pd.DataFrame, leg: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(sum of rates, count) of one leg's settlements with entry < funding_time <= exit, per trade
    (trades may overlap: the scorecard's do)."""
    if leg is None or leg.empty or trades.empty:
        return np.zeros(len(trades)), np.zeros(len(trades), dtype=int)
    times = leg["funding_time"].to_numpy(dtype="datetime64[ns]")
    cumulative = np.concatenate([[0.0], np.cumsum(leg["rate"].to_numpy(dtype=float))])
    lo = np.searchsorted(times, trades["entry_time"].to_numpy(dtype="datetime64[ns]"), side="right")
    hi = np.searchsorted(times, trades["exit_time"].to_numpy(dtype="datetime64[ns]"), side="right")
    return cumulative[hi] - cumulative[lo], hi - lo


def price_trades(
    trades: pd.DataFrame, funding: dict[str, pd.DataFrame], marks: dict[str, pd.DataFrame], costs: Costs
) -> pd.DataFrame:
    """`trades` with PNL_COLUMNS added (never mutated). `funding`: per side, funding_time (UTC,
    ascending) and rate."""
    funding_pnl, count = np.zeros(len(trades)), np.zeros(len(trades), dtype=int)
    for side in SIDES:
        total, n = leg_sums(trades, funding.get(side))
        short = trades["short_side"].to_numpy() == side
        funding_pnl, count = funding_pnl + costs.notional * np.where(short, total, -total), count + n
    fees, slippage = costs.per_fill_pair()
    spread, missing = spread_pnl(trades, marks, costs.notional) if len(trades) else ([], [])
    priced = trades.reset_index(drop=True).assign(
        settlements=count,
        funding_pnl=funding_pnl,
        fees=2 * fees,
        slippage=2 * slippage,
        spread_pnl=spread,
        marks_missing=missing,
    )
    return priced.assign(
        net_pnl=priced["funding_pnl"] - priced["fees"] - priced["slippage"] + priced["spread_pnl"]
    )


def equity_events(priced: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """Every cash event in time order (time, trade, kind, amount) and the running `equity`: half the
    fill costs at entry, each settlement, the other half and the spread P&L at exit."""
    half = (priced["fees"] + priced["slippage"]) / 2
    entry = pd.DataFrame(
        {"time": priced["entry_time"], "trade": priced.index, "kind": "entry", "amount": -half}
    )
    exit_ = pd.DataFrame(
        {
            "time": priced["exit_time"],
            "trade": priced.index,
            "kind": "exit",
            "amount": priced["spread_pnl"] - half,
        }
    )
    funding = flows.assign(kind="funding")[["time", "trade", "kind", "amount"]]
    order = {"entry": 0, "funding": 1, "exit": 2}  # at one instant: open, settle, close
    if priced.empty:
        return pd.DataFrame(columns=["time", "trade", "kind", "amount", "equity"])
    events = pd.concat([e for e in (entry, funding, exit_) if len(e)], ignore_index=True)
    events = events.assign(_o=events["kind"].map(order)).sort_values(["time", "_o"], kind="stable")
    events = events.drop(columns="_o").reset_index(drop=True)
    return events.assign(time=pd.to_datetime(events["time"], utc=True), equity=events["amount"].cumsum())
