"""APR: the one annualization of a funding rate, by the rate's own interval."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.core.units import HOURS_PER_YEAR, apr


def test_apr_annualizes_a_rate_per_period_by_its_interval():
    assert HOURS_PER_YEAR == 8760
    assert apr(0.0001, 8) == pytest.approx(0.1095)  # 0.01 % every 8 h = 10.95 % a year
    assert apr(0.0001, 1) == pytest.approx(0.876)

    assert apr(pd.Series([0.0001, -0.0002]), pd.Series([8.0, 4.0])).tolist() == pytest.approx(
        [0.1095, -0.438]
    )
