"""The equity curve of one backtest as a PNG, entries and exits marked (matplotlib, no display)."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure

from pipelines.backtest.metrics import instant_equity


def equity_png(events: pd.DataFrame, title: str, start, end) -> bytes:
    """PNG of the running P&L (quote currency, one point per instant as the drawdown counts it) over
    [start, end]; ^ entries, v exits."""
    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    curve = instant_equity(events)
    times = [pd.Timestamp(start)] + list(pd.to_datetime(curve.index, utc=True)) + [pd.Timestamp(end)]
    equity = [0.0] + list(curve) + [curve.iloc[-1] if len(curve) else 0.0]
    ax.step(times, equity, where="post", color="tab:blue", linewidth=1.2, label="equity")
    for kind, marker, color in (("entry", "^", "tab:green"), ("exit", "v", "tab:red")):
        rows = events[events["kind"] == kind]
        ax.scatter(
            pd.to_datetime(rows["time"], utc=True), rows["equity"], marker=marker, color=color, label=kind
        )
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("P&L, quote currency")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=8, loc="upper left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
