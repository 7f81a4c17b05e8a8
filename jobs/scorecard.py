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

from pipelines.scorecard import scorecard
from pipelines.settings import Settings

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
) -> str:
    """What `arbdb scorecard` prints: the by-action and calibration tables, their CSV (by action),
    or both as JSON; one line when no verdict is stored in the range."""
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


def span_of(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Window ends in (start, end] as datetimes; an open side reaches every stored verdict."""
    from datetime import UTC

    from pipelines.timeutil import day_start

    lo = day_start(start) if start else datetime(1970, 1, 1, tzinfo=UTC)
    hi = day_start(end) if end else datetime(9999, 1, 1, tzinfo=UTC)
    return lo, hi
