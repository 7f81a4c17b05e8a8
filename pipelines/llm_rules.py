"""The offline analyzer: deterministic verdicts from a window's features (`model = "rules"`).

Used when no HOLYSHEEP_API_KEY is configured, so the whole pipeline runs without network. Rules,
first match wins:

1. Data incomplete (`complete == 0`): HIGH risk, HOLD, confidence 0.9. Nothing can be trusted.
2. Extreme market: |mark spread| or |basis| on either side at least `EXTREME_BPS`, or any
   |z-score| at least `EXTREME_Z`: HIGH risk, HOLD, confidence 0.7. A carry is not worth a
   dislocated leg.
3. Carry worth taking: net carry APR at or above `transform.net_carry_apr_floor` (25 % when unset)
   and break-even within a third of `fees.holding_periods`: OPEN_ARB, MEDIUM risk when some
   |z| reaches `transform.z_threshold` else LOW, confidence 0.6.
4. Anything else flagged: WATCH, MEDIUM risk when some |z| reaches the threshold else LOW,
   confidence 0.5.

Rationale and alert are English whatever `llm.language` says. Missing features never fail a
rule; they simply do not fire it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pipelines.llm_verdicts import Verdict
from pipelines.settings import Settings

EXTREME_BPS = 50.0
EXTREME_Z = 4.0
DEFAULT_CARRY_FLOOR = 0.25
_BPS_FEATURES = ("mark_spread_mean_bps", "gate_basis_mean_bps", "bitfinex_basis_mean_bps")


def rules_verdict(ident: str, row: Mapping, settings: Settings) -> Verdict:
    """The rules verdict for the window `ident` whose features are in `row`."""
    z_max = max((abs(v) for k, v in row.items() if k.startswith("z_") and _num(v) is not None), default=0.0)
    bps = {k: _num(row.get(k)) for k in _BPS_FEATURES}
    worst_bps = max((abs(v) for v in bps.values() if v is not None), default=0.0)
    carry = _num(row.get("net_carry_apr"))
    break_even = _num(row.get("break_even_periods"))
    floor = settings.transform.net_carry_apr_floor
    floor = DEFAULT_CARRY_FLOOR if floor is None else floor
    tense = "MEDIUM" if z_max >= settings.transform.z_threshold else "LOW"
    pair = ident.split("@", 1)[0]

    if _num(row.get("complete")) == 0:
        return Verdict(
            ident,
            "HIGH",
            "HOLD",
            0.9,
            "Window data is incomplete; features are unreliable.",
            f"{pair}: incomplete data, hold",
        )
    if worst_bps >= EXTREME_BPS or z_max >= EXTREME_Z:
        why = f"max |basis/spread| {worst_bps:.0f} bps, max |z| {z_max:.1f}"
        return Verdict(
            ident,
            "HIGH",
            "HOLD",
            0.7,
            f"Market dislocated ({why}); do not open a carry now.",
            f"{pair}: extreme move, {why}",
        )
    if (
        carry is not None
        and carry >= floor
        and break_even is not None
        and break_even <= settings.fees.holding_periods / 3
    ):
        return Verdict(
            ident,
            tense,
            "OPEN_ARB",
            0.6,
            f"Net carry {carry:.0%} APR after fees, break-even in {break_even:.1f} periods.",
            f"{pair}: carry {carry:.0%} APR, break-even {break_even:.1f} periods",
        )
    return Verdict(
        ident,
        tense,
        "WATCH",
        0.5,
        "Flagged window without a clear edge; keep watching.",
        f"{pair}: flagged, watch",
    )


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
