"""`arbdb scorecard`: the stored verdicts scored against the carry they would have realised."""

from __future__ import annotations

import io
from datetime import date, datetime

import orjson
import pandas as pd
import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.config.settings import Settings
from pipelines.research.scorecard import scorecard
from pipelines.research.scorecard_tiers import tier_scorecard

ACTION_TABLE = (
    ("Model", lambda r: r["model"]),
    ("Action", lambda r: r["action"]),
    ("Verdicts", lambda r: str(r["verdicts"])),
    ("Scored", lambda r: str(r["scored"])),
    ("Hit\nrate %", lambda r: _pct(r["hit_rate"], 0)),
    ("Mean net\nAPR %", lambda r: _pct(r["mean_net_apr"], 1)),
    ("Missed", lambda r: "-" if _none(r["missed"]) else str(int(r["missed"]))),
    ("Missed mean\nnet APR %", lambda r: _pct(r["missed_mean_net_apr"], 1)),
)
TIER_TABLE = (("Tier", lambda r: str(r["tier"])), *ACTION_TABLE)
COST_TABLE = (
    ("Tier", lambda r: str(r["tier"])),
    ("Model", lambda r: r["models"]),
    ("Verdicts", lambda r: str(r["verdicts"])),
    ("Calls", lambda r: str(r["calls"])),
    ("Cost USD", lambda r: f"{r['cost_usd']:.4f}"),
    ("USD per\nverdict", lambda r: f"{r['cost_per_verdict']:.4f}"),
)
OVERRULE_TABLE = (
    ("Tier", lambda r: str(r["tier"])),
    ("Overruled", lambda r: str(r["overruled"])),
    ("Scored", lambda r: str(r["scored"])),
    ("Tier right", lambda r: str(r["right"])),
    ("Tier before\nright", lambda r: str(r["earlier_right"])),
    ("Right %", lambda r: _pct(r["right_rate"], 0)),
    ("Before\nright %", lambda r: _pct(r["earlier_right_rate"], 0)),
)
TIER_NOTE = (
    "Each tier's verdicts scored like the final ones; cost: the tier's LLM calls on these windows."
    "\nOverruled: windows where the tier's action differs from the tier before's. Right: OPEN_ARB and"
    " the trade earned, or HOLD/WATCH and it would have lost; both tiers share the window's trade."
)
CALIBRATION_TABLE = (
    ("Model", lambda r: r["model"]),
    ("Confidence", lambda r: r["confidence"]),
    ("Scored", lambda r: str(r["scored"])),
    ("Mean\nconfidence", lambda r: f"{r['mean_confidence']:.2f}"),
    ("Hit\nrate %", lambda r: _pct(r["hit_rate"], 0)),
)


def _none(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def _pct(value, digits: int) -> str:
    return "-" if _none(value) else f"{value * 100:.{digits}f}"


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def _table(frame: pd.DataFrame, columns, title: str) -> str:
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for header, _ in columns:
        table.add_column(header, justify="left" if header in ("Model", "Action", "Confidence") else "right")
    for row in _records(frame):
        table.add_row(*(cell(row) for _, cell in columns))
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None, soft_wrap=False).print(table)
    return buffer.getvalue().rstrip("\n")


def scorecard_text(
    db: sqlite_utils.Database,
    settings: Settings,
    span: tuple[datetime, datetime],
    model: str | None,
    fmt: str,
    by: str = "action",
) -> str:
    """What `arbdb scorecard` prints: the by-action and calibration tables, their CSV (by action),
    or both as JSON; one line when no verdict is stored in the range. `by="tier"`: `tier_text`."""
    if by == "tier":
        return tier_text(db, settings, span, model, fmt)
    per_verdict, actions, buckets = scorecard(db, settings, span[0], span[1], model)
    if per_verdict.empty:
        who = f" from model {model!r}" if model else ""
        return f"no stored verdicts{who} in the range; `arbdb analyze` (or a backfill) makes them"
    if fmt == "json":
        body = {"by_action": _records(actions), "calibration": _records(buckets)}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
    if fmt == "csv":
        return actions.to_csv(index=False).rstrip("\n")
    note = (
        "Each verdict: opened at its window's close, held until net carry < 0 or the differential flips"
        " (at most to the last stored window), net of fees, 2 bps slippage and the spread change."
        "\nHit: realised net > 0. Missed: HOLD/WATCH verdicts that would have been hits."
    )
    return "\n".join(
        [
            _table(actions, ACTION_TABLE, "Verdict scorecard by model and action"),
            _table(buckets, CALIBRATION_TABLE, "Confidence calibration (scored verdicts)"),
            note,
        ]
    )


def tier_text(
    db: sqlite_utils.Database, settings: Settings, span: tuple[datetime, datetime], model, fmt: str
) -> str:
    """`arbdb scorecard --by tier`: per tier, model and action, the cost per tier and the overrules
    as tables or JSON; CSV: the by-tier rows with their tier's cost and cost per verdict."""
    tiers, costs, overruled = tier_scorecard(db, settings, span[0], span[1], model)
    if tiers.empty:
        who = f" from model {model!r}" if model else ""
        return (
            f"no stored tier verdicts{who} on the windows' current features in the range;"
            " `arbdb analyze` makes them"
        )
    if fmt == "json":
        body = {"by_tier": _records(tiers), "tier_costs": _records(costs), "overrules": _records(overruled)}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
    if fmt == "csv":
        cost = costs[["tier", "cost_usd", "cost_per_verdict"]].rename(columns={"cost_usd": "tier_cost_usd"})
        return tiers.merge(cost, on="tier", how="left").to_csv(index=False).rstrip("\n")
    parts = [
        _table(tiers, TIER_TABLE, "Verdict scorecard by tier, model and action"),
        _table(costs, COST_TABLE, "LLM cost per tier"),
    ]
    if len(overruled):
        parts.append(
            _table(overruled, OVERRULE_TABLE, "Overrules: a tier's action differs from the tier before's")
        )
    return "\n".join([*parts, TIER_NOTE])


def span_of(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Window ends in (start, end] as datetimes; an open side reaches every stored verdict."""
    from datetime import UTC

    from pipelines.core.timeutil import day_start

    lo = day_start(start) if start else datetime(1970, 1, 1, tzinfo=UTC)
    hi = day_start(end) if end else datetime(9999, 1, 1, tzinfo=UTC)
    return lo, hi
