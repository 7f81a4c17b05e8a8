"""Entry and exit rules, and the trades they make over a pair's windows (pure, no I/O).

Timing: a rule is evaluated on a window's features, known at its close (`window_end`). A position
opens at the close of the window whose entry rule fired, long the leg with the lower funding in
that window (`long_side`) and short the higher one. It closes at the close of the first later window
whose exit rule fires, else at the range end. A window where a position closed opens none. When
several exit rules fire at one close, the first in `exit_order` (the order `--exit` lists them)
names the exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from pipelines.core.errors import UsageError

EXIT_RULES = ("net", "sign", "hold")  # the default order, and `--exit`'s words
TRADE_COLUMNS = ("entry_time", "exit_time", "long_side", "short_side", "entry_net_carry_apr", "exit_reason")


@dataclass(frozen=True)
class Rules:
    """Entry: net carry APR >= `entry_net`, or a flag, or an OPEN_ARB verdict of `entry_model`
    (any that is set). Exit: net carry APR < `exit_net`, the differential changing sign, or
    `max_hold_hours` held (any that is set); always at the range end. `exit_order`: the exit
    rules in the order given, the first that fires at a close names the exit."""

    entry_net: float | None = 0.25
    entry_flag: bool = False
    entry_model: str | None = None
    exit_net: float | None = 0.0
    exit_sign: bool = True
    max_hold_hours: float | None = None
    exit_order: tuple[str, ...] = EXIT_RULES

    def text(self) -> str:
        """The rules as the `--entry`/`--exit` words that give them (stable: part of the run key)."""
        entry = [f"net:{self.entry_net:g}"] if self.entry_net is not None else []
        entry += ["flag"] if self.entry_flag else []
        entry += [f"verdict:{self.entry_model}"] if self.entry_model else []
        words = {
            "net": f"net:{self.exit_net:g}" if self.exit_net is not None else None,
            "sign": "sign" if self.exit_sign else None,
            "hold": f"hold:{self.max_hold_hours:g}" if self.max_hold_hours else None,
        }
        exits = [words[name] for name in self.exit_names() if words[name]]
        return f"entry {','.join(entry) or 'none'}; exit {','.join(exits + ['end'])}"

    def exit_names(self) -> tuple[str, ...]:
        """The exit rules in the order they are tried: the order given, then any it leaves out
        (a Rules built in code) in the default order."""
        return tuple(dict.fromkeys(self.exit_order + EXIT_RULES))


def parse_rules(entry: str | None, exit_: str | None) -> Rules:
    """Rules from `--entry net:0.25,flag,verdict:MODEL` and `--exit net:0,sign,hold:72` (defaults
    for an option left out); a bad word is a UsageError naming it."""
    fields: dict = {}
    if entry is not None:
        fields.update(entry_net=None, entry_flag=False, entry_model=None)
        for word in _words(entry):
            fields.update(_entry_word(word))
    if exit_ is not None:
        fields.update(exit_net=None, exit_sign=False, max_hold_hours=None)
        order = []
        for word in _words(exit_):
            fields.update(_exit_word(word))
            order.append(word.split(":", 1)[0])
        fields["exit_order"] = tuple(dict.fromkeys(order))  # a word given twice: its first place
    return Rules(**fields)


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def _number(word: str, option: str, positive: bool = False) -> float:
    try:
        value = float(word.split(":", 1)[1])
    except (IndexError, ValueError):
        value = None
    if value is None or (positive and value <= 0):
        raise UsageError(f"{option} {word!r}: expected a number after ':' (e.g. {option} net:0.25)")
    return value


def _entry_word(word: str) -> dict:
    if word.startswith("net:"):
        return {"entry_net": _number(word, "--entry")}
    if word == "flag":
        return {"entry_flag": True}
    if word.startswith("verdict:") and word[8:]:
        return {"entry_model": word[8:]}
    raise UsageError(
        f"--entry {word!r} is not a rule; use net:APR, flag or verdict:MODEL (e.g. verdict:rules)"
    )


def _exit_word(word: str) -> dict:
    if word.startswith("net:"):
        return {"exit_net": _number(word, "--exit")}
    if word == "sign":
        return {"exit_sign": True}
    if word.startswith("hold:"):
        return {"max_hold_hours": _number(word, "--exit", positive=True)}
    raise UsageError(f"--exit {word!r} is not a rule; use net:APR, sign or hold:HOURS")


def entry_signals(windows: pd.DataFrame, rules: Rules, open_arb: pd.Series | None = None) -> pd.Series:
    """Per window (bool, windows' index): does an entry rule fire at its close? A window without a
    direction (equal or unknown rates) never does, nor does an incomplete one (a settlement missing or
    resting on the configured interval alone: its carry is not known). `open_arb`: the model's
    OPEN_ARB verdicts (bool)."""
    fired = pd.Series(False, index=windows.index)
    if rules.entry_net is not None:
        fired |= windows["net_carry_apr"].ge(rules.entry_net).fillna(False).astype(bool)
    if rules.entry_flag:
        fired |= windows["flagged"].fillna(False).astype(bool)
    if rules.entry_model and open_arb is not None:
        fired |= open_arb.reindex(windows.index, fill_value=False).astype(bool)
    complete = windows.get("complete", True)
    return fired & windows["short_side"].isin(("a", "b")) & complete


def exit_reason(row, entry: dict, rules: Rules) -> str | None:
    """Which exit rule fires at the close of window `row` for the open position `entry`, if any:
    of several, the first in the rules' order (`--exit`'s)."""
    for name in rules.exit_names():
        if _fires(name, row, entry, rules):
            return name
    return None


def _fires(name: str, row, entry: dict, rules: Rules) -> bool:
    if name == "net":
        return rules.exit_net is not None and row.net_carry_apr < rules.exit_net
    if name == "sign":
        return bool(
            rules.exit_sign and row.short_side in ("a", "b") and row.short_side != entry["short_side"]
        )
    held = (row.window_end - entry["entry_time"]).total_seconds() / 3600
    return bool(rules.max_hold_hours and held >= rules.max_hold_hours)


def trades(windows: pd.DataFrame, rules: Rules, range_end: datetime, open_arb: pd.Series | None = None):
    """The trades the rules make over `windows` (one pair, oldest first): TRADE_COLUMNS, one row each."""
    fired = entry_signals(windows, rules, open_arb)
    out, entry = [], None
    for i, row in enumerate(windows.itertuples(index=False)):
        if entry is not None:
            reason = exit_reason(row, entry, rules)
            if reason:
                out.append({**entry, "exit_time": row.window_end, "exit_reason": reason})
                entry = None
            continue
        if fired.iloc[i]:
            entry = {
                "entry_time": row.window_end,
                "long_side": row.long_side,
                "short_side": row.short_side,
                "entry_net_carry_apr": row.net_carry_apr,
            }
    if entry is not None and pd.Timestamp(range_end) > entry["entry_time"]:
        out.append({**entry, "exit_time": pd.Timestamp(range_end), "exit_reason": "end"})
    return pd.DataFrame(out, columns=list(TRADE_COLUMNS))


def held_from(windows: pd.DataFrame, i: int, rules: Rules, range_end: datetime) -> dict | None:
    """The trade opened at the close of window `i` (in its direction) and held until an exit rule
    fires at a later close, else until `range_end`; None when the window has no direction."""
    row = windows.iloc[i]
    if row["short_side"] not in ("a", "b"):
        return None
    entry = {
        "entry_time": row["window_end"],
        "long_side": row["long_side"],
        "short_side": row["short_side"],
        "entry_net_carry_apr": row["net_carry_apr"],
    }
    for later in windows.iloc[i + 1 :].itertuples(index=False):
        reason = exit_reason(later, entry, rules)
        if reason:
            return {**entry, "exit_time": later.window_end, "exit_reason": reason}
    return {**entry, "exit_time": pd.Timestamp(range_end), "exit_reason": "end"}
