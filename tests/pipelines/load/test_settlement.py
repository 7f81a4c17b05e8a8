"""Settled funding derived from minute history, on small hand-made frames."""

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.core.columns import BITFINEX, FUNDING, GATE
from pipelines.core.units import apr
from pipelines.core.window import Window
from pipelines.load.minutes import settlements
from pipelines.transform.features import FeeParams, PairParams, window_features
from pipelines.transform.legs import LegParams
from pipelines.transform.quality import QualityParams


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


# -- Gate's forecast per era (tardis-data.md: before 2022-08-08 the indicative is the next period's) --


def gate_rows(rows):
    """(ts, funding_rate, indicative) triples -> Gate minute rows."""
    return minutes([(ts, rate, indicative, None) for ts, rate, indicative in rows])


def by_time(out, column):
    return dict(zip(out["funding_time"].dt.strftime("%m-%d %H:%M"), out[column], strict=True))


def test_gate_before_2022_08_08_the_forecast_of_t_is_the_indicative_one_period_earlier():
    frame = gate_rows(
        [
            ("2021-03-01T07:59", 0.0001, 0.00029),  # settles 08:00; indicative forecasts 16:00
            ("2021-03-01T15:59", 0.0003, 0.00052),  # settles 16:00; indicative forecasts 00:00
            ("2021-03-01T23:59", 0.0005, 0.0002),  # settles 00:00; indicative forecasts 08:00
            ("2021-03-02T07:59", 0.00021, 0.0001),
        ]
    )
    out = settlements(frame, GATE, "BTC_USDT", 8)
    assert by_time(out, "rate") == {
        "03-01 08:00": 0.0001,
        "03-01 16:00": 0.0003,
        "03-02 00:00": 0.0005,
        "03-02 08:00": 0.00021,
    }
    predicted = by_time(out, "predicted_rate")
    assert math.isnan(predicted.pop("03-01 08:00"))  # its forecast was made before 00:00: no data
    assert predicted == {"03-01 16:00": 0.00029, "03-02 00:00": 0.00052, "03-02 08:00": 0.0002}


def test_gate_forecast_across_the_cut_over_compares_each_settlement_with_its_own_forecast():
    # Old-era indicatives differ from their rates, so each settlement shows which row forecast it;
    # from the cut-over Gate sends one value in both fields.
    frame = gate_rows(
        [
            ("2022-08-07T07:59", 0.00010, 0.00011),  # old era: forecasts 08-07 16:00
            ("2022-08-07T15:59", 0.00012, 0.00013),  # old era: forecasts 08-08 00:00
            ("2022-08-07T23:59", 0.00014, 0.00015),  # old era: forecasts 08-08 08:00, superseded below
            ("2022-08-08T07:59", 0.00016, 0.00016),  # new era: forecasts 08-08 08:00 itself
            ("2022-08-08T15:59", 0.00018, 0.00018),  # new era: forecasts 08-08 16:00
        ]
    )
    out = settlements(frame, GATE, "BTC_USDT", 8)
    predicted = by_time(out, "predicted_rate")
    assert math.isnan(predicted.pop("08-07 08:00"))  # forecast before 00:00: no data
    assert predicted == {
        "08-07 16:00": 0.00011,
        "08-08 00:00": 0.00013,
        "08-08 08:00": 0.00016,
        "08-08 16:00": 0.00018,
    }
    ends = pd.date_range("2022-08-07T16:00Z", "2022-08-08T16:00Z", freq="8h")
    windows = [Window(e.to_pydatetime() - timedelta(hours=8), e.to_pydatetime()) for e in ends]
    feats = window_features(
        pd.DataFrame(columns=["exchange", "symbol", "ts", "mark_price", "index_price"]),
        out,
        PairParams(
            "BTC", (LegParams(GATE, "BTC_USDT", "Gate", 8.0), LegParams(BITFINEX, "BTCF0:USTF0", "Bitfinex"))
        ),
        FeeParams(0.0005, 0.00065, 21),
        QualityParams(),
        windows,
    )
    # settled - its forecast: 0.00012 - 0.00011, 0.00014 - 0.00013; in the new era the prediction
    # is the settled rate itself (0 by construction), so no error is given
    assert feats["a_predicted"].tolist() == pytest.approx([0.00011, 0.00013, 0.00016, 0.00018])
    assert feats["a_predicted_kind"].tolist() == ["forecast", "forecast", "settled", "settled"]
    errors = feats["a_forecast_error"].tolist()
    assert errors[:2] == pytest.approx([1e-5, 1e-5], abs=1e-12) and np.isnan(errors[2:]).all()


def test_gate_fields_that_still_differ_after_the_cut_over_day_are_read_the_old_way():
    frame = gate_rows(
        [
            ("2022-08-08T07:59", 0.00016, 0.00021),  # the change came later that day
            ("2022-08-08T15:59", 0.00018, 0.00023),
            ("2022-08-08T23:59", 0.00020, 0.00020),  # changed: one value in both fields
        ]
    )
    predicted = by_time(settlements(frame, GATE, "BTC_USDT", 8), "predicted_rate")
    assert predicted["08-08 16:00"] == 0.00021  # forecast at 07:59 for the next period
    assert predicted["08-09 00:00"] == 0.00020


def test_gate_forecast_with_a_shorter_interval_in_the_old_era_looks_one_interval_back():
    frame = gate_rows([(f"2021-03-01T{h:02d}:59", h / 1e5, h / 1e5 + 1e-6) for h in range(0, 9)])
    out = settlements(frame, GATE, "DOGE_USDT", 4)
    # settlement at 08:00 (rate from 07:59) was forecast before 04:00 (indicative at 03:59)
    assert by_time(out, "predicted_rate")["03-01 08:00"] == pytest.approx(3e-5 + 1e-6)


# -- Bitfinex: the first minute after T may still show the old period --


def test_bitfinex_takes_the_first_minute_that_rolled_past_t():
    frame = minutes(
        [
            ("2024-03-01T07:59", 0.00005, 0.00013, "2024-03-01T08:00"),
            ("2024-03-01T08:00", 0.00005, 0.00013, "2024-03-01T08:00"),  # not rolled yet: stale rate
            ("2024-03-01T08:01", 0.00005, 0.00013, "2024-03-01T08:00"),
            ("2024-03-01T08:02", 0.00014, 0.0, "2024-03-01T16:00"),  # rolled: the rate applied at 08:00
            ("2024-03-01T08:03", 0.00015, 0.0, "2024-03-01T16:00"),
        ]
    )
    out = settlements(frame, BITFINEX, "BTCF0:USTF0", 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["08:00"]
    assert out["rate"].tolist() == [0.00014]
    assert out["predicted_rate"].tolist() == [0.00013]


def test_bitfinex_without_a_rollover_within_the_margin_has_no_settlement():
    frame = minutes(
        [("2024-03-01T07:59", 0.00005, 0.00013, "2024-03-01T08:00")]
        + [(f"2024-03-01T08:{m:02d}", 0.00005, 0.00013, "2024-03-01T08:00") for m in range(0, 31)]
        + [("2024-03-01T08:31", 0.00014, 0.0, "2024-03-01T16:00")]  # rolled, but 31 minutes late
    )
    assert settlements(frame, BITFINEX, "BTCF0:USTF0", 8).empty
