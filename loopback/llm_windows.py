"""Realistic `windows` rows for the LLM stage's tests and benchmark (seeded, no I/O).

Values follow the shapes the transform stage writes: per-period funding rates around 1e-4, carry
and fees as APR fractions, spreads and basis in bps, quality counters for a full 8 h window, and
z-scores of which a flagged window has one or two beyond the threshold, with matching reasons.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta

from pipelines.timeutil import to_iso

ROUND_TRIP_FEES = 2 * (0.0005 + 0.00065)
HOLDING_PERIODS = 21
PERIODS_PER_YEAR = 1095
Z_FEATURES = (
    "funding_diff", "carry_apr", "net_carry_apr", "gate_rate", "bitfinex_rate", "gate_apr", "bitfinex_apr",
    "gate_forecast_error", "bitfinex_forecast_error", "mark_spread_mean_bps", "mark_spread_min_bps",
    "mark_spread_max_bps", "mark_spread_last_bps", "gate_basis_mean_bps", "gate_basis_last_bps",
    "bitfinex_basis_mean_bps", "bitfinex_basis_last_bps",
)  # fmt: skip
LABELS = {"funding_diff": "funding diff", "mark_spread_mean_bps": "mark spread", "gate_rate": "Gate funding",
          "bitfinex_basis_mean_bps": "Bitfinex basis"}  # fmt: skip


def window_row(pair: str, end: datetime, rng: random.Random, flagged: bool = True, **overrides) -> dict:
    """One window of `pair` ending at `end`; flagged ones carry large z-scores and reasons."""
    gate, bfx = rng.gauss(1.0e-4, 8e-5), rng.gauss(6e-5, 5e-5)
    diff = gate - bfx
    if flagged and rng.random() < 0.4:
        diff, gate = diff + 4e-4, gate + 4e-4  # a carry worth a look
    carry = diff * PERIODS_PER_YEAR
    fees_apr = ROUND_TRIP_FEES / HOLDING_PERIODS * PERIODS_PER_YEAR
    spread, gate_basis, bfx_basis = rng.gauss(2, 3), rng.gauss(3, 4), rng.gauss(1, 3)
    row = {
        "pair": pair, "window_start": to_iso(end - timedelta(hours=8)), "window_end": to_iso(end),
        "gate_rate": gate, "bitfinex_rate": bfx, "gate_interval_hours": 8.0, "bitfinex_interval_hours": 8.0,
        "gate_apr": gate * PERIODS_PER_YEAR, "bitfinex_apr": bfx * PERIODS_PER_YEAR, "funding_diff": diff,
        "carry_apr": carry, "fees_apr": fees_apr, "net_carry_apr": abs(carry) - fees_apr,
        "break_even_periods": ROUND_TRIP_FEES / abs(diff) if diff else None,
        "long_side": "bitfinex" if diff > 0 else "gate", "short_side": "gate" if diff > 0 else "bitfinex",
        "gate_predicted": gate + rng.gauss(0, 1e-5), "bitfinex_predicted": bfx + rng.gauss(0, 1e-5),
        "gate_forecast_error": rng.gauss(0, 1e-5), "bitfinex_forecast_error": rng.gauss(0, 1e-5),
        "mark_spread_mean_bps": spread, "mark_spread_min_bps": spread - abs(rng.gauss(4, 2)),
        "mark_spread_max_bps": spread + abs(rng.gauss(4, 2)),
        "mark_spread_last_bps": spread + rng.gauss(0, 1),
        "gate_basis_mean_bps": gate_basis, "gate_basis_last_bps": gate_basis + rng.gauss(0, 1),
        "bitfinex_basis_mean_bps": bfx_basis, "bitfinex_basis_last_bps": bfx_basis + rng.gauss(0, 1),
        "expected_minutes": 480, "gate_minutes": 480, "bitfinex_minutes": 479, "aligned_minutes": 479,
        "gate_longest_gap_minutes": 1, "bitfinex_longest_gap_minutes": 2, "gate_unchanged_minutes": 3,
        "bitfinex_unchanged_minutes": 4, "gate_settled": 1, "bitfinex_settled": 1,
        "gate_interval_inferred_hours": 8.0, "bitfinex_interval_inferred_hours": 8.0,
        "complete": 1, "warnings": "[]",
    }  # fmt: skip
    row.update({f"z_{f}": rng.gauss(0, 1) for f in Z_FEATURES})
    reasons = []
    if flagged:
        for feature in rng.sample(sorted(LABELS), rng.choice((1, 1, 2))):
            z = rng.choice((-1, 1)) * rng.uniform(2.5, 4.5)
            row[f"z_{feature}"] = z
            reasons.append(f"{LABELS[feature]} z={z:.1f}")
        if row["net_carry_apr"] >= 0.25:
            reasons.append(f"net carry {row['net_carry_apr']:.0%} APR")
    row.update(flagged=int(flagged), reasons=json.dumps(reasons), **overrides)
    row["features_hash"] = features_digest(row)
    return row


def features_digest(row: dict) -> str:
    """A stand-in for the transform's hash: every value but the keys and status columns."""
    skip = {"pair", "window_start", "window_end", "flagged", "reasons", "features_hash"}
    values = {k: (round(v, 12) if isinstance(v, float) else v) for k, v in row.items() if k not in skip}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def sample_windows(
    pairs: tuple[str, ...], first_end: datetime, cycles: int, flagged_every: int = 1, seed: int = 7
) -> list[dict]:
    """`cycles` consecutive 8 h windows per pair from `first_end`; every `flagged_every`-th is flagged."""
    rng = random.Random(seed)
    rows = []
    for i in range(cycles):
        end = first_end + timedelta(hours=8 * i)
        for j, pair in enumerate(pairs):
            rows.append(window_row(pair, end, rng, flagged=(i + j) % flagged_every == 0))
    return rows
