"""The verdict scorecard: what each stored verdict would have earned, per model and action.

Every verdict (the latest per window and model; `rules` is a model too) is scored by the trade
opened at its window's close in that window's direction and held by the default exit rule (net
carry below 0 or the differential changing sign), at the latest to the pair's last stored window,
priced like a backtest trade (settled funding, both legs' taker fees, 2 bps slippage per fill, the
spread change). A hit is a realised net P&L > 0. A verdict with no later window is not scored.
A HOLD or WATCH verdict that would have been a hit is a missed opportunity.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlite_utils

from pipelines.backtest import pnl, rules, store
from pipelines.backtest.engine import pair_costs
from pipelines.config.pairs import Pair
from pipelines.config.settings import Settings
from pipelines.core.columns import SIDES
from pipelines.core.timeutil import series_from_iso, to_iso
from pipelines.core.units import HOURS_PER_YEAR
from pipelines.load.minutes import read_funding

DEFAULT_EXIT = rules.Rules(entry_net=None)  # exits: net below 0, sign change
NOTIONAL, SLIPPAGE_BPS = 10_000.0, 2.0  # the backtest's defaults; returns do not depend on notional
BUCKETS = (0.0, 0.25, 0.5, 0.75, 1.0 + 1e-9)  # [lo, hi); 1.0 falls in the last
BUCKET_LABELS = ("0-0.25", "0.25-0.5", "0.5-0.75", "0.75-1")
MISSING = ("HOLD", "WATCH")
_LAST = datetime(9999, 1, 1, tzinfo=UTC)


def read_verdicts(db: sqlite_utils.Database, pair: str, start: datetime, end: datetime, model: str | None):
    """The latest verdict per window and model of `pair`, window_end in (start, end]."""
    sql = (
        "SELECT pair, window_end, model, action, confidence, created_at FROM verdicts"
        " WHERE pair = ? AND window_end > ? AND window_end <= ?" + (" AND model = ?" if model else "")
    )
    params = [pair, to_iso(start), to_iso(end)] + ([model] if model else [])
    frame = pd.DataFrame(
        db.execute(sql, params).fetchall(),
        columns=["pair", "window_end", "model", "action", "confidence", "created_at"],
    )
    frame = frame.sort_values("created_at", na_position="first", kind="stable")
    return frame.drop_duplicates(["window_end", "model"], keep="last").sort_values(["window_end", "model"])


def _held(windows: pd.DataFrame, verdicts: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    # The trade each verdict's window opens, and which verdicts got one (a window after theirs).
    position = {to_iso(t): i for i, t in enumerate(windows["window_end"])}
    last = windows["window_end"].iloc[-1] if len(windows) else None
    held = []
    for end in verdicts["window_end"]:
        trade = rules.held_from(windows, position[end], DEFAULT_EXIT, last) if end in position else None
        held.append(trade if trade and trade["exit_time"] > trade["entry_time"] else None)
    got = np.array([t is not None for t in held], dtype=bool)
    return pd.DataFrame([t for t in held if t], columns=list(rules.TRADE_COLUMNS)), got


def realised(
    db: sqlite_utils.Database, settings: Settings, pair: Pair, start: datetime, end: datetime, model=None
):
    """One row per scored-or-not verdict of `pair`: model, action, confidence, net_pnl, net_apr, hit."""
    return score(db, settings, pair, start, read_verdicts(db, pair.name, start, end, model))


def score(db: sqlite_utils.Database, settings: Settings, pair: Pair, start: datetime, verdicts: pd.DataFrame):
    """`verdicts` of `pair` (window_end ISO, after `start`) with their realised net_pnl, net_apr and hit:
    the trade each window opens, held by the default exit (the per-tier scorecard scores alike)."""
    windows = store.read_windows(db, pair.name, start, _LAST)
    trades, scored = _held(windows, verdicts)
    trades = trades.assign(
        entry_time=series_from_iso(trades["entry_time"].map(to_iso)),
        exit_time=series_from_iso(trades["exit_time"].map(to_iso)),
    )
    reach = (windows["window_end"].iloc[-1] if len(windows) else start) + timedelta(seconds=1)
    funding = {
        side: read_funding(db, leg.exchange, leg.symbol, start, reach)
        for side, leg in zip(SIDES, pair.legs, strict=True)
    }
    costs = pair_costs(pair, settings.fees, NOTIONAL, SLIPPAGE_BPS)
    priced = pnl.price_trades(trades, funding, store.read_marks(db, pair, trades), costs)
    hours = (priced["exit_time"] - priced["entry_time"]).dt.total_seconds() / 3600
    net = np.full(len(verdicts), np.nan)
    apr = np.full(len(verdicts), np.nan)
    net[scored] = priced["net_pnl"].to_numpy()
    apr[scored] = (priced["net_pnl"] / NOTIONAL * HOURS_PER_YEAR / hours).to_numpy()
    out = verdicts.reset_index(drop=True).assign(net_pnl=net, net_apr=apr)
    return out.assign(hit=out["net_pnl"].gt(0).where(out["net_pnl"].notna()))


def by_action(scored: pd.DataFrame) -> pd.DataFrame:
    """Per model and action: verdicts, scored, hit rate, mean realised net APR, missed (HOLD/WATCH hits)."""
    rows = []
    for (model, action), group in scored.groupby(["model", "action"], sort=True):
        done = group[group["net_pnl"].notna()]
        hits = done[done["hit"].astype(bool)]
        missing = action in MISSING
        rows.append(
            {
                "model": model,
                "action": action,
                "verdicts": len(group),
                "scored": len(done),
                "hit_rate": len(hits) / len(done) if len(done) else None,
                "mean_net_apr": float(done["net_apr"].mean()) if len(done) else None,
                "missed": len(hits) if missing else None,
                "missed_mean_net_apr": float(hits["net_apr"].mean()) if missing and len(hits) else None,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "model",
            "action",
            "verdicts",
            "scored",
            "hit_rate",
            "mean_net_apr",
            "missed",
            "missed_mean_net_apr",
        ],
    )


def calibration(scored: pd.DataFrame) -> pd.DataFrame:
    """Per model and confidence bucket ([0, 0.25) ... [0.75, 1], lower edge included): scored
    verdicts, their hit rate and mean confidence. A calibrated model's hit rate tracks its confidence."""
    done = scored[scored["net_pnl"].notna()]
    bucket = pd.cut(done["confidence"], BUCKETS, labels=BUCKET_LABELS, right=False)
    rows = []
    for (model, label), group in done.groupby([done["model"], bucket], observed=True, sort=True):
        rows.append(
            {
                "model": model,
                "confidence": label,
                "scored": len(group),
                "hit_rate": float(group["hit"].astype(bool).mean()),
                "mean_confidence": float(group["confidence"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=["model", "confidence", "scored", "hit_rate", "mean_confidence"])


def scorecard(db: sqlite_utils.Database, settings: Settings, start: datetime, end: datetime, model=None):
    """Every configured pair's verdicts in (start, end], realised: (per verdict, by action, calibration)."""
    frames = [realised(db, settings, pair, start, end, model) for pair in settings.pairs]
    per_verdict = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return per_verdict, by_action(per_verdict), calibration(per_verdict)
