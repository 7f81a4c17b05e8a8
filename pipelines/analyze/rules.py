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
from dataclasses import dataclass

from pipelines.config.settings import Settings
from pipelines.core.verdicts import Verdict
from pipelines.transform.legs import leg_labels
from pipelines.transform.scoring import LABELS, feature_label

EXTREME_BPS = 50.0
EXTREME_Z = 4.0
DEFAULT_CARRY_FLOOR = 0.25
_BPS_FEATURES = ("mark_spread_mean_bps", "a_basis_mean_bps", "b_basis_mean_bps")


@dataclass(frozen=True)
class RulesParams:
    """What the rules read from the settings: the flag threshold, the carry floor, the holding period."""

    z_threshold: float
    carry_floor: float
    holding_periods: float


def rules_params(settings: Settings) -> RulesParams:
    """The rules' parameters from `settings` (the carry floor defaults to DEFAULT_CARRY_FLOOR)."""
    floor = settings.transform.net_carry_apr_floor
    return RulesParams(
        settings.transform.z_threshold,
        DEFAULT_CARRY_FLOOR if floor is None else floor,
        settings.fees.holding_periods,
    )


def rules_verdict(ident: str, row: Mapping, params: RulesParams) -> Verdict:
    """The rules verdict for the window `ident` whose features are in `row`: the first rule that fires.

    Its rationale and alert name the figures that decided it: what fired for an extreme market
    (`funding diff z=-4.3`, `Gate basis -80 bps`), and for a carry the net figure with the gross
    beside it, signs explicit (`net carry +105% APR (gross -117%)`)."""
    pair = ident.split("@", 1)[0]
    zscores = {k: _num(v) for k, v in row.items() if k.startswith("z_")}
    z_max = max((abs(v) for v in zscores.values() if v is not None), default=0.0)
    tense = "MEDIUM" if z_max >= params.z_threshold else "LOW"
    return (
        _incomplete(ident, pair, row)
        or _dislocated(ident, pair, row, zscores)
        or _carry(ident, pair, row, params, tense)
        or Verdict(
            ident,
            tense,
            "WATCH",
            0.5,
            "Flagged window without a clear edge; keep watching.",
            f"{pair}: flagged, watch",
        )
    )


def _incomplete(ident: str, pair: str, row: Mapping) -> Verdict | None:
    """Rule 1: nothing can be trusted in a window with missing data."""
    if _num(row.get("complete")) != 0:
        return None
    text = "Window data is incomplete; features are unreliable."
    return Verdict(ident, "HIGH", "HOLD", 0.9, text, f"{pair}: incomplete data, hold")


def _dislocated(ident: str, pair: str, row: Mapping, zscores: dict[str, float | None]) -> Verdict | None:
    """Rule 2: a carry is not worth a dislocated leg."""
    fired = _extremes(row, zscores)
    if not fired:
        return None
    why = ", ".join(fired)
    text = f"Market dislocated ({why}); do not open a carry now."
    return Verdict(ident, "HIGH", "HOLD", 0.7, text, f"{pair}: extreme move, {why}")


def _carry(ident: str, pair: str, row: Mapping, params: RulesParams, tense: str) -> Verdict | None:
    """Rule 3: a net carry at the floor that pays its fees back within a third of the holding period."""
    carry = _num(row.get("net_carry_apr"))
    break_even = _num(row.get("break_even_periods"))
    if carry is None or carry < params.carry_floor:
        return None
    if break_even is None or break_even > params.holding_periods / 3:
        return None
    figure = _carry_figure(carry, _num(row.get("carry_apr")))
    text = f"{figure[0].upper()}{figure[1:]} after fees, break-even in {break_even:.1f} periods."
    return Verdict(
        ident, tense, "OPEN_ARB", 0.6, text, f"{pair}: {figure}, break-even {break_even:.1f} periods"
    )


def _extremes(row: Mapping, zscores: dict[str, float | None]) -> list[str]:
    """What makes the market extreme, largest first: z-scores at EXTREME_Z, bps at EXTREME_BPS."""
    labels = dict(zip(("a", "b"), leg_labels(row), strict=True))
    found = [
        (abs(z) / EXTREME_Z, f"{feature_label(k[2:], labels) if k[2:] in LABELS else k[2:]} z={z:.1f}")
        for k, z in zscores.items()
        if z is not None and abs(z) >= EXTREME_Z
    ]
    for key in _BPS_FEATURES:
        bps = _num(row.get(key))
        if bps is not None and abs(bps) >= EXTREME_BPS:
            found.append((abs(bps) / EXTREME_BPS, f"{feature_label(key, labels)} {bps:+.0f} bps"))
    return [text for _, text in sorted(found, key=lambda item: -item[0])]


def _carry_figure(net: float, gross: float | None) -> str:
    """`net carry +105% APR (gross -117%)`: net is what the position earns after fees; gross is
    leg a - leg b (Gate - Bitfinex by default), whose sign says which leg the position is short."""
    text = f"net carry {net:+.0%} APR"
    return f"{text} (gross {gross:+.0%})" if gross is not None else text


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
