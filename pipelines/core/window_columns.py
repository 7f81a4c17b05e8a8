"""The window row's column vocabulary, declared once: what a stored `windows` row holds, in order.

The transform computes these columns (`pipelines.transform.features`, `.scoring`); the config
validates `zscore_features` against ZSCORABLE and the store's migrations rehash rows with them, so
they live in core, below all three. Pure tuples: reading a config needs no pandas.
"""

from __future__ import annotations

KEYS = ("pair", "window_start", "window_end")
# Which legs the window compares and its length: identity, not features (not hashed, not sent).
IDENTITY = ("a_exchange", "a_symbol", "b_exchange", "b_symbol", "window_hours")
FUNDING_FEATURES = (
    "a_rate",  # leg a's settled rates in the window, summed: fraction per window
    "b_rate",
    "a_interval_hours",  # interval of the window's last settlement (funding table)
    "b_interval_hours",
    "a_apr",  # a_rate x 8760 / window hours
    "b_apr",
    "funding_diff",  # a_rate - b_rate, fraction per window
    "carry_apr",  # funding_diff x 8760 / window hours, signed
    "fees_apr",  # round-trip taker fees amortized over the holding period, as APR
    "net_carry_apr",  # |carry_apr| - fees_apr
    "break_even_periods",  # round-trip fees / |funding_diff|, windows
    "long_side",  # a | b (lower rate), None when equal or unknown
    "short_side",
    "a_predicted",  # the settlements' forecasts, summed like the rates
    "b_predicted",
    "a_forecast_error",  # settled - predicted, per window; NaN unless the kind is a real prediction
    "b_forecast_error",
)
PRICE_FEATURES = (
    "mark_spread_mean_bps",  # (a_mark - b_mark) / b_mark x 1e4, aligned minutes
    "mark_spread_min_bps",
    "mark_spread_max_bps",
    "mark_spread_last_bps",
    "a_basis_mean_bps",  # (mark - index) / index x 1e4 (Bitfinex's "index" is its spot mid)
    "a_basis_last_bps",
    "b_basis_mean_bps",
    "b_basis_last_bps",
)
QUALITY_COLUMNS = (
    "expected_minutes",
    "a_minutes",  # minutes with a mark price
    "b_minutes",
    "aligned_minutes",  # minutes with a mark price on both legs
    "a_longest_gap_minutes",
    "b_longest_gap_minutes",
    "a_unchanged_minutes",  # longest run of an unchanged mark or index
    "b_unchanged_minutes",
    "a_settled",  # settlements in the window
    "b_settled",
    "a_interval_inferred_hours",  # median settlement spacing found in the data
    "b_interval_inferred_hours",
)
WINDOW_FEATURES = FUNDING_FEATURES + PRICE_FEATURES + QUALITY_COLUMNS
TEXT_FEATURES = ("long_side", "short_side")
# What each leg's predicted rate is in the window (`pipelines.core.columns.PREDICTED_KINDS`, or "mixed"
# when its settlements' kinds differ, None without settlements or for rows stored before kinds).
# Not in the features hash: a kind is fixed by the venue and its era, and where it changes what a
# forecast error means ("settled", "mixed") the error itself, which is hashed, turns NaN.
KIND_COLUMNS = ("a_predicted_kind", "b_predicted_kind")

ZSCORABLE = (
    "funding_diff",
    "carry_apr",
    "net_carry_apr",
    "a_rate",
    "b_rate",
    "a_apr",
    "b_apr",
    "a_forecast_error",
    "b_forecast_error",
    *PRICE_FEATURES,
)
Z_COLUMNS = tuple(f"z_{f}" for f in ZSCORABLE)
STATUS_COLUMNS = ("complete", "warnings", "flagged", "reasons", "features_hash")
WINDOW_COLUMNS = KEYS + IDENTITY + WINDOW_FEATURES + KIND_COLUMNS + Z_COLUMNS + STATUS_COLUMNS
