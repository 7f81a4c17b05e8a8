"""Every window formula on small hand-computed frames, plus hypothesis invariants (alignment, z-scores)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.features_hash import add_features_hash
from pipelines.core.window import Window, funding_window, windows_between
from pipelines.core.window_columns import IDENTITY, KIND_COLUMNS, WINDOW_COLUMNS, WINDOW_FEATURES, Z_COLUMNS
from pipelines.transform.features import (
    FeeParams,
    PairParams,
    QualityParams,
    window_features,
)
from pipelines.transform.legs import LegParams, infer_interval_hours
from pipelines.transform.scoring import (
    add_zscores,
    flag_windows,
    scale_floor,
)

T0 = pd.Timestamp("2024-03-01T00:00:00Z")
H = pd.Timedelta(hours=1)
WIN = Window(T0.to_pydatetime(), (T0 + 8 * H).to_pydatetime())


def pair_params(gate_hours=8.0, window_hours=8.0):
    """BTC as Gate (configured `gate_hours`) vs Bitfinex (interval from the data), `window_hours` long."""
    legs = (LegParams(GATE, "BTC_USDT", "Gate", gate_hours), LegParams(BITFINEX, "BTCF0:USTF0", "Bitfinex"))
    return PairParams("BTC", legs, window_hours)


PAIR = pair_params()
FEES = FeeParams(a_taker=0.0005, b_taker=0.00065, holding_periods=21)
QUALITY = QualityParams(min_coverage=0.9, stale_minutes=60)
ROUND_TRIP = 2 * (0.0005 + 0.00065)  # 0.0023
FEES_APR = ROUND_TRIP * 1095 / 21  # 8-hour windows: 1095 per year


def side(exchange, minutes, mark=100.0, index=None):
    """Minute rows of one side at the given minute offsets from T0 (mark/index scalars or lists)."""
    n = len(minutes)
    mark = mark if isinstance(mark, list) else [mark + 0.01 * i for i in range(n)]  # moving, never stale
    index = index if isinstance(index, list) else [m - 0.5 for m in mark] if index is None else [index] * n
    symbol = PAIR.legs[0].symbol if exchange == GATE else PAIR.legs[1].symbol
    return pd.DataFrame(
        {
            "exchange": exchange,
            "symbol": symbol,
            "ts": [T0 + pd.Timedelta(minutes=m) for m in minutes],
            "mark_price": mark,
            "index_price": index,
        }
    )


def full_minutes(start=0, end=480):
    return pd.concat([side(GATE, range(start, end)), side(BITFINEX, range(start, end))], ignore_index=True)


def settle(exchange, hours, rate, predicted=None, interval=8.0):
    """Funding rows at T0 + h for each h in `hours` (a settlement every `interval` hours before T0 too)."""
    symbol = PAIR.legs[0].symbol if exchange == GATE else PAIR.legs[1].symbol
    return pd.DataFrame(
        {
            "exchange": exchange,
            "symbol": symbol,
            "funding_time": [T0 + h * H for h in hours],
            "rate": rate,
            "predicted_rate": predicted,
            "interval_hours": interval,
            "apr": np.asarray(rate, dtype=float) * 8760 / interval,
        }
    )


def history(exchange, rate, predicted=None, interval=8.0):
    """Settlements every `interval` hours over the 3 days before T0 + 8 h, the last one `rate`."""
    hours = np.arange(-72 + interval, 8 + 1e-9, interval)
    rates = [0.0001] * (len(hours) - 1) + [rate]
    return settle(exchange, hours, rates, [None] * (len(hours) - 1) + [predicted], interval)


def features(minutes=None, funding=None, pair=PAIR, windows=(WIN,), quality=QUALITY, fees=FEES):
    minutes = full_minutes() if minutes is None else minutes
    funding = pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.0001)]) if funding is None else funding
    return window_features(minutes, funding, pair, fees, quality, list(windows))


def one(a_rate, bfx_rate, **kw):
    funding = pd.concat([history(GATE, a_rate, kw.pop("gate_pred", None)), history(BITFINEX, bfx_rate)])
    return features(funding=funding, **kw).iloc[0]


# -- funding --


def test_funding_formulas_with_fees():
    row = one(0.0001, -0.00005, gate_pred=0.00008)
    assert row["a_apr"] == pytest.approx(0.0001 * 8760 / 8)  # 10.95 %
    assert row["b_apr"] == pytest.approx(-0.05475)
    assert row["funding_diff"] == pytest.approx(0.00015)
    assert row["carry_apr"] == pytest.approx(0.00015 * 1095)  # 16.425 %
    assert row["fees_apr"] == pytest.approx(FEES_APR)  # 11.99 %
    assert row["net_carry_apr"] == pytest.approx(0.16425 - 0.0023 * 1095 / 21)  # 4.43 %
    assert row["break_even_periods"] == pytest.approx(0.0023 / 0.00015)  # 15.33 settlements
    assert (row["long_side"], row["short_side"]) == ("b", "a")
    assert row["a_predicted"] == pytest.approx(0.00008)
    assert row["a_forecast_error"] == pytest.approx(0.00002)
    assert math.isnan(row["b_predicted"]) and math.isnan(row["b_forecast_error"])
    assert row["complete"] and row["a_settled"] == row["b_settled"] == 1
    assert (row["a_exchange"], row["a_symbol"], row["b_exchange"], row["b_symbol"], row["window_hours"]) == (
        GATE,
        "BTC_USDT",
        BITFINEX,
        "BTCF0:USTF0",
        8.0,
    )


def test_negative_rates_long_the_lower_side():
    row = one(-0.0003, -0.0001)
    assert row["funding_diff"] == pytest.approx(-0.0002)
    assert row["carry_apr"] == pytest.approx(-0.219)
    assert row["net_carry_apr"] == pytest.approx(0.219 - FEES_APR)  # |carry| minus fees
    assert row["break_even_periods"] == pytest.approx(11.5)
    assert (row["long_side"], row["short_side"]) == ("a", "b")


def test_zero_rates_have_no_side_and_no_break_even():
    row = one(0.0, 0.0)
    assert row["funding_diff"] == 0 and row["carry_apr"] == 0
    assert row["net_carry_apr"] == pytest.approx(-FEES_APR)
    assert math.isnan(row["break_even_periods"])
    assert row["long_side"] is None and row["short_side"] is None


def test_zero_fees_make_net_carry_the_absolute_carry():
    row = one(0.0002, 0.0001, fees=FeeParams(0, 0, 21))
    assert row["net_carry_apr"] == pytest.approx(0.1095) and row["break_even_periods"] == 0


def test_a_shorter_leg_sums_its_settlements_in_the_window():
    pair = pair_params(gate_hours=4.0, window_hours=8.0)
    gate = settle(GATE, np.arange(-68, 9, 4), [0.0001] * 18 + [0.0003, 0.0001], interval=4.0)  # 04:00, 08:00
    bfx = history(BITFINEX, 0.0001)
    row = features(funding=pd.concat([gate, bfx]), pair=pair).iloc[0]
    assert row["a_rate"] == pytest.approx(0.0004)  # 04:00 + 08:00: the funding actually paid
    assert row["a_settled"] == 2 and row["a_interval_hours"] == 4
    assert row["a_apr"] == pytest.approx(0.0004 * 8760 / 8)  # per window of 8 hours
    assert row["b_apr"] == pytest.approx(0.1095)
    assert row["funding_diff"] == pytest.approx(0.0003)
    assert row["carry_apr"] == pytest.approx(0.0003 * 1095)
    assert row["fees_apr"] == pytest.approx(FEES_APR)
    assert row["a_interval_inferred_hours"] == 4 and row["warnings"] == [] and row["complete"]


def test_a_shorter_leg_missing_one_settlement_leaves_the_window_incomplete():
    pair = pair_params(gate_hours=4.0, window_hours=8.0)
    gate = settle(GATE, [*np.arange(-68, 1, 4), 8], 0.0001, interval=4.0)  # 04:00 missing
    row = features(funding=pd.concat([gate, history(BITFINEX, 0.0001)]), pair=pair).iloc[0]
    assert row["a_settled"] == 1 and row["a_rate"] == pytest.approx(0.0001)
    assert not row["complete"] and "Gate settlements cover 4 of 8 h" in row["warnings"]


def test_a_data_interval_change_is_a_warning_only_where_the_data_gives_it():
    eight = settle(BITFINEX, np.arange(-64, -7, 8), 0.0001, interval=8.0)
    four = settle(BITFINEX, np.arange(-4, 9, 4), 0.0001, interval=4.0)  # 8 h -> 4 h at T0 - 8 h
    row = features(funding=pd.concat([history(GATE, 0.0001), eight, four])).iloc[0]
    assert row["b_settled"] == 2 and row["b_rate"] == pytest.approx(0.0002) and row["b_interval_hours"] == 4
    assert "Bitfinex funding interval changed to 4 h" in row["warnings"]
    assert not any("configured" in w for w in row["warnings"])  # Bitfinex's interval is not configured


def test_missing_settlement_leaves_funding_empty_and_window_incomplete():
    funding = pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.0001).iloc[:-1]])
    row = features(funding=funding).iloc[0]
    assert not row["b_settled"] and row["a_settled"]
    assert math.isnan(row["b_rate"]) and math.isnan(row["funding_diff"]) and math.isnan(row["carry_apr"])
    assert math.isnan(row["net_carry_apr"]) and row["long_side"] is None
    assert not row["complete"]
    assert "Bitfinex settlement missing" in row["warnings"]


def test_settlement_is_the_latest_in_start_exclusive_end_inclusive():
    funding = pd.concat([settle(GATE, [0, 8], [0.5, 0.0002]), settle(BITFINEX, [0, 8], [0.5, 0.0001])])
    row = features(funding=funding).iloc[0]
    assert row["a_rate"] == 0.0002  # 00:00 belongs to the previous window
    no_end = pd.concat([settle(GATE, [0], [0.5]), settle(BITFINEX, [8], [0.0001])])
    assert not features(funding=no_end).iloc[0]["a_settled"]


# -- prices --


def test_mark_spread_aligned_by_minute():
    gate = side(GATE, [0, 1, 2, 3], mark=[101.0, 102.0, 100.0, 999.0])  # minute 3: no Bitfinex mark
    bfx = side(BITFINEX, [0, 1, 2, 4], mark=[100.0, 100.0, 100.0, 1.0])  # minute 4: no Gate mark
    row = features(minutes=pd.concat([gate, bfx])).iloc[0]
    assert row["mark_spread_mean_bps"] == pytest.approx(100.0)  # 100, 200, 0 bps
    assert row["mark_spread_min_bps"] == pytest.approx(0.0)
    assert row["mark_spread_max_bps"] == pytest.approx(200.0)
    assert row["mark_spread_last_bps"] == pytest.approx(0.0)
    assert row["aligned_minutes"] == 3


def test_basis_per_exchange_bitfinex_against_spot_mid():
    gate = side(GATE, [0, 1], mark=[101.0, 100.0], index=[100.0, 100.0])  # 100 bps, 0 bps
    bfx = side(BITFINEX, [0, 1], mark=[100.0, 100.0], index=[99.5, 100.5])  # spot mid
    row = features(minutes=pd.concat([gate, bfx])).iloc[0]
    assert row["a_basis_mean_bps"] == pytest.approx(50.0)
    assert row["a_basis_last_bps"] == pytest.approx(0.0)
    expected = [(100 - 99.5) / 99.5 * 1e4, (100 - 100.5) / 100.5 * 1e4]
    assert row["b_basis_mean_bps"] == pytest.approx(sum(expected) / 2)
    assert row["b_basis_last_bps"] == pytest.approx(expected[1])


def test_no_minutes_no_prices():
    row = features(minutes=full_minutes(0, 0)).iloc[0]
    assert math.isnan(row["mark_spread_mean_bps"]) and math.isnan(row["a_basis_mean_bps"])
    assert row["a_minutes"] == 0 and row["a_longest_gap_minutes"] == 480 and not row["complete"]


# -- data quality --


def test_gap_on_one_side():
    kept = [m for m in range(480) if not 100 <= m < 220]  # 120 minutes missing on Bitfinex
    minutes = pd.concat([side(GATE, range(480)), side(BITFINEX, kept)])
    funding = pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.0001)])
    row = features(minutes=minutes, funding=funding).iloc[0]
    assert (row["expected_minutes"], row["a_minutes"], row["b_minutes"]) == (480, 480, 360)
    assert row["aligned_minutes"] == 360
    assert (row["a_longest_gap_minutes"], row["b_longest_gap_minutes"]) == (0, 120)
    assert not row["complete"]  # 75 % < 90 %
    assert "Bitfinex coverage 75% < 90%" in row["warnings"]
    assert "Bitfinex gap 120 min" in row["warnings"]


def test_gaps_at_the_window_edges():
    minutes = pd.concat([side(GATE, range(10, 470)), side(BITFINEX, range(480))])
    row = features(minutes=minutes).iloc[0]
    assert row["a_longest_gap_minutes"] == 10  # 10 leading, 10 trailing
    minutes = pd.concat([side(GATE, range(0, 455)), side(BITFINEX, range(480))])
    assert features(minutes=minutes).iloc[0]["a_longest_gap_minutes"] == 25


def test_coverage_threshold_is_inclusive():
    minutes = pd.concat([side(GATE, range(432)), side(BITFINEX, range(480))])  # 432 / 480 = 90 %
    funding = pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.0001)])
    assert features(minutes=minutes, funding=funding).iloc[0]["complete"]


def test_stale_series_spans_gaps():
    marks = [100.0] * 50 + [100.0] * 25 + [101.0 + 0.01 * i for i in range(405)]
    minutes = list(range(50)) + list(range(55, 80)) + list(range(80, 485))[:405]  # gap 50..54
    gate = side(GATE, minutes, mark=marks, index=[m - 1 for m in marks])
    row = features(minutes=pd.concat([gate, side(BITFINEX, range(480))])).iloc[0]
    assert row["a_unchanged_minutes"] == 80  # minute 0 through 79, the gap included
    assert "Gate mark unchanged 80 min" in row["warnings"]
    assert "Gate index unchanged 80 min" in row["warnings"]
    assert row["b_unchanged_minutes"] == 1


def test_minute_on_the_settlement_belongs_to_the_next_window():
    windows = windows_between(T0.to_pydatetime(), (T0 + 16 * H).to_pydatetime(), 8)
    minutes = pd.concat([side(GATE, [479, 480]), side(BITFINEX, [479, 480])])
    df = features(minutes=minutes, windows=windows)
    assert df["a_minutes"].tolist() == [1, 1]


def test_infer_interval_hours():
    times = [T0 + h * H for h in (0, 8, 16, 24, 32)]
    assert infer_interval_hours(times) == 8
    assert infer_interval_hours(times[:2] + times[3:]) == 8  # one missing settlement
    assert infer_interval_hours([T0, T0 + 4 * H, T0 + 8 * H, T0 + 4 * H]) == 4  # duplicates ignored
    assert math.isnan(infer_interval_hours(times[:1])) and math.isnan(infer_interval_hours([]))


def test_interval_mismatch_is_a_warning():
    hours = [*np.arange(-68, 0, 4), 8]  # settles every 4 h before the window, configured 8 h
    gate = settle(GATE, hours, 0.0001, interval=8.0)
    row = features(funding=pd.concat([gate, history(BITFINEX, 0.0001)])).iloc[0]
    assert row["a_interval_inferred_hours"] == 4
    assert "Gate settles every 4 h, configured 8 h" in row["warnings"]
    assert row["complete"]  # a warning, not a reason to drop the window


def test_output_columns_and_inputs_untouched():
    minutes, funding = full_minutes(), pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.0)])
    before = (minutes.copy(), funding.copy())
    df = features(minutes=minutes, funding=funding)
    pd.testing.assert_frame_equal(minutes, before[0])
    pd.testing.assert_frame_equal(funding, before[1])
    assert list(df.columns) == [
        "pair",
        "window_start",
        "window_end",
        *IDENTITY,
        *WINDOW_FEATURES,
        *KIND_COLUMNS,
        "complete",
        "warnings",
    ]
    assert set(WINDOW_COLUMNS) == set(df.columns) | set(Z_COLUMNS) | {"flagged", "reasons", "features_hash"}


# -- z-scores and flags --


def frame(values, complete=None, ends=None):
    ends = ends if ends is not None else range(1, len(values) + 1)
    return pd.DataFrame(
        {
            "pair": "BTC",
            "window_start": [T0 + (e - 1) * 8 * H for e in ends],
            "window_end": [T0 + e * 8 * H for e in ends],
            "funding_diff": values,
            "net_carry_apr": 0.0,
            "complete": [True] * len(values) if complete is None else complete,
        }
    )


def test_zscore_uses_past_windows_only():
    z = add_zscores(frame([1.0, 2.0, 3.0, 10.0]), ["funding_diff"], lookback=3, min_periods=2)[
        "z_funding_diff"
    ]
    assert math.isnan(z[0]) and math.isnan(z[1])  # fewer than 2 past values
    assert z[2] == pytest.approx((3 - 1.5) / math.sqrt(0.5))  # past 1, 2: sample std
    assert z[3] == pytest.approx((10 - 2) / 1.0)  # past 1, 2, 3
    z = add_zscores(frame([1.0, 2.0, 3.0, 10.0, 0.0]), ["funding_diff"], lookback=3, min_periods=2)
    assert z["z_funding_diff"][4] == pytest.approx((0 - 5) / np.std([2, 3, 10], ddof=1))  # 1 left the window


def test_zscore_skips_incomplete_and_missing_windows():
    z = add_zscores(frame([1.0, 99.0, 3.0, 10.0], complete=[True, False, True, True]), ["funding_diff"], 3, 2)
    assert math.isnan(z["z_funding_diff"][1])  # incomplete: no z-score
    assert z["z_funding_diff"][3] == pytest.approx((10 - 2) / math.sqrt(2))  # past 1, 3
    gap = add_zscores(frame([1.0, 3.0, 10.0], ends=[1, 3, 4]), ["funding_diff"], 3, 2)  # window 2 absent
    assert gap["z_funding_diff"][2] == pytest.approx((10 - 2) / math.sqrt(2))
    assert math.isnan(
        add_zscores(frame([1.0, 5.0], ends=[1, 5]), ["funding_diff"], 3, 1)["z_funding_diff"][1]
    )


def test_zscore_of_a_flat_past_divides_by_the_scale_floor_and_needs_known_features():
    z = add_zscores(frame([0.1, 0.1, 0.1, 0.2]), ["funding_diff"], 3, 2)["z_funding_diff"]
    floor = 0.05 * 8 / 8760  # 5 % APR as a rate per 8-hour window
    assert z[2] == 0.0
    assert z[3] == pytest.approx(0.1 / floor)  # flat past: std 0, the floor is the scale
    assert add_zscores(frame([1.0, 2.0]), [], 3, 2)[list(Z_COLUMNS)].isna().all().all()
    with pytest.raises(ValueError, match="cannot z-score 'pair'"):
        add_zscores(frame([1.0]), ["pair"], 3, 2)


def bitfinex_series(rates, interval=8.0):
    """Complete 8-hour windows whose Bitfinex settled rate is `rates` (fraction per `interval` hours)."""
    return frame([0.0] * len(rates)).assign(b_rate=rates, b_interval_hours=interval)


def bitfinex_z(rates, interval=8.0):
    scored = add_zscores(bitfinex_series(rates, interval), ["b_rate"], lookback=90, min_periods=10)
    return flag_windows(
        scored, threshold=2.5, net_carry_apr_floor=0.25, labels={"a": "Gate", "b": "Bitfinex"}
    )


def test_a_small_move_in_a_mostly_zero_series_is_not_extreme():
    # Bitfinex funding sits at exactly 0 for days, with a rare tiny print (sample data reached z=138).
    past = [0.0] * 18 + [1e-6, 1e-6]
    out = bitfinex_z([*past, 0.00003])  # 0.3 bp per 8 h (3.3 % APR): an ordinary wiggle
    floor = 0.05 * 8 / 8760
    assert np.std(past, ddof=1) < floor
    assert out["z_b_rate"].iloc[-1] == pytest.approx((0.00003 - np.mean(past)) / floor)
    assert not out["flagged"].iloc[-1]


def test_a_large_move_in_a_mostly_zero_series_is_still_flagged():
    past = [0.0] * 18 + [1e-6, 1e-6]
    out = bitfinex_z([*past, 0.0005])  # 5 bp per 8 h (55 % APR)
    z = (0.0005 - np.mean(past)) / (0.05 * 8 / 8760)
    assert out["z_b_rate"].iloc[-1] == pytest.approx(z)
    assert out["flagged"].iloc[-1] and out["reasons"].iloc[-1] == [f"Bitfinex funding z={z:.1f}"]
    flat = bitfinex_z([0.0] * 20 + [0.0005])  # an all-zero past used to give no z-score at all
    assert flat["flagged"].iloc[-1]


def test_scale_floor_follows_each_feature_units_and_the_window():
    windows = bitfinex_series([0.0], interval=1.0)
    assert scale_floor(windows, "b_rate") == pytest.approx([0.05 * 8 / 8760])  # summed: a rate per window
    assert scale_floor(windows, "a_forecast_error") == pytest.approx([0.05 * 8 / 8760])
    assert scale_floor(windows, "carry_apr") == pytest.approx([0.05])
    assert scale_floor(windows, "mark_spread_mean_bps") == pytest.approx([1.0])


def flagged(**values):
    df = pd.DataFrame([{"complete": True, "net_carry_apr": 0.0, **values}])
    return flag_windows(df, threshold=2.5, net_carry_apr_floor=0.25).iloc[0]


def test_flag_reasons_in_words():
    row = flagged(z_funding_diff=3.14, z_mark_spread_mean_bps=-2.5, z_a_rate=2.49, net_carry_apr=0.4149)
    assert row["flagged"]
    assert row["reasons"] == ["funding diff z=3.1", "mark spread z=-2.5", "net carry 41% APR"]
    assert not flagged(z_funding_diff=2.4, net_carry_apr=0.2499)["flagged"]
    assert flagged(z_funding_diff=float("nan"), net_carry_apr=0.25)["reasons"] == ["net carry 25% APR"]


def test_incomplete_windows_are_never_flagged():
    row = flagged(z_funding_diff=9.0, net_carry_apr=1.0, complete=False)
    assert not row["flagged"] and row["reasons"] == []


def test_net_carry_floor_can_be_disabled():
    df = pd.DataFrame([{"complete": True, "net_carry_apr": 5.0, "z_funding_diff": 1.0}])
    assert not flag_windows(df, 2.5, None)["flagged"][0]


def test_features_hash_ignores_float_noise_only():
    df = features(funding=pd.concat([history(GATE, 0.0001), history(BITFINEX, 0.00005)]))
    base = add_features_hash(df)["features_hash"][0]
    noisy = add_features_hash(df.assign(funding_diff=df["funding_diff"] * (1 + 1e-14)))["features_hash"][0]
    moved = add_features_hash(df.assign(funding_diff=df["funding_diff"] * 1.001))["features_hash"][0]
    assert base == noisy != moved and len(base) == 64


# -- hypothesis invariants --

finite = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 6)),
    st.sampled_from([0.0, 1e-6, -2e-5]),  # near-flat series, where the scale floor decides
)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=60),
    extra=st.lists(finite, min_size=1, max_size=30),
    lookback=st.integers(2, 12),
    min_periods=st.integers(2, 12),
    skipped=st.sets(st.integers(0, 59), max_size=5),
)
def test_appending_future_windows_never_changes_past_zscores(values, extra, lookback, min_periods, skipped):
    min_periods = min(min_periods, lookback)
    n = len(values) + len(extra)
    ends = [e for e in range(1, n + 6) if e - 1 not in skipped][:n]  # some windows absent
    full = frame(values + extra, ends=ends)
    past = add_zscores(full.iloc[: len(values)], ["funding_diff"], lookback, min_periods)
    both = add_zscores(full, ["funding_diff"], lookback, min_periods)
    np.testing.assert_array_equal(past["z_funding_diff"], both["z_funding_diff"][: len(values)])


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.sets(st.integers(0, 3 * 1440 - 1), max_size=200),
    interval=st.sampled_from([1, 4, 8, 12]),
    shift=st.integers(-600, 600),
)
def test_a_window_contains_exactly_its_minutes(offsets, interval, shift):
    ts = [T0 + pd.Timedelta(minutes=m + shift) for m in sorted(offsets)]
    windows = windows_between(T0.to_pydatetime(), (T0 + 72 * H).to_pydatetime(), interval)
    minutes = pd.concat(
        [side(GATE, [m + shift for m in sorted(offsets)]), side(BITFINEX, [])], ignore_index=True
    )
    pair = pair_params(gate_hours=interval, window_hours=interval)
    df = features(minutes=minutes, windows=windows, pair=pair)
    expected = pd.Series([funding_window(t.to_pydatetime(), interval).end for t in ts], dtype=object)
    counts = expected.value_counts()
    for row in df.itertuples():
        assert row.a_minutes == counts.get(row.window_end.to_pydatetime(), 0)
        assert row.window_start <= row.window_end - timedelta(hours=interval)
    assert df["a_minutes"].sum() == sum(T0 <= t < T0 + 72 * H for t in ts)


@settings(max_examples=40, deadline=None)
@given(hours=st.sets(st.integers(-96, 24), max_size=30))
def test_window_interval_inference_matches_infer_interval_hours(hours):
    funding = pd.concat([settle(GATE, sorted(hours), 0.0001), history(BITFINEX, 0.0001)])
    windows = windows_between(T0.to_pydatetime(), (T0 + 24 * H).to_pydatetime(), 8)
    df = features(funding=funding, windows=windows)
    for row in df.itertuples():
        recent = [T0 + h * H for h in hours if row.window_end - 72 * H < T0 + h * H <= row.window_end]
        expected = infer_interval_hours(recent)
        assert row.a_interval_inferred_hours == pytest.approx(expected, nan_ok=True)
