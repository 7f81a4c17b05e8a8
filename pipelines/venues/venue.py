"""`Venue`: what the pipeline needs to know of one exchange, declared once in its module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pipelines.venues.base import Normalizer


@dataclass(frozen=True)
class Venue:
    """One exchange: its Tardis id, the replay channel of its tickers, its normalizer, its settlement rule,
    its history."""

    exchange: str  # Tardis exchange id
    channel: str  # replay channel carrying derivative tickers
    normalizer: type[Normalizer]
    # (minutes of one symbol, symbol, interval hours) -> its settlements, columns `columns.FUNDING`
    settle: Callable[[pd.DataFrame, str, float], pd.DataFrame]
    history_start: str  # first day (ISO) of its history on Tardis
