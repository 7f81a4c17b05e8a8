"""`Venue`: what the pipeline needs to know of one exchange, declared once in its module."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.venues.base import Normalizer


@dataclass(frozen=True)
class Venue:
    """One exchange: its Tardis id, the replay channel of its tickers, its normalizer, its history."""

    exchange: str  # Tardis exchange id
    channel: str  # replay channel carrying derivative tickers
    normalizer: type[Normalizer]
    history_start: str  # first day (ISO) of its history on Tardis
