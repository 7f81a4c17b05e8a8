"""Gate's settlement rule (pipelines/venues/gate/settle.py) on hand-built minute frames.

Each frame is built from a schedule of funding periods chosen here: in the current era the published
rate is the running average of the period's minute rates (restarting at every settlement), before
2022-08-08 08:00 a rate fixed per period. Expected times and intervals are the schedule's.
"""

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.core.columns import FUNDING, GATE
from pipelines.load.minutes import settlements
from pipelines.venues.gate import settle as gate_settle

H = pd.Timedelta(hours=1)


def running(start: str, ends: list[str]) -> pd.DataFrame:
    """Minutes from `start` to the last of `ends`; periods end at `ends`. Minute j of the range has
    its own rate 1e-4 + 1e-4 * sin(1.3 j); the published rate averages the period's minutes so far."""
    edges = [pd.Timestamp(start)] + [pd.Timestamp(e) for e in ends]
    rows = []
    for opened, closed in zip(edges, edges[1:], strict=False):
        minutes = pd.date_range(opened, closed - pd.Timedelta(minutes=1), freq="min")
        j = (minutes - edges[0]) // pd.Timedelta(minutes=1)
        own = 1e-4 + 1e-4 * np.sin(1.3 * np.asarray(j))
        average = np.round(np.cumsum(own) / np.arange(1, len(own) + 1), 6)
        rows.append(pd.DataFrame({"ts": minutes, "funding_rate": average}))
    frame = pd.concat(rows, ignore_index=True)
    return frame.assign(predicted_funding_rate=frame["funding_rate"], funding_timestamp=pd.NaT)


def every(start: str, hours: float, count: int) -> list[str]:
    return [str(pd.Timestamp(start) + k * hours * H) for k in range(1, count + 1)]


def settled_at(frame: pd.DataFrame, t: pd.Timestamp) -> float:
    return frame.loc[frame["ts"] == t - pd.Timedelta(minutes=1), "funding_rate"].item()


def by_time(out: pd.DataFrame) -> dict:
    return {t.strftime("%d %H:%M"): row for t, row in zip(out["funding_time"], out.itertuples(), strict=True)}


def test_a_4h_contract_configured_8h_settles_every_4h_with_a_warning():
    frame = running("2024-03-01T00:00Z", every("2024-03-01T00:00Z", 4, 9))  # to 03-02 12:00
    out = settlements(frame, GATE, "DOGE_USDT", 8)
    assert list(out.columns) == list(FUNDING)
    rows = by_time(out)
    # 04:00 has no earlier settlement in the minutes; the rest are the 4 h schedule, from the data.
    # 12:00 ends the minutes: nothing shows its reset, and it is off the configured grid
    assert list(rows) == [f"{d} {h:02d}:00" for d in ("01", "02") for h in range(0, 24, 4)][1:-3]
    assert rows["01 04:00"].evidence == "hint" and "no earlier settlement" in rows["01 04:00"].warning
    for key, row in list(rows.items())[1:]:
        assert (row.evidence, row.interval_hours) == ("data", 4.0), key
        assert (
            row.warning
            == f"Gate DOGE_USDT 2024-03-{key[:2]} {key[3:]}: interval 8 h configured, data shows 4 h"
        )
        assert row.apr == pytest.approx(row.rate * 2190)
        assert row.rate == settled_at(frame, row.funding_time)
    # the window (08:00, 16:00] holds both 4 h settlements, as the venue paid them
    assert rows["01 12:00"].rate + rows["01 16:00"].rate == pytest.approx(
        settled_at(frame, pd.Timestamp("2024-03-01T12:00Z"))
        + settled_at(frame, pd.Timestamp("2024-03-01T16:00Z"))
    )


def test_an_8h_contract_configured_4h_has_no_mid_period_settlements():
    frame = running("2024-03-01T00:00Z", every("2024-03-01T00:00Z", 8, 5))  # to 03-02 16:00
    out = settlements(frame, GATE, "BTC_USDT", 4)
    rows = by_time(out)
    assert list(rows) == ["01 08:00", "01 16:00", "02 00:00", "02 08:00", "02 16:00"]
    assert rows["01 08:00"].evidence == "hint"  # nothing earlier; 04:00 shows no settlement, so 8 h
    assert rows["01 08:00"].interval_hours == 8
    for key in ("01 16:00", "02 00:00", "02 08:00"):
        row = rows[key]
        assert (row.evidence, row.interval_hours) == ("data", 8.0)
        assert "interval 4 h configured, data shows 8 h" in row.warning


def test_a_switch_from_8h_to_4h_is_followed_with_no_configuration_change():
    ends = every("2024-03-01T00:00Z", 8, 3) + every("2024-03-02T00:00Z", 4, 6)  # 4 h from 03-02 00:00
    out = settlements(running("2024-03-01T00:00Z", ends), GATE, "SOL_USDT", 8)
    data = out[out["evidence"] == "data"]
    got = dict(zip(data["funding_time"].dt.strftime("%d %H"), data["interval_hours"], strict=True))
    assert got == {"01 16": 8, "02 00": 8, "02 04": 4, "02 08": 4, "02 12": 4, "02 16": 4, "02 20": 4}
    assert data.loc[data["interval_hours"] == 8, "warning"].isna().all()


def test_a_flat_rate_settles_on_the_configured_grid_as_a_hint():
    minutes = pd.date_range("2024-03-01T00:00Z", "2024-03-01T23:59Z", freq="min")
    frame = pd.DataFrame({"ts": minutes, "funding_rate": 0.0001, "predicted_funding_rate": 0.0001})
    out = settlements(frame.assign(funding_timestamp=pd.NaT), GATE, "BTC_USDT", 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["08:00", "16:00", "00:00"]
    assert set(out["evidence"]) == {"hint"} and out["rate"].tolist() == [0.0001] * 3
    assert out["warning"].iloc[1] == (
        "Gate BTC_USDT 2024-03-01 16:00: interval 8 h configured, "
        "the minutes around it show no reset of the rate (flat or missing)"
    )


def test_before_the_cut_over_a_fixed_rate_changes_at_settlements_only():
    minutes = pd.date_range("2021-03-01T00:00Z", "2021-03-01T23:59Z", freq="min")
    fixed = np.array([0.0001, 0.0003, 0.0003])[minutes.hour // 8]  # equal rates at 16:00
    frame = pd.DataFrame({"ts": minutes, "funding_rate": fixed, "predicted_funding_rate": fixed + 1e-6})
    out = settlements(frame.assign(funding_timestamp=pd.NaT), GATE, "BTC_USDT", 8)
    rows = by_time(out)
    assert list(rows) == ["01 08:00", "01 16:00", "02 00:00"]
    assert rows["01 08:00"].rate == 0.0001 and rows["01 16:00"].rate == 0.0003
    # the change at 08:00 shows a settlement; an unchanged fixed rate can neither show nor rule one out
    assert rows["01 16:00"].evidence == "hint" and rows["01 16:00"].interval_hours == 8
    states = gate_settle.hour_states(frame).set_index("funding_time")
    assert states.loc[pd.Timestamp("2021-03-01T08:00Z"), "state"] == gate_settle.RESET
    assert not states["none"].any()


def test_hour_states_tell_a_reset_from_the_middle_of_a_period():
    frame = running("2024-03-01T00:00Z", every("2024-03-01T00:00Z", 8, 2))
    states = gate_settle.hour_states(frame).set_index("funding_time")
    assert states.loc[pd.Timestamp("2024-03-01T08:00Z"), "state"] == gate_settle.RESET
    middle = states.loc[pd.Timestamp("2024-03-01T09:00Z") : pd.Timestamp("2024-03-01T15:00Z")]
    assert set(middle["state"]) == {gate_settle.QUIET} and middle["none"].all()
    assert states.loc[pd.Timestamp("2024-03-01T16:00Z"), "state"] == gate_settle.UNKNOWN  # no minute after


def test_a_gap_around_a_funding_time_leaves_it_to_the_hint():
    frame = running("2024-03-01T00:00Z", every("2024-03-01T00:00Z", 8, 4))
    gap = (frame["ts"] >= "2024-03-01T15:20Z") & (frame["ts"] < "2024-03-01T16:40Z")
    out = settlements(frame[~gap], GATE, "BTC_USDT", 8)
    rows = by_time(out)
    assert "01 16:00" not in rows  # no rate within MAX_GAP before it
    assert rows["02 00:00"].evidence == "hint" and "does not confirm" in rows["02 00:00"].warning
    assert math.isclose(rows["02 00:00"].interval_hours, 8)  # from the configured grid time 16:00
