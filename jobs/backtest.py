"""`arbdb backtest`: run, store and show one pair's carry backtest (table, CSV of trades, or JSON)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import orjson
import pandas as pd
import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.backtest.chart import equity_png
from pipelines.backtest.engine import Backtest, pair_costs, run_backtest, save
from pipelines.backtest.rules import Rules
from pipelines.config.pairs import Pair
from pipelines.config.settings import Settings
from pipelines.core.timeutil import day_start, series_to_iso

TRADE_TABLE = (
    ("Entry (UTC)", lambda r: r["entry_time"][:16]),
    ("Exit (UTC)", lambda r: r["exit_time"][:16]),
    ("Short / long", lambda r: f"{r['short_side']}/{r['long_side']}"),
    ("Exit\nrule", lambda r: r["exit_reason"]),
    ("Settle-\nments", lambda r: str(r["settlements"])),
    ("Funding", lambda r: f"{r['funding_pnl']:.2f}"),
    ("Fees +\nslippage", lambda r: f"{r['fees'] + r['slippage']:.2f}"),
    ("Spread", lambda r: f"{r['spread_pnl']:.2f}" + ("*" if r["marks_missing"] else "")),
    ("Net", lambda r: f"{r['net_pnl']:.2f}"),
    ("Net\nAPR %", lambda r: "-" if pd.isna(r["net_apr"]) else f"{r['net_apr'] * 100:.1f}"),
)


def backtest_pair(
    db: sqlite_utils.Database,
    settings: Settings,
    pair: Pair,
    span: tuple[date, date],
    rules: Rules,
    notional: float,
    slippage_bps: float,
) -> Backtest:
    """Run the backtest of `pair` over windows ending in (span[0], span[1]] (days, at 00:00 UTC),
    the end held to the stored data (`result.notes` say why), and store it (an upsert); with no
    stored window in the range nothing is stored (`result.windows == 0`)."""
    costs = pair_costs(pair, settings.fees, notional, slippage_bps)
    result = run_backtest(db, pair, day_start(span[0]), day_start(span[1]), rules, costs)
    if result.windows:
        save(db, result)
    return result


def records(trades: pd.DataFrame) -> list[dict]:
    """Trades as JSON-ready dicts, times as ISO text, NaN as None."""
    frame = trades.assign(
        entry_time=series_to_iso(trades["entry_time"]), exit_time=series_to_iso(trades["exit_time"])
    )
    frame = frame.astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def empty_note(result: Backtest) -> str:
    """Why a run has nothing to backtest (no window, or the range cut to none), and the backfill
    that fills its range."""
    run = result.run
    start, end = run["range_start"][:10], result.asked_end[:10]
    what = "nothing to backtest" if result.notes else "no stored windows"
    return "; ".join(
        [
            f"{what} for {run['pair']} ending in ({start} 00:00, {end} 00:00]",
            *result.notes,
            f"fill them with `arbdb backfill --from {start} --to {end}`",
        ]
    )


def show(result: Backtest, fmt: str) -> str:
    """What `arbdb backtest` prints on stdout: a summary and the trades (table), the trades as CSV,
    or the run and its trades as JSON. A range with no window prints the note (`empty_note`) as
    the table, and stays valid under csv (the header only) and json (`backtest` null, no trades);
    the notes (`notes_of`) go to stderr there."""
    if fmt == "json":
        run = result.run if result.windows else None
        body = {"backtest": run, "trades": records(result.trades), "notes": notes_of(result)}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
    if fmt == "csv":
        return (
            pd.DataFrame(records(result.trades), columns=result.trades.columns)
            .to_csv(index=False)
            .rstrip("\n")
        )
    if not result.windows:
        return empty_note(result)
    return "\n".join(
        [summary_text(result.run), *(f"  note: {n}" for n in result.notes), _trade_table(result.trades)]
    )


def notes_of(result: Backtest) -> list[str]:
    """The run's notes: why its range ends before the one asked, or why it has no window."""
    return list(result.notes) if result.windows else [empty_note(result)]


def summary_text(run: dict) -> str:
    """The run's figures in a few lines (currency in the quote asset of the legs)."""
    sharpe = run["sharpe_per_period"]
    return "\n".join(
        [
            f"Backtest {run['pair']} ({run['a_leg']} vs {run['b_leg']}), windows ending in"
            f" ({_minute(run['range_start'])}, {_minute(run['range_end'])}], notional"
            f" {run['notional']:,.0f} per leg, {run['rules']}",
            f"  funding {run['funding_pnl']:,.2f} - fees {run['fees']:,.2f} - slippage {run['slippage']:,.2f}"
            f" + spread {run['spread_pnl']:,.2f} = net {run['net_pnl']:,.2f}",
            f"  return {run['return_on_notional'] * 100:.3f} %"
            f" ({_pct(run['annualised_return'])} % annualised),"
            f" max drawdown {run['max_drawdown']:,.2f}, Sharpe per {run['window_hours']:g} h period "
            f"{'-' if sharpe is None else f'{sharpe:.3f}'}",
            f"  {run['trades']} trades, in the market {run['time_in_market'] * 100:.1f} % of the time"
            f" (id {run['id']})",
        ]
    )


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def _trade_table(trades: pd.DataFrame) -> str:
    if trades.empty:
        return "No trades: no window met the entry rule."
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for header, _ in TRADE_TABLE:
        table.add_column(header, justify="left" if header[0] in "EXS" and "Spread" not in header else "right")
    for row in records(trades):
        table.add_row(*(cell(row) for _, cell in TRADE_TABLE))
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None, soft_wrap=False).print(table)
    note = "* no minute in the hour before entry or exit with both legs marked: spread P&L taken as 0"
    return buffer.getvalue().rstrip("\n") + ("\n" + note if trades["marks_missing"].any() else "")


def write_chart(result: Backtest, path: Path) -> None:
    """The equity curve PNG at `path` (its folder created)."""
    run = result.run
    title = f"{run['pair']} carry backtest, {run['rules']}: net {run['net_pnl']:,.2f}"
    png = equity_png(result.events, title, run["range_start"], run["range_end"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
