"""The report's "LLM cost per tier" section: calls and cost of each analyzer tier over the day and
the 7 days, and the gateway-reported cost beside the configured-price cost where they differ.

Shown only when there is something to say: more than one tier made calls, or the gateway reported
its own cost of some call. Calls recorded before tiers count as tier 1's.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from pipelines.core.timeutil import to_iso

# Gateway and configured costs differ when apart by more than this share (rounding is not a difference).
DIFFERS_BY = 0.01


def tier_costs(calls: pd.DataFrame, periods: list[tuple[str, datetime, datetime]]) -> dict[str, list[dict]]:
    """Per period label, one row per tier: tier, models, calls, cost_usd, gateway_cost_usd (None when
    the gateway reported none), priced_usd (our cost of the same calls) and `differs`."""
    if calls.empty:
        return {}
    calls = calls.assign(tier=_tiers(calls), gateway=_gateway(calls))
    if calls["tier"].nunique() < 2 and calls["gateway"].isna().all():
        return {}
    out = {}
    for label, start, end in periods:
        ts = calls["ts"]
        part = calls[(ts >= to_iso(start)) & (ts < to_iso(end))]
        out[label] = [_row(int(tier), group) for tier, group in part.groupby("tier")]
    return out


def _row(tier: int, calls: pd.DataFrame) -> dict:
    reported = calls[calls["gateway"].notna()]
    gateway = float(reported["gateway"].sum()) if len(reported) else None
    priced = float(reported["cost_usd"].fillna(0).sum())
    differs = gateway is not None and abs(gateway - priced) > max(1e-6, DIFFERS_BY * priced)
    return {
        "tier": tier,
        "models": ", ".join(sorted(calls["model"].dropna().unique())),
        "calls": int((calls["status"] != "skipped").sum()),
        "cost_usd": float(calls["cost_usd"].fillna(0).sum()),
        "gateway_cost_usd": gateway,
        "priced_usd": priced,
        "differs": differs,
    }


def _tiers(calls: pd.DataFrame) -> pd.Series:
    if "tier" not in calls:
        return pd.Series(1, index=calls.index)
    return calls["tier"].fillna(1).astype(int)


def _gateway(calls: pd.DataFrame) -> pd.Series:
    if "gateway_cost_usd" not in calls:
        return pd.Series(float("nan"), index=calls.index)
    return pd.to_numeric(calls["gateway_cost_usd"], errors="coerce")
