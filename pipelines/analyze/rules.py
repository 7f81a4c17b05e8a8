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

from pipelines.analyze.verdicts import Verdict
from pipelines.settings import Settings
from pipelines.transform.scoring import LABELS

EXTREME_BPS = 50.0
EXTREME_Z = 4.0
DEFAULT_CARRY_FLOOR = 0.25
_BPS_FEATURES = ("mark_spread_mean_bps", "gate_basis_mean_bps", "bitfinex_basis_mean_bps")


def rules_verdict(ident: str, row: Mapping, settings: Settings) -> Verdict:
    """The rules verdict for the window `ident` whose features are in `row`.

    Its rationale and alert name the figures that decided it: what fired for an extreme market
    (`funding diff z=-4.3`, `Gate basis -80 bps`), and for a carry the net figure with the gross
    beside it, signs explicit (`net carry +105% APR (gross -117%)`)."""
    zscores = {k: _num(v) for k, v in row.items() if k.startswith("z_")}
    z_max = max((abs(v) for v in zscores.values() if v is not None), default=0.0)
    carry = _num(row.get("net_carry_apr"))
    break_even = _num(row.get("break_even_periods"))
    floor = settings.transform.net_carry_apr_floor
    floor = DEFAULT_CARRY_FLOOR if floor is None else floor
    tense = "MEDIUM" if z_max >= settings.transform.z_threshold else "LOW"
    pair = ident.split("@", 1)[0]
    fired = _extremes(row, zscores)

    if _num(row.get("complete")) == 0:
        return Verdict(
            ident,
            "HIGH",
            "HOLD",
            0.9,
            "Window data is incomplete; features are unreliable.",
            f"{pair}: incomplete data, hold",
        )
    if fired:
        why = ", ".join(fired)
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
        figure = _carry_figure(carry, _num(row.get("carry_apr")))
        return Verdict(
            ident,
            tense,
            "OPEN_ARB",
            0.6,
            f"{figure[0].upper()}{figure[1:]} after fees, break-even in {break_even:.1f} periods.",
            f"{pair}: {figure}, break-even {break_even:.1f} periods",
        )
    return Verdict(
        ident,
        tense,
        "WATCH",
        0.5,
        "Flagged window without a clear edge; keep watching.",
        f"{pair}: flagged, watch",
    )


def _extremes(row: Mapping, zscores: dict[str, float | None]) -> list[str]:
    """What makes the market extreme, largest first: z-scores at EXTREME_Z, bps at EXTREME_BPS."""
    found = [
        (abs(z) / EXTREME_Z, f"{LABELS.get(k[2:], k[2:])} z={z:.1f}")
        for k, z in zscores.items()
        if z is not None and abs(z) >= EXTREME_Z
    ]
    for key in _BPS_FEATURES:
        bps = _num(row.get(key))
        if bps is not None and abs(bps) >= EXTREME_BPS:
            found.append((abs(bps) / EXTREME_BPS, f"{LABELS[key]} {bps:+.0f} bps"))
    return [text for _, text in sorted(found, key=lambda item: -item[0])]


def _carry_figure(net: float, gross: float | None) -> str:
    """`net carry +105% APR (gross -117%)`: net is what the position earns after fees; gross is
    Gate - Bitfinex, whose sign says which side the position is short."""
    text = f"net carry {net:+.0%} APR"
    return f"{text} (gross {gross:+.0%})" if gross is not None else text


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
