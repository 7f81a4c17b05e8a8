"""The triage prompt: ids, the versioned instructions, which columns go out, the batch table."""

from __future__ import annotations

import pandas as pd

from pipelines.analyze.client import estimate_tokens
from pipelines.analyze.prompt import (
    build_messages,
    feature_columns,
    prompt_tokens,
    prompt_version,
    reasons_list,
    system_prompt,
    window_id,
)

ROW = {
    "id": "BTC@2024-03-01T08:00:00Z",
    "funding_diff": 0.000123456,
    "net_carry_apr": 0.25,
    "mark_spread_mean_bps": None,
    "long_side": "b",
    "warnings": '["a|b"]',
    "z_funding_diff": 3.04,
    "z_a_rate": 0.4,
    "reasons": '["funding diff z=3.0"]',
}


def test_a_window_id_is_pair_at_window_end():
    assert window_id("BTC", "2024-03-01T08:00:00Z") == "BTC@2024-03-01T08:00:00Z"


def test_the_prompt_version_follows_the_instructions_and_their_language():
    english = prompt_version("v1", "English")
    assert english == prompt_version("v1", "English") and english.startswith("v1+")
    assert prompt_version("v1", "German") != english
    assert "German" in system_prompt("German") and "LOW|MEDIUM|HIGH" in system_prompt("German")
    assert "HOLD|WATCH|OPEN_ARB" in system_prompt("English")


def test_only_informative_numbers_and_chosen_texts_are_sent():
    frame = pd.DataFrame(
        {
            "pair": ["BTC"],
            "funding_diff": [1e-4],
            "a_apr": [0.1],  # derived from the rate
            "z_funding_diff": [3.0],  # sent in its own cell
            "a_minutes": [480],  # a quality counter
            "gate_interval_hours": [8.0],
            "complete": [True],  # bool
            "net_carry_apr": [0.2],
            "short_side": ["gate"],
            "long_side": ["bitfinex"],
            "warnings": ["[]"],
        }
    )
    assert feature_columns(frame) == ["funding_diff", "net_carry_apr", "long_side", "warnings"]


def test_reasons_are_read_from_json_lists_text_and_missing_values():
    assert reasons_list('["a", "b"]') == ["a", "b"]
    assert reasons_list(["a", 1]) == ["a", "1"]
    assert reasons_list("plain text") == ["plain text"]
    assert reasons_list(None) == [] and reasons_list(float("nan")) == [] and reasons_list("") == []


def test_a_batch_is_one_table_row_per_window_with_zscores_reasons_and_context():
    columns = ["funding_diff", "net_carry_apr", "mark_spread_mean_bps", "long_side", "warnings"]
    previous = [
        {"funding_diff": 0.0001, "net_carry_apr": 0.1},
        {"funding_diff": -0.0002, "net_carry_apr": None},
    ]
    system, user = build_messages([ROW], columns, {ROW["id"]: previous}, "English")
    assert system == {"role": "system", "content": system_prompt("English")}
    lines = user["content"].splitlines()
    assert lines[0] == "windows (1):"
    # mark_spread_mean_bps is empty in every row, so its column is dropped; the context keeps it
    header = "id|funding_diff|net_carry_apr|long_side|warnings|z|reasons"
    assert lines[1] == header + "|prev(funding_diff/net_carry_apr/mark_spread_mean_bps)"
    cells = "BTC@2024-03-01T08:00:00Z|0.000123|0.25|bitfinex|a/b|funding_diff 3.0|funding diff z=3.0"
    assert lines[2] == cells + "|0.0001/0.1/,-0.0002//"


def test_a_gate_bitfinex_batch_reads_as_before_and_a_mixed_batch_names_each_windows_legs():
    columns = ["a_rate", "b_rate", "long_side"]
    gate_bfx = {**ROW, "a_exchange": "gate-io-futures", "b_exchange": "bitfinex-derivatives", "a_rate": 1e-4}
    system, user = build_messages([{**gate_bfx, "b_rate": 2e-4}], columns, {}, "English")
    assert "between Gate.io and Bitfinex USDT perpetuals" in system["content"]
    assert system["content"] == system_prompt("English")  # the versioned text: cached verdicts stay valid
    assert user["content"].splitlines()[1].startswith("id|gate_rate|bitfinex_rate|long_side|z|reasons")
    assert "|0.0001|0.0002|bitfinex|" in user["content"]
    swapped = {**gate_bfx, "id": "X@t", "a_exchange": "bitfinex-derivatives", "b_exchange": "gate-io-futures"}
    system, user = build_messages([gate_bfx, swapped], columns, {}, "English")
    lines = user["content"].splitlines()
    assert lines[1].startswith("id|legs(a/b)|a_rate|long_side|z|reasons")
    assert lines[2].startswith(f"{ROW['id']}|Gate/Bitfinex|0.0001|b|") and lines[3].startswith(
        "X@t|Bitfinex/Gate|"
    )


def test_prompt_tokens_add_up_the_messages():
    messages = [{"role": "system", "content": "one two"}, {"role": "user", "content": "three"}]
    assert prompt_tokens(messages) == estimate_tokens("one two") + estimate_tokens("three")


def test_each_legs_prediction_kind_goes_out_beside_its_forecast_error_only():
    # Gate's prediction is the settled rate (its error NaN, kind "settled"); OKX forecasts.
    row = {
        **ROW,
        "a_exchange": "gate-io-futures",
        "b_exchange": "okex-swap",
        "a_forecast_error": float("nan"),
        "b_forecast_error": 2e-5,
        "a_predicted_kind": "settled",
        "b_predicted_kind": "forecast",
    }
    columns = feature_columns(pd.DataFrame([row]).drop(columns=["id"]))
    assert {"a_predicted_kind", "b_predicted_kind", "b_forecast_error"} <= set(columns)
    system, user = build_messages([row], columns, {}, "English")
    header, cells = user["content"].splitlines()[1:3]
    named = dict(zip(header.split("|"), cells.split("|"), strict=True))
    assert named["okx_forecast_error"] == "2e-05" and named["okx_predicted_kind"] == "forecast"
    assert "gate_predicted_kind" not in named and "gate_forecast_error" not in named
    assert "predicted_kind" in system["content"] and "estimate" in system["content"]
