"""How `arbdb windows` shows stored windows: a rich table for people, CSV and JSON for tools.

The table is read at a glance: units in the headers, signed numbers, rates in % per period, APRs in
%, spreads and basis in bps, incomplete windows marked, flag reasons and data warnings spelled out,
and each distinct warning (an interval mismatch above all) repeated below the table with a count,
after a line saying what each leg's predicted rate is (its forecast error means nothing when it is
the settled rate itself).
"""

from __future__ import annotations

import io
import json
from collections import Counter

import orjson
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.transform.legs import DEFAULT_LEGS, leg_labels
from pipelines.transform.scoring import SPOT_INDEX_LABELS
from pipelines.transform.windows_stage import JSON_COLUMNS, to_rows

MIN_WIDTH = 150
# Narrow names of venues in table headers (the label otherwise).
SHORT = {"Bitfinex": "Bfx"}


def columns(a: str, b: str) -> tuple:
    """(header with units, justify, cell formatter) of the table, for legs labelled `a` and `b`;
    the full set of columns is in CSV/JSON."""
    sa, sb = SHORT.get(a, a), SHORT.get(b, b)
    return (
        ("Window end\nUTC", "left", lambda r: r["window_end"].strftime("%Y-%m-%d %H:%M")),
        (f"{sa}\nfund %", "right", lambda r: _num(r["a_rate"], 100, 4)),
        (f"{sb}\nfund %", "right", lambda r: _num(r["b_rate"], 100, 4)),
        ("Diff\nbp", "right", lambda r: _num(r["funding_diff"], 1e4, 2)),
        ("Carry\nAPR %", "right", lambda r: _num(r["carry_apr"], 100, 1)),
        ("Net\nAPR %", "right", lambda r: _num(r["net_carry_apr"], 100, 1)),
        ("B/E\nperiods", "right", lambda r: _num(r["break_even_periods"], 1, 1, sign=False)),
        ("Long/\nshort", "left", lambda r: _sides(r, {"a": sa, "b": sb})),
        ("Spread\nbp", "right", lambda r: _num(r["mark_spread_mean_bps"], 1, 1)),
        (f"{sa} basis\n{_basis_unit(a)}", "right", lambda r: _num(r["a_basis_mean_bps"], 1, 1)),
        (f"{sb} basis\n{_basis_unit(b)}", "right", lambda r: _num(r["b_basis_mean_bps"], 1, 1)),
        ("Cov\n%", "right", lambda r: _coverage(r)),
        ("Flag", "left", lambda r: "FLAG" if r["flagged"] else ("" if r["complete"] else "incomplete")),
    )


def _basis_unit(label: str) -> str:
    return "vs spot bp" if label in SPOT_INDEX_LABELS else "bp"


NOTES = ("Reasons; warnings", lambda r: "; ".join([*r["reasons"], *r["warnings"]]))


def render_windows(windows: pd.DataFrame, fmt: str) -> str:
    """`windows` (from `read_windows`) as CSV or JSON text: every stored column, lists as lists."""
    if fmt == "json":
        return orjson.dumps(records(windows), option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        return pd.DataFrame(to_rows(windows), columns=list(windows.columns)).to_csv(index=False)
    raise ValueError(f"unknown format {fmt!r}")


def records(windows: pd.DataFrame) -> list[dict]:
    """Stored rows with JSON lists parsed and complete/flagged as booleans."""
    out = []
    for row in to_rows(windows):
        row.update({c: json.loads(row[c]) for c in JSON_COLUMNS})
        row.update(complete=bool(row["complete"]), flagged=bool(row["flagged"]))
        out.append(row)
    return out


def windows_table(windows: pd.DataFrame, title: str) -> Table:
    """The rich table of `windows`, one row per window; flagged rows bold, incomplete rows dim."""
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    cols = columns(*leg_labels(windows.iloc[0].to_dict())) if len(windows) else columns(*DEFAULT_LEGS)
    for header, justify, _ in cols:
        table.add_column(header, justify=justify, no_wrap=True)
    table.add_column(NOTES[0], min_width=24, overflow="fold")
    for row in windows.to_dict("records"):
        style = "bold" if row["flagged"] else ("dim" if not row["complete"] else None)
        table.add_row(*(cell(row) for _, _, cell in cols), NOTES[1](row), style=style)
    return table


# What a reader needs to know of each prediction kind (pipelines.core.columns.PREDICTED_KINDS).
KIND_NOTES = {
    "settled": "the settled rate itself, no forecast error",
    "mixed": "kinds differ, no forecast error",
}


def kind_summary(windows: pd.DataFrame) -> str | None:
    """Each leg's prediction kinds with their window counts, e.g. `predicted rate: Gate settled (the
    settled rate itself, no forecast error) 6; OKX forecast 6`; None when no row records a kind."""
    labels = leg_labels(windows.iloc[0].to_dict()) if len(windows) else DEFAULT_LEGS
    parts = []
    for side, label in zip(("a", "b"), labels, strict=True):
        column = f"{side}_predicted_kind"
        counts = Counter(k for k in windows.get(column, ()) if isinstance(k, str))
        kinds = [f"{k} ({KIND_NOTES[k]}) {n}" if k in KIND_NOTES else f"{k} {n}" for k, n in counts.items()]
        if kinds:
            parts.append(f"{label} {', '.join(kinds)}")
    return f"predicted rate: {'; '.join(parts)}" if parts else None


def warning_summary(windows: pd.DataFrame) -> list[str]:
    """Each distinct warning once with its window count; interval mismatches first."""
    counts = Counter(w for ws in windows["warnings"] for w in ws)
    ordered = sorted(counts, key=lambda w: ("settles every" not in w, w))
    return [f"warning: {w} ({counts[w]} window{'s' if counts[w] > 1 else ''})" for w in ordered]


def show_windows(windows: pd.DataFrame, fmt: str, title: str, width: int = 200) -> str:
    """Text for `arbdb windows`: CSV/JSON, or the table with a summary, `width` characters wide but
    never narrower than MIN_WIDTH (a wrapped line beats a truncated number)."""
    if fmt != "table":
        return render_windows(windows, fmt)
    if windows.empty:
        return f"{title}: no windows stored"
    buffer = io.StringIO()
    console = Console(file=buffer, width=max(width, MIN_WIDTH), color_system=None, soft_wrap=False)
    console.print(windows_table(windows, title))
    flagged, incomplete = int(windows["flagged"].sum()), int((~windows["complete"]).sum())
    console.print(f"{len(windows)} windows, {flagged} flagged, {incomplete} incomplete")
    kinds = kind_summary(windows)
    if kinds:
        console.print(kinds, markup=False)
    for line in warning_summary(windows):
        console.print(line, markup=False)
    return buffer.getvalue().rstrip("\n")


def _num(value: float, scale: float, digits: int, sign: bool = True) -> str:
    if pd.isna(value):
        return "-"
    return f"{value * scale:{'+' if sign else ''}.{digits}f}"


def _sides(row: dict, names: dict[str, str]) -> str:
    if not isinstance(row["long_side"], str):
        return "-"
    return f"{names[row['long_side']]}/{names[row['short_side']]}"


def _coverage(row: dict) -> str:
    covered = min(row["a_minutes"], row["b_minutes"])
    return f"{covered / row['expected_minutes']:.0%}".rstrip("%")
