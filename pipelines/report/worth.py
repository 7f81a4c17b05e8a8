"""The cost report's "what the verdicts were worth" section: LLM cost per verdict beside the
realised carry of the verdicts (`pipelines.research.scorecard`), per model, `rules` (free) included.

Worth: the summed realised net P&L of a model's OPEN_ARB verdicts at the scorecard's 10,000
notional per leg (held by the default exit, at most to the last stored window, so a recent verdict
counts what it earned so far). A model whose worth exceeds its cost pays for itself.

With LLM tiers (more than one tier's verdicts in `verdict_tiers`), one more row per tier (it has
a `tier` key): that tier's verdicts scored alike (`pipelines.research.scorecard_tiers`) beside its calls'
cost (a NULL tier is tier 1), so the report shows whether escalation earns its cost.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlite_utils

from pipelines.config.settings import Settings
from pipelines.research.scorecard import NOTIONAL, realised
from pipelines.research.scorecard_tiers import tier_scored


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
    rows = [_row(model, group, float(cost.get(model, 0.0))) for model, group in scored.groupby("model")]
    return rows + tier_worth(db, settings, start, end, calls)


def tier_worth(
    db: sqlite_utils.Database, settings: Settings, start: datetime, end: datetime, calls: pd.DataFrame
) -> list[dict]:
    """One row per tier (the model rows' figures, `tier` and `model` = "tier N (its models)") when
    verdicts of more than one tier lie in (start, end]; none otherwise."""
    scored = tier_scored(db, settings, start, end)
    if scored["tier"].nunique() < 2:
        return []
    tiers = calls["tier"].fillna(1) if "tier" in calls else pd.Series(1, index=calls.index)
    cost = calls.groupby(tiers)["cost_usd"].sum() if len(calls) else pd.Series(dtype=float)
    rows = []
    for tier, group in scored.groupby("tier"):
        label = f"tier {int(tier)} ({', '.join(sorted(group['model'].unique()))})"
        rows.append(_row(label, group, float(cost.get(tier, 0.0))) | {"tier": int(tier)})
    return rows


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
