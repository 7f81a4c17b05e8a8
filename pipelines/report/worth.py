"""The cost report's "what the verdicts were worth" section: LLM cost per verdict beside the
realised carry of the verdicts (`pipelines.scorecard`), per model, `rules` (free) included.

Worth: the summed realised net P&L of a model's OPEN_ARB verdicts at the scorecard's 10,000
notional per leg (held by the default exit, at most to the last stored window, so a recent verdict
counts what it earned so far). A model whose worth exceeds its cost pays for itself.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlite_utils

from pipelines.scorecard import NOTIONAL, realised
from pipelines.settings import Settings


def verdict_worth(
    db: sqlite_utils.Database, settings: Settings, start: datetime, end: datetime, calls: pd.DataFrame
) -> list[dict]:
    """Per model with verdicts in (start, end]: verdicts, LLM cost USD, cost per verdict, scored,
    hit rate, OPEN_ARB count, their mean realised net APR and summed net P&L (worth)."""
    frames = [realised(db, settings, pair, start, end) for pair in settings.pairs]
    scored = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if scored.empty:
        return []
    cost = calls.groupby("model")["cost_usd"].sum() if len(calls) else pd.Series(dtype=float)
    return [_row(model, group, float(cost.get(model, 0.0))) for model, group in scored.groupby("model")]


def _row(model: str, group: pd.DataFrame, cost: float) -> dict:
    done = group[group["net_pnl"].notna()]
    opened = done[done["action"] == "OPEN_ARB"]
    return {
        "model": model,
        "verdicts": len(group),
        "cost_usd": cost,
        "cost_per_verdict": cost / len(group),
        "scored": len(done),
        "hit_rate": float(done["hit"].astype(bool).mean()) if len(done) else None,
        "open_arb": len(opened),
        "open_arb_net_apr": float(opened["net_apr"].mean()) if len(opened) else None,
        "worth_usd": float(opened["net_pnl"].sum()),
        "notional": NOTIONAL,
    }
