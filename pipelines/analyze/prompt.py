"""The triage prompt: window ids, which columns are sent, and the compact batch format.

Tokens per window are what the gateway bills, so a batch is one shared instruction block plus a
pipe-separated table with one row per window (numbers to 3 significant digits, empty columns
dropped). The stored prompt version is `llm.prompt_version` plus a hash of the instructions, the
row format and the language, so editing any of them re-analyses windows on the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from pipelines.analyze.client import estimate_tokens
from pipelines.core.verdicts import ACTIONS, MAX_ALERT, RISKS
from pipelines.transform.legs import leg_labels

# Bump when build_messages formats windows differently (the instructions are hashed as they are).
ROW_FORMAT = "table-4"  # table-4: each leg's prediction kind beside its forecast error
# Not sent: keys and bookkeeping ...
BOOKKEEPING = frozenset(
    {"pair", "window_start", "window_end", "flagged", "reasons", "features_hash", "run_id", "created_at"}
)
# ... nor data-quality counters (minutes, intervals, settled flags): `complete` and `warnings` say it.
QUALITY_SUFFIXES = ("_minutes", "_hours", "_settled")
# ... nor values the model can derive exactly from others sent (APR = rate x periods a year,
# predicted = rate - forecast error, carry APR = funding diff x periods a year).
DERIVED = frozenset({"a_apr", "b_apr", "carry_apr", "a_predicted", "b_predicted"})
# How the instructions name a venue (its label otherwise), and the pair they name by default.
VENUE_NAMES = {"Gate": "Gate.io"}
DEFAULT_VENUES = "Gate.io and Bitfinex"
# Text columns worth their tokens, when present.
TEXT_FEATURES = ("long_side", "a_predicted_kind", "b_predicted_kind", "warnings")
# A leg's prediction kind says what its forecast error means, so it is sent only beside one.
KIND_OF_ERROR = {"a_predicted_kind": "a_forecast_error", "b_predicted_kind": "b_forecast_error"}
# z-scores are sent as one cell listing only those at least this large: the rest are unremarkable.
Z_SHOWN = 1.5
# Features of the previous windows of the same pair shown as recent context, when present.
CONTEXT_FEATURES = ("funding_diff", "net_carry_apr", "mark_spread_mean_bps")
CONTEXT_WINDOWS = 3

SYSTEM_PROMPT = """\
You triage funding-carry arbitrage windows between {venues} USDT perpetuals. A window is \
one funding period of one pair. Units: *_rate, *_error and funding_diff are fractions per period, \
*_apr annualised fractions (net = after fees), *_bps basis points; long_side is the leg to hold \
long; *_predicted_kind says what a leg's *_forecast_error compares the settled rate with: estimate \
(the running rate shown as the period opened) or forecast (a rate fixed one period ahead); a leg \
whose prediction is the settled rate itself sends no error. complete=0 or warnings mean doubtful \
data; z lists rolling z-scores vs past windows with |z|>={z_shown} (a forecast error's only vs \
windows of the same kind); prev lists the pair's previous windows, oldest first.
Reply with JSON only: {{"verdicts":[{{"id":"<window id>","risk":"{risks}","action":"{actions}",\
"confidence":<0..1>,"rationale":"<at most 3 sentences>","alert":"<at most {alert} chars>"}}]}}
Exactly one verdict per window id given; no other ids. OPEN_ARB only when the net carry after fees \
is attractive and basis/spread risk is contained. Write rationale and alert in {language}."""


def window_id(pair: str, window_end: str) -> str:
    """The id a window has in prompts and replies, e.g. `BTC@2024-03-01T08:00:00Z`."""
    return f"{pair}@{window_end}"


def system_prompt(language: str, venues: str = DEFAULT_VENUES) -> str:
    """The instructions; `venues` names the batch's venues (the version hashes the default: venue
    names are data, like the rows)."""
    return SYSTEM_PROMPT.format(
        risks="|".join(RISKS),
        actions="|".join(ACTIONS),
        alert=MAX_ALERT,
        language=language,
        z_shown=Z_SHOWN,
        venues=venues,
    )


def prompt_version(base: str, language: str) -> str:
    """`base` plus a short hash of everything that shapes the reply (stored with each verdict)."""
    digest = hashlib.sha256(f"{system_prompt(language)}\n{ROW_FORMAT}".encode()).hexdigest()[:8]
    return f"{base}+{digest}"


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The columns sent per window, in frame order: numeric features (no z-scores, bookkeeping or
    quality counters) then the text features present. z-scores go in their own cell."""
    numeric = [
        c
        for c in df.columns
        if c not in BOOKKEEPING
        and c not in DERIVED
        and not c.startswith("z_")
        and not c.endswith(QUALITY_SUFFIXES)
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]
    return numeric + [c for c in TEXT_FEATURES if c in df.columns]


def reasons_list(value) -> list[str]:
    """The stored reasons (JSON list text, a list, or empty) as a list of strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def build_messages(
    rows: Sequence[Mapping], columns: Sequence[str], context: Mapping[str, list[Mapping]], language: str
) -> list[dict]:
    """The chat messages asking for verdicts on `rows` (each with an `id`); `columns` from feature_columns.

    A leg's `*_predicted_kind` goes out only where its forecast error does (KIND_OF_ERROR)."""
    rows = [_kinds_with_errors(r) for r in rows]
    used = [c for c in columns if any(_cell(r.get(c)) for r in rows)]
    ctx_cols = [c for c in CONTEXT_FEATURES if c in columns]
    legs = [leg_labels(r) for r in rows]
    named = _uniform_names(legs)  # one venue pair: its venues name the columns (gate_rate, ...)
    header = ["id", *(_named(c, named) for c in used), "z", "reasons"]
    if named is None:
        header.insert(1, "legs(a/b)")
    if ctx_cols:
        header.append(f"prev({'/'.join(ctx_cols)})")
    lines = [f"windows ({len(rows)}):", "|".join(header)]
    for row, (a, b) in zip(rows, legs, strict=True):
        cells = [
            row["id"],
            *(_cell(_side_named(c, row.get(c), named)) for c in used),
            _zscores(row, named),
            ";".join(reasons_list(row.get("reasons"))),
        ]
        if named is None:
            cells.insert(1, f"{a}/{b}")
        if ctx_cols:
            prev = context.get(row["id"], [])
            cells.append(",".join("/".join(_fmt(p.get(c)) for c in ctx_cols) for p in prev))
        lines.append("|".join(cells))
    return [
        {"role": "system", "content": system_prompt(language, _venues(legs))},
        {"role": "user", "content": "\n".join(lines)},
    ]


def _kinds_with_errors(row: Mapping) -> Mapping:
    blank = {kind: None for kind, error in KIND_OF_ERROR.items() if kind in row and not _fmt(row.get(error))}
    return {**row, **blank} if blank else row


def _uniform_names(legs: list[tuple[str, str]]) -> dict[str, str] | None:
    """{"a": "gate", "b": "bitfinex"} when every window has the same two distinct venues, else None."""
    if len(set(legs)) != 1 or legs[0][0] == legs[0][1]:
        return None
    return {"a": legs[0][0].lower(), "b": legs[0][1].lower()}


def _named(column: str, names: Mapping[str, str] | None) -> str:
    for prefix in ("", "z_"):
        for side in ("a", "b"):
            if names and column.startswith(f"{prefix}{side}_"):
                return f"{prefix}{names[side]}_{column[len(prefix) + 2 :]}"
    return column


def _side_named(column: str, value, names: Mapping[str, str] | None):
    if names and column in ("long_side", "short_side") and value in names:
        return names[value]
    return value


def _venues(legs: list[tuple[str, str]]) -> str:
    """The batch's venues as the instructions name them: "Gate.io and Bitfinex"."""
    names = [VENUE_NAMES.get(label, label) for label in dict.fromkeys(v for pair in legs for v in pair)]
    if not names:
        return DEFAULT_VENUES
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _zscores(row: Mapping, names: Mapping[str, str] | None = None) -> str:
    shown = []
    for key, value in row.items():
        if isinstance(key, str) and key.startswith("z_") and _fmt(value):
            z = float(value)
            if abs(z) >= Z_SHOWN:
                shown.append(f"{_named(key[2:], names)} {z:.1f}")
    return ",".join(shown)


def _cell(value) -> str:
    """A number to 3 significant digits, a JSON list as `a;b`, anything else as text; no pipes."""
    if isinstance(value, str):
        return ";".join(reasons_list(value)).replace("|", "/")
    return _fmt(value)


def prompt_tokens(messages: Sequence[Mapping]) -> int:
    """Estimated prompt tokens of `messages`."""
    return sum(estimate_tokens(str(m["content"])) for m in messages)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number.is_integer() and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.3g}"
