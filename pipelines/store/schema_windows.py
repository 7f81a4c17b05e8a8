"""The `windows` table: one row per pair and settlement window (`pipelines.store.schema` lists it).

Its own module because it is the widest table (features, z-scores, flags); the schema stays readable.
"""

from __future__ import annotations

WINDOWS: tuple[dict[str, type], tuple[str, ...], set[str]] = (
    {  # columns declared in pipelines.transform.scoring (WINDOW_COLUMNS); rates/APRs are fractions
        "pair": str,
        "window_start": str,
        "window_end": str,  # the settlement time naming the window
        "a_exchange": str,  # leg a (Tardis id, symbol), then leg b, in the pair's order
        "a_symbol": str,
        "b_exchange": str,
        "b_symbol": str,
        "window_hours": float,
        "a_rate": float,  # leg a's settlements in the window, summed
        "b_rate": float,
        "a_interval_hours": float,
        "b_interval_hours": float,
        "a_apr": float,
        "b_apr": float,
        "funding_diff": float,  # a minus b, per window
        "carry_apr": float,
        "fees_apr": float,
        "net_carry_apr": float,  # |carry_apr| - fees_apr
        "break_even_periods": float,
        "long_side": str,  # a | b
        "short_side": str,
        "a_predicted": float,
        "b_predicted": float,
        "a_forecast_error": float,  # settled - predicted; NULL where the kind is settled or mixed
        "b_forecast_error": float,
        "mark_spread_mean_bps": float,
        "mark_spread_min_bps": float,
        "mark_spread_max_bps": float,
        "mark_spread_last_bps": float,
        "a_basis_mean_bps": float,
        "a_basis_last_bps": float,
        "b_basis_mean_bps": float,
        "b_basis_last_bps": float,
        "expected_minutes": int,
        "a_minutes": int,
        "b_minutes": int,
        "aligned_minutes": int,
        "a_longest_gap_minutes": int,
        "b_longest_gap_minutes": int,
        "a_unchanged_minutes": int,
        "b_unchanged_minutes": int,
        "a_settled": int,  # settlements in the window
        "b_settled": int,
        "a_interval_inferred_hours": float,
        "b_interval_inferred_hours": float,
        "a_predicted_kind": str,  # settled | estimate | forecast | mixed: what a_predicted is
        "b_predicted_kind": str,
        "z_funding_diff": float,
        "z_carry_apr": float,
        "z_net_carry_apr": float,
        "z_a_rate": float,
        "z_b_rate": float,
        "z_a_apr": float,
        "z_b_apr": float,
        "z_a_forecast_error": float,
        "z_b_forecast_error": float,
        "z_mark_spread_mean_bps": float,
        "z_mark_spread_min_bps": float,
        "z_mark_spread_max_bps": float,
        "z_mark_spread_last_bps": float,
        "z_a_basis_mean_bps": float,
        "z_a_basis_last_bps": float,
        "z_b_basis_mean_bps": float,
        "z_b_basis_last_bps": float,
        "complete": int,  # 0 = stored but never flagged
        "warnings": str,  # JSON list: missing settlement, low coverage, stale, interval mismatch,
        # and each settlement's own warning (funding.warning)
        "flagged": int,
        "reasons": str,  # JSON list of words a trader reads
        "features_hash": str,  # sha256 of rounded features + z-scores (LLM cache key)
    },
    ("pair", "window_end"),
    {"pair", "window_end", "window_start"},
)
