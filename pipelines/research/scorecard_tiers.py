"""The scorecard per LLM tier: whether escalating a window to a stronger model earns its cost.

Every tier's verdict (`verdict_tiers`, the latest per window and tier, only on the features the
window still has: `feature_hash = windows.features_hash`) is scored like the final verdicts
(`pipelines.research.scorecard.score`: same trade, same exit, same costs). A tier's cost is its calls in
`llm_calls` (a NULL tier is tier 1, recorded before tiers) whose windows lie in the range.

An overrule is a window where a tier's action differs from the tier before's. A verdict is right
when it opens and the trade earned (OPEN_ARB and a hit) or it stays out and the trade would have
lost (HOLD/WATCH and no hit); both tiers share the window's trade, so the overrule is right when
the later tier is right and the earlier one is not.
"""

from __future__ import annotations

from datetime import datetime

import orjson
import pandas as pd
import sqlite_utils

from pipelines.config.settings import Settings
from pipelines.core.timeutil import to_iso
from pipelines.research.scorecard import by_action, score
from pipelines.store.ledger import call_costs
from pipelines.store.verdicts import current_tier_verdicts

_COLUMNS = ["pair", "window_end", "tier", "model", "action", "confidence", "created_at"]
COST_COLUMNS = ["tier", "models", "verdicts", "calls", "cost_usd", "cost_per_verdict"]
OVERRULE_COLUMNS = [
    "tier",
    "overruled",
    "scored",
    "right",
    "earlier_right",
    "right_rate",
    "earlier_right_rate",
]


def read_tier_verdicts(db: sqlite_utils.Database, pair: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Every tier's latest verdict per window of `pair`, window_end in (start, end], on current features."""
    rows = current_tier_verdicts(db, _COLUMNS, pair, to_iso(start), to_iso(end))
    frame = pd.DataFrame(rows, columns=_COLUMNS).sort_values("created_at", na_position="first", kind="stable")
    return frame.drop_duplicates(["window_end", "tier"], keep="last").sort_values(["window_end", "tier"])


def tier_scored(
    db: sqlite_utils.Database, settings: Settings, start: datetime, end: datetime
) -> pd.DataFrame:
    """Every configured pair's tier verdicts in (start, end], realised (net_pnl, net_apr, hit)."""
    frames = [
        score(db, settings, pair, start, read_tier_verdicts(db, pair.name, start, end))
        for pair in settings.pairs
    ]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_COLUMNS)


def by_tier(scored: pd.DataFrame) -> pd.DataFrame:
    """Per tier, model and action: the scorecard's by-action figures, with the tier first."""
    parts = [by_action(group).assign(tier=int(tier)) for tier, group in scored.groupby("tier", sort=True)]
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    return frame[["tier", *[c for c in frame.columns if c != "tier"]]]


def tier_costs(db: sqlite_utils.Database, scored: pd.DataFrame, model: str | None) -> pd.DataFrame:
    """Per tier: its models, verdicts, calls and LLM cost on the range's windows, and cost per verdict."""
    calls = _calls(db, set(scored["pair"] + "@" + scored["window_end"]), model)
    rows = []
    for tier, group in scored.groupby("tier", sort=True):
        mine = calls[calls["tier"] == tier]
        cost = float(mine["cost_usd"].sum())
        rows.append(
            {
                "tier": int(tier),
                "models": ", ".join(sorted(group["model"].dropna().unique())),
                "verdicts": len(group),
                "calls": int((mine["status"] != "skipped").sum()),
                "cost_usd": cost,
                "cost_per_verdict": cost / len(group),
            }
        )
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def _calls(db: sqlite_utils.Database, windows: set[str], model: str | None) -> pd.DataFrame:
    # A call belongs to the range when any window it judged does (window_ids: JSON "PAIR@end" list).
    rows = [r for r in call_costs(db) if model is None or r[0] == model]
    kept = [r for r in rows if windows.intersection(orjson.loads(r[1] or "[]"))]
    frame = pd.DataFrame(kept, columns=["model", "window_ids", "cost_usd", "status", "tier"])
    return frame.assign(cost_usd=pd.to_numeric(frame["cost_usd"]).fillna(0.0))


def overrules(scored: pd.DataFrame) -> pd.DataFrame:
    """Per tier above 1: windows whose action differs from the tier before's, how many were scored,
    and how often each tier was right on them (see the module docstring)."""
    done = scored[scored["net_pnl"].notna()].assign(right=lambda f: (f["action"] == "OPEN_ARB") == f["hit"])
    everything = scored.set_index(["pair", "window_end", "tier"])
    rows = []
    for tier in sorted(t for t in scored["tier"].unique() if t > 1):
        later = everything.xs(tier, level="tier")
        earlier = everything.xs(tier - 1, level="tier").reindex(later.index)
        changed = later.index[(later["action"] != earlier["action"]) & earlier["action"].notna()]
        rows.append(_overrule_row(int(tier), done.set_index(["pair", "window_end", "tier"]), changed))
    return pd.DataFrame(rows, columns=OVERRULE_COLUMNS)


def _overrule_row(tier: int, done: pd.DataFrame, changed: pd.Index) -> dict:
    later = done.xs(tier, level="tier").reindex(changed).dropna(subset=["net_pnl"])
    earlier = done.xs(tier - 1, level="tier").reindex(later.index)
    right, earlier_right = int(later["right"].astype(bool).sum()), int(earlier["right"].astype(bool).sum())
    scored = len(later)
    return {
        "tier": tier,
        "overruled": len(changed),
        "scored": scored,
        "right": right,
        "earlier_right": earlier_right,
        "right_rate": right / scored if scored else None,
        "earlier_right_rate": earlier_right / scored if scored else None,
    }


def tier_scorecard(db: sqlite_utils.Database, settings: Settings, start: datetime, end: datetime, model=None):
    """The per-tier view of (start, end]: (by tier/model/action, cost per tier, overrules); `model`
    narrows the first two (overrules compare the tiers of a window whatever their models)."""
    scored = tier_scored(db, settings, start, end)
    mine = scored[scored["model"] == model] if model else scored
    if mine.empty:
        return pd.DataFrame(), pd.DataFrame(columns=COST_COLUMNS), pd.DataFrame(columns=OVERRULE_COLUMNS)
    return by_tier(mine), tier_costs(db, mine, model), overrules(scored)
