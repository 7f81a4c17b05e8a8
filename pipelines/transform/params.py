"""A configured pair and the fees/transform sections as the plain parameters the pure transforms
take (`PairParams`, `FeeParams`, `QualityParams`, `LegParams`): the settings adapter of the windows
stage, apart from its orchestration (`pipelines.transform.windows_stage`)."""

from __future__ import annotations

from pipelines.config.pairs import Leg, Pair
from pipelines.config.transform import WindowConfig
from pipelines.core.columns import SIDES
from pipelines.transform.features import FeeParams, PairParams
from pipelines.transform.legs import LegParams
from pipelines.transform.quality import QualityParams


def transform_params(config: WindowConfig, pair: Pair) -> tuple[PairParams, FeeParams, QualityParams]:
    """The plain parameters the pure transforms take, from the fees and transform sections."""
    a, b = pair.legs
    fees = config.fees
    return (
        PairParams(pair.name, (leg_params(a), leg_params(b)), pair.window_hours),
        FeeParams(fees.taker_fee(a.exchange), fees.taker_fee(b.exchange), fees.holding_periods),
        QualityParams(config.transform.min_coverage, config.transform.stale_minutes),
    )


def leg_params(leg: Leg) -> LegParams:
    """A configured leg as the transforms take it; its interval is checked only where the venue's
    data gives no funding time (where it does, the data's interval is the truth)."""
    configured = None if leg.venue.interval_in_data else leg.hours
    return LegParams(leg.exchange, leg.symbol, leg.label, configured)


def pair_labels(pair: Pair) -> dict[str, str]:
    """The venue label of each leg, as flag reasons name them: {"a": "Gate", "b": "Bitfinex"}."""
    return {side: leg.label for side, leg in zip(SIDES, pair.legs, strict=True)}
