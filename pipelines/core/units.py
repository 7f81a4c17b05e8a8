"""Units shared by every stage: rates are fractions per funding period, APRs fractions per year."""

from __future__ import annotations

import pandas as pd

HOURS_PER_YEAR = 8760


def apr(rate: pd.Series | float, interval_hours: pd.Series | float) -> pd.Series | float:
    """Annualized rate of a per-period funding rate: r x 8760 / interval hours (a fraction)."""
    return rate * HOURS_PER_YEAR / interval_hours
