"""The `fees` and `transform` sections: taker fees per venue and the window z-score/flag rules; together
they are the windows stage's `WindowConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import Strict
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.window_columns import ZSCORABLE
from pipelines.venues.registry import VENUES


class Fees(Strict):
    taker: dict[str, float] = Field(default_factory=dict)  # exchange -> fee; default: the venue's
    # Before fees.taker: the Gate and Bitfinex entries (fees.taker wins when both are given).
    gate_taker: float | None = Field(None, ge=0, lt=0.01)
    bitfinex_taker: float | None = Field(None, ge=0, lt=0.01)
    holding_periods: float = Field(21, gt=0)

    @field_validator("taker")
    @classmethod
    def _known_venues(cls, taker: dict[str, float]) -> dict[str, float]:
        for exchange, fee in taker.items():
            if exchange not in VENUES:
                raise ValueError(f"unknown venue {exchange!r}; known venues: {', '.join(VENUES)}")
            if not 0 <= fee < 0.01:
                raise ValueError(f"{exchange}: {fee} is not a fee fraction in [0, 0.01)")
        return taker

    def taker_fee(self, exchange: str) -> float:
        """Taker fee per fill on `exchange`: configured, else the venue's usual fee."""
        legacy = {GATE: self.gate_taker, BITFINEX: self.bitfinex_taker}.get(exchange)
        fee = self.taker.get(exchange, legacy)
        return VENUES[exchange].taker_fee if fee is None else fee


class Transform(Strict):
    lookback_windows: int = Field(90, ge=2)
    min_periods: int = Field(10, ge=2)
    z_threshold: float = Field(2.5, gt=0)
    zscore_features: tuple[str, ...] = (
        "funding_diff",
        "mark_spread_mean_bps",
        "b_basis_mean_bps",
        "a_rate",
        "b_rate",
    )
    net_carry_apr_floor: float | None = 0.25
    min_coverage: float = Field(0.9, ge=0, le=1)
    stale_minutes: int = Field(60, ge=1)

    @field_validator("zscore_features", mode="before")
    @classmethod
    def _legacy_names(cls, features):
        # Window columns were gate_*/bitfinex_* before pairs had legs a and b.
        if isinstance(features, list | tuple):
            return tuple(_legacy_feature(f) if isinstance(f, str) else f for f in features)
        return features

    @field_validator("zscore_features")
    @classmethod
    def _known_features(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in features if f not in ZSCORABLE]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}; z-scorable features: {', '.join(ZSCORABLE)}")
        return features

    @model_validator(mode="after")
    def _periods_fit(self) -> Transform:
        if self.min_periods > self.lookback_windows:
            raise ValueError("min_periods cannot exceed lookback_windows")
        return self


def _legacy_feature(name: str) -> str:
    for old, new in (("gate_", "a_"), ("bitfinex_", "b_")):
        if name.startswith(old):
            return new + name[len(old) :]
    return name


@dataclass(frozen=True)
class WindowConfig:
    """What the windows stage reads of the settings: the fees and the transform section (no
    secret, so it may go to worker processes)."""

    fees: Fees
    transform: Transform
