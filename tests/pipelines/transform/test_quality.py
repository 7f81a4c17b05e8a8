"""Window quality from minute frames: which window a minute is in, coverage, gaps, stale series, warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.core.columns import BITFINEX, GATE
from pipelines.transform.legs import LegParams
from pipelines.transform.quality import (
    QualityParams,
    match_minutes,
    quality_features,
    side_minutes,
    window_warnings,
)

START = pd.Timestamp("2024-03-01T00:00:00Z")
HOUR = pd.Timedelta(hours=1)
GRID = pd.DataFrame(
    {"window_start": [START, START + 2 * HOUR], "window_end": [START + 2 * HOUR, START + 4 * HOUR]}
)


def _minutes(exchange: str, symbol: str, offsets: list[int], mark=None, index=None) -> pd.DataFrame:
    n = len(offsets)
    return pd.DataFrame(
        {
            "exchange": exchange,
            "symbol": symbol,
            "ts": [START + pd.Timedelta(minutes=o) for o in offsets],
            "mark_price": mark if mark is not None else np.arange(n, dtype=float) + 100,
            "index_price": index if index is not None else np.arange(n, dtype=float) + 99,
        }
    )


def test_a_minute_belongs_to_the_window_holding_it_and_others_are_dropped():
    minutes = pd.concat(
        [
            _minutes(GATE, "BTC_USDT", [-5, 0, 119, 120, 239, 240, 60]),
            _minutes(GATE, "ETH_USDT", [1]),  # another symbol
            _minutes(BITFINEX, "BTC_USDT", [2]),  # another exchange
        ]
    )
    frame = side_minutes(minutes, GATE, "BTC_USDT", GRID)
    assert frame["m"].diff().dropna().gt(0).all()  # sorted by minute
    minute = START.value // 60_000_000_000
    assert (frame["m"] - minute).tolist() == [0, 60, 119, 120, 239]
    assert frame["w"].tolist() == [0, 0, 0, 1, 1]


def test_a_duplicated_minute_keeps_its_last_row():
    frame = side_minutes(_minutes(GATE, "BTC_USDT", [5, 5], mark=[1.0, 2.0]), GATE, "BTC_USDT", GRID)
    assert frame["mark"].tolist() == [2.0]


def test_matching_minutes_gives_positions_on_both_sides():
    left, right = np.array([1, 3, 5, 7]), np.array([0, 3, 4, 7, 9])
    assert [p.tolist() for p in match_minutes(left, right)] == [[1, 3], [1, 3]]
    assert [p.tolist() for p in match_minutes(left, np.array([], dtype=int))] == [[], []]


def test_coverage_gaps_and_unchanged_runs_per_side():
    full = list(range(240))
    holed = [m for m in full if not 10 <= m < 80]  # a 70-minute hole in the first window
    gate = _minutes(
        GATE, "BTC_USDT", full, mark=np.r_[np.full(90, 100.0), np.arange(150.0)]
    )  # 90 flat minutes
    bitfinex = _minutes(BITFINEX, "BTCF0:USTF0", holed)
    sides = {
        "a": side_minutes(gate, GATE, "BTC_USDT", GRID),
        "b": side_minutes(bitfinex, BITFINEX, "BTCF0:USTF0", GRID),
    }
    q = quality_features(sides, GRID)
    assert q["expected_minutes"].tolist() == [120, 120]
    assert q["a_minutes"].tolist() == [120, 120] and q["b_minutes"].tolist() == [50, 120]
    assert q["aligned_minutes"].tolist() == [50, 120]
    assert q["b_longest_gap_minutes"].tolist() == [70, 0]
    assert q["a_unchanged_minutes"].tolist() == [90, 1] and q["_a_mark_unchanged"].tolist() == [90, 1]


def test_warnings_name_the_side_and_the_figure():
    row = {
        "expected_minutes": 480, "a_settled": False, "b_settled": True,
        "a_minutes": 480, "b_minutes": 300, "a_longest_gap_minutes": 0,
        "b_longest_gap_minutes": 75, "_a_mark_unchanged": 61, "_a_index_unchanged": 1,
        "_b_mark_unchanged": 1, "_b_index_unchanged": 1, "window_hours": 8.0,
    }  # fmt: skip
    legs = {
        "a": LegParams(GATE, "BTC_USDT", "Gate", 8.0),
        "b": LegParams(BITFINEX, "BTCF0:USTF0", "Bitfinex"),
    }
    none = {"hints": 0, "notes": [], "interval_changed": False}
    settled = {
        "a": pd.DataFrame([{"settled": 0, "covered_hours": 0.0, "inferred": 4.0, **none}]),
        "b": pd.DataFrame([{"settled": 1, "covered_hours": 8.0, "inferred": 2.0, **none}]),
    }
    [found] = window_warnings(pd.DataFrame([row]), legs, settled, QualityParams())
    assert found == [
        "Gate settlement missing",
        "Gate mark unchanged 61 min",
        "Gate settles every 4 h, configured 8 h",
        "Bitfinex coverage 62% < 90%",
        "Bitfinex gap 75 min",
    ]  # Bitfinex's spacing (2 h) is not checked: its interval comes from its data
