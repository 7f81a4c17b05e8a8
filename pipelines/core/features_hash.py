"""The features hash of a window row: the LLM cache key. Core, because the transform sets it and the
store's migrations recompute it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from pipelines.core.window_columns import TEXT_FEATURES, WINDOW_FEATURES, Z_COLUMNS


def add_features_hash(windows: pd.DataFrame) -> pd.DataFrame:
    """Set `features_hash`: sha256 of WINDOW_FEATURES and Z_COLUMNS, numbers rounded to 10 significant
    digits (the LLM cache key: equal numbers give equal hashes, whatever their float noise).
    KIND_COLUMNS are left out (see `pipelines.core.window_columns`): recording a kind changes a
    hash only through the forecast error it voids, so verdicts on unchanged numbers stay cached."""
    cols = [c for c in WINDOW_FEATURES + Z_COLUMNS if c in windows.columns]
    texts = [_hash_text(windows[c], c in TEXT_FEATURES) for c in cols]
    digests = [hashlib.sha256("|".join(parts).encode()).hexdigest() for parts in zip(*texts, strict=True)]
    return windows.assign(features_hash=digests)


def features_hash(row: Mapping) -> str:
    """`add_features_hash` of one window row, for rows that carry no stored hash."""
    return add_features_hash(pd.DataFrame([dict(row)]))["features_hash"].iloc[0]


def _hash_text(values: pd.Series, text: bool) -> list[str]:
    if text:
        return [v if isinstance(v, str) else "-" for v in values]
    numbers = values.astype(float).to_numpy() + 0.0  # bool/int/None alike; -0.0 -> 0.0
    return [f"{v:.10g}" for v in numbers.tolist()]
