"""The features hash (the LLM cache key): one row hashes as the stored frame hashes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from pipelines.core.features_hash import add_features_hash, features_hash
from pipelines.core.window_columns import WINDOW_COLUMNS, Z_COLUMNS
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)


def test_a_rows_hash_is_the_hash_its_frame_gets():
    rows = sample_windows(("BTC", "ETH"), FIRST_END, 3)
    frame = add_features_hash(pd.DataFrame(rows).drop(columns="features_hash"))
    assert [features_hash(r) for r in rows] == frame["features_hash"].tolist()
    assert [r["features_hash"] for r in rows] == frame["features_hash"].tolist()  # the sample rows use it


def test_bookkeeping_and_status_columns_do_not_move_the_hash():
    [row] = sample_windows(("BTC",), FIRST_END, 1)
    same = {**row, "flagged": 0, "reasons": "[]", "pair": "ETH", "features_hash": "stale"}
    assert features_hash(same) == features_hash(row)
    assert features_hash({**row, "a_rate": row["a_rate"] * 1.01}) != features_hash(row)


def test_missing_numbers_ints_and_bools_hash_as_their_values():
    [row] = sample_windows(("BTC",), FIRST_END, 1)
    assert features_hash({**row, "a_minutes": 480}) == features_hash({**row, "a_minutes": 480.0})
    nan = {**row, "z_funding_diff": float("nan")}
    assert features_hash({**row, "z_funding_diff": None}) == features_hash(nan)
    assert features_hash({**row, "long_side": None}) != features_hash(row)


def test_the_hash_covers_the_stored_features_and_z_scores():
    assert set(Z_COLUMNS) <= set(WINDOW_COLUMNS)
    [row] = sample_windows(("BTC",), FIRST_END, 1)
    for column in (Z_COLUMNS[0], Z_COLUMNS[-1], "net_carry_apr", "b_basis_last_bps"):
        assert features_hash({**row, column: row[column] + 1.0}) != features_hash(row), column


def test_a_prediction_kind_moves_the_hash_only_through_the_forecast_error_it_voids():
    # Rows stored before kinds were recorded keep their hash (and cached verdicts) once the kind is
    # filled in; a kind of "settled" voids the forecast error, and that changes the hash.
    [row] = sample_windows(("BTC",), FIRST_END, 1)
    known = {**row, "a_predicted_kind": "estimate", "b_predicted_kind": "forecast"}
    assert features_hash(known) == features_hash({**row, "a_predicted_kind": None})
    assert features_hash({**known, "a_forecast_error": None}) != features_hash(known)
