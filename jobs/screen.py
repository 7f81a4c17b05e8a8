"""`arbdb screen`: the watched legs' stored settlements ranked by venue pair, as text."""

from __future__ import annotations

import io
from datetime import date, timedelta

import orjson
import pandas as pd
import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.config.settings import Settings
from pipelines.core.errors import UsageError
from pipelines.core.timeutil import day_start
from pipelines.load.minutes import read_funding
from pipelines.transform.screen import COLUMNS, ScreenLeg, coin_legs, screen

# header (units included), cell formatter (row -> str)
TABLE = (
    ("Coin", lambda r: r["coin"]),
    ("Legs\na - b", lambda r: r["legs"]),
    ("Short/\nlong", lambda r: f"{r['short']}/{r['long']}" if r["short"] else "-"),
    ("Window\nh", lambda r: f"{r['window_hours']:g}"),
    ("Net carry\nAPR %", lambda r: _pct(r["mean_net_carry_apr"], 1)),
    ("Carry\nAPR %", lambda r: _pct(r["mean_carry_apr"], 1)),
    ("Std\nAPR %", lambda r: _pct(r["std_carry_apr"], 1)),
    ("Same\nsign %", lambda r: _pct(r["share_with_sign"], 0)),
    ("Coverage\n%", lambda r: _pct(r["coverage"], 0)),
    ("Windows", lambda r: f"{r['windows']}/{r['windows_in_range']}"),
)


def screen_legs(settings: Settings, coins: str | None) -> list[ScreenLeg]:
    """The watched legs of the markets' and pairs' coins (or of `coins`, a comma list), with fees."""
    by_coin = coin_legs(settings.pairs, settings.markets)
    wanted = [c.strip().upper() for c in (coins or "").split(",") if c.strip()] or list(by_coin)
    unknown = [c for c in wanted if c not in by_coin]
    if unknown:
        raise UsageError(f"coin {unknown[0]!r} is not watched; watched coins: {', '.join(by_coin)}")
    return [ScreenLeg(c, leg, settings.fees.taker_fee(leg.exchange)) for c in wanted for leg in by_coin[c]]


def screen_text(
    db: sqlite_utils.Database, settings: Settings, start: date, end: date, coins: str | None, fmt: str
) -> str:
    """What `arbdb screen` prints: the ranking as a table, CSV or JSON, or one line saying which
    backfill fills an empty one."""
    legs = screen_legs(settings, coins)
    lo, hi = day_start(start), day_start(end)
    second = timedelta(seconds=1)  # settlements with lo < funding_time <= hi
    frames = [read_funding(db, s.leg.exchange, s.leg.symbol, lo + second, hi + second) for s in legs]
    funding = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["exchange", "symbol"])
    ranked = screen(funding, legs, lo, hi, settings.fees.holding_periods)
    if ranked.empty:
        names = ", ".join(dict.fromkeys(s.coin for s in legs))
        return (
            f"no two venues with stored settlements for {names} in {start} .. {end} (exclusive); "
            f"fill them with `arbdb backfill --from {start} --to {end}`"
        )
    if fmt == "json":
        return orjson.dumps(
            _records(ranked), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        ).decode()
    if fmt == "csv":
        return ranked.to_csv(index=False).rstrip("\n")
    return _table(ranked, f"Funding carry by venue pair, {start} .. {end} (exclusive), best net carry first")


def _records(ranked: pd.DataFrame) -> list[dict]:
    frame = ranked[list(COLUMNS)].astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def _table(ranked: pd.DataFrame, title: str) -> str:
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for header, _ in TABLE:
        table.add_column(header, justify="left" if header.startswith(("Coin", "Legs", "Short")) else "right")
    for row in ranked.to_dict("records"):
        table.add_row(*(cell(row) for _, cell in TABLE))
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None, soft_wrap=False).print(table)
    note = "APR: mean over windows where both legs settled in full, trading the sign of the mean differential"
    return buffer.getvalue().rstrip("\n") + f"\n{note}; net of both legs' taker fees amortized."


def _pct(value, digits: int) -> str:
    return "-" if pd.isna(value) else f"{value * 100:.{digits}f}"
