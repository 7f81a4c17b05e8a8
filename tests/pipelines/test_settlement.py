"""Settled funding derived from minute history, on small hand-made frames."""

import pandas as pd
import pytest

from pipelines.columns import BITFINEX, FUNDING, GATE
from pipelines.settlement import apr, settlements


def minutes(rows, funding_ts=False):
    frame = pd.DataFrame(rows, columns=["ts", "funding_rate", "predicted_funding_rate", "funding_timestamp"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        funding_timestamp=pd.to_datetime(frame["funding_timestamp"], utc=True),
    )


def test_apr_uses_the_actual_interval():
    assert apr(0.0001, 8) == pytest.approx(0.1095)
    assert apr(0.0001, 4) == pytest.approx(0.219)
    assert apr(-0.0002, 1) == pytest.approx(-1.752)


def test_gate_settles_the_last_rate_before_each_funding_time():
    frame = minutes(
        [
            ("2024-03-01T07:00", 0.0001, 0.0001, None),
            ("2024-03-01T07:59", 0.00012, 0.00012, None),  # last before 08:00 -> settled at 08:00
            ("2024-03-01T08:00", 0.0003, 0.0003, None),  # the new period's rate, not settled at 08:00
            ("2024-03-01T15:59", -0.0002, -0.0002, None),
            ("2024-03-01T16:01", 0.0, 0.0, None),
        ]
    )
    out = settlements(frame, GATE, "BTC_USDT", 8)
    assert list(out.columns) == list(FUNDING)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["08:00", "16:00"]
    assert out["rate"].tolist() == [0.00012, -0.0002]
    assert out["predicted_rate"].tolist() == [0.00012, -0.0002]
    assert out["apr"].tolist() == pytest.approx([0.00012 * 1095, -0.0002 * 1095])
    assert set(out["exchange"]) == {GATE} and set(out["interval_hours"]) == {8.0}


def test_gate_skips_a_settlement_after_a_gap():
    frame = minutes(
        [
            ("2024-03-01T06:00", 0.0001, 0.0001, None),  # 2 h gap before 08:00: not trusted as settled
            ("2024-03-01T08:10", 0.0002, 0.0002, None),
            ("2024-03-01T15:50", 0.0002, 0.0002, None),
            ("2024-03-01T16:05", 0.0002, 0.0002, None),
        ]
    )
    out = settlements(frame, GATE, "BTC_USDT", 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["16:00"]


def test_gate_with_shorter_interval():
    frame = minutes([(f"2024-03-01T{h:02d}:59", h / 1e5, h / 1e5, None) for h in range(0, 9)])
    out = settlements(frame, GATE, "DOGE_USDT", 4)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["04:00", "08:00"]
    assert out["rate"].tolist() == pytest.approx([3e-5, 7e-5])
    assert out["apr"].tolist() == pytest.approx([3e-5 * 2190, 7e-5 * 2190])


def test_bitfinex_settles_current_funding_after_rollover_and_keeps_last_prediction():
    frame = minutes(
        [
            ("2024-03-01T07:58", 0.00005, 0.00011, "2024-03-01T08:00"),
            ("2024-03-01T07:59", 0.00005, 0.00013, "2024-03-01T08:00"),  # last prediction for 08:00
            ("2024-03-01T08:00", 0.00014, 0.0, "2024-03-01T16:00"),  # applied at 08:00
            ("2024-03-01T15:59", 0.00014, 0.0, "2024-03-01T16:00"),
            ("2024-03-01T16:00", 0.0, 0.0, "2024-03-02T00:00"),  # zero is a real settled rate
        ]
    )
    out = settlements(frame, BITFINEX, "BTCF0:USTF0", 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["08:00", "16:00"]
    assert out["rate"].tolist() == [0.00014, 0.0]
    assert out["predicted_rate"].tolist() == [0.00013, 0.0]


def test_bitfinex_needs_a_row_after_the_funding_time():
    frame = minutes(
        [
            ("2024-03-01T07:59", 0.00005, 0.00013, "2024-03-01T08:00"),
        ]
    )
    assert settlements(frame, BITFINEX, "BTCF0:USTF0", 8).empty


def test_empty_input_gives_empty_frame_with_columns():
    frame = minutes([])
    for exchange in (GATE, BITFINEX):
        out = settlements(frame, exchange, "X", 8)
        assert out.empty and list(out.columns) == list(FUNDING)
