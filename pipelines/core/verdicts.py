"""Reading a gateway reply: find the JSON, then validate one verdict per expected window id.

Replies are parsed robustly (plain JSON, a ```json fence, or JSON wrapped in prose) and validated
strictly: a verdict counts only if its id was asked for, its enums are known, its confidence is a
number in [0, 1] and its texts are non-empty and short. Case and surrounding spaces of the enums
are forgiven; anything else makes the window "bad" with a reason, so it is retried or recorded
as failed, never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# Mildest first (the order the prompt lists them in); the report lists them most urgent first.
RISKS = ("LOW", "MEDIUM", "HIGH")
ACTIONS = ("HOLD", "WATCH", "OPEN_ARB")
MAX_RATIONALE = 600
MAX_ALERT = 160
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    id: str
    risk: str
    action: str
    confidence: float
    rationale: str
    alert: str


@dataclass
class ParsedReply:
    """Valid verdicts by id, reasons for every expected id without one, and ids nobody asked for."""

    valid: dict[str, Verdict] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    invented: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.bad and not self.invented

    def problems(self) -> str | None:
        """One line for the ledger's error column, or None when the reply was clean."""
        if self.clean:
            return None
        parts = sorted(set(self.bad.values()))[:3]
        if self.invented:
            parts.append(f"invented ids: {', '.join(self.invented[:3])}")
        return f"{len(self.bad)} bad verdict(s): " + "; ".join(parts)


def extract_json(text: str):
    """The first JSON object or array in `text` (plain, fenced or wrapped in prose), else None."""
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict | list) and value:
            return value
    return None


def parse_reply(text: str, expected: Sequence[str]) -> ParsedReply:
    """Validate the verdicts in `text` against the window ids `expected`."""
    items = _verdict_items(extract_json(text or ""))
    if items is None:
        return ParsedReply(bad={i: "reply is not JSON with verdicts" for i in expected})
    wanted = set(expected)
    reply = ParsedReply()
    seen: set[str] = set()
    for item in items:
        ident = str(item.get("id", "")).strip() if isinstance(item, dict) else ""
        if ident not in wanted:
            reply.invented.append(ident or "<no id>")
            continue
        if ident in seen:
            reply.valid.pop(ident, None)
            reply.bad[ident] = "more than one verdict"
            continue
        seen.add(ident)
        verdict, problem = _validate(ident, item)
        if verdict:
            reply.valid[ident] = verdict
        else:
            reply.bad[ident] = problem
    for ident in expected:
        if ident not in seen:
            reply.bad[ident] = "missing from reply"
    return reply


def _verdict_items(data) -> list | None:
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("verdicts"), list):
        return data["verdicts"]
    if "id" in data:
        return [data]
    lists = [v for v in data.values() if isinstance(v, list)]
    return lists[0] if len(lists) == 1 else None


def _validate(ident: str, item: dict) -> tuple[Verdict | None, str]:
    risk = str(item.get("risk", "")).strip().upper()
    action = str(item.get("action", "")).strip().upper()
    confidence = item.get("confidence")
    rationale = item.get("rationale")
    alert = item.get("alert")
    if risk not in RISKS:
        return None, f"risk {item.get('risk')!r} not one of {'/'.join(RISKS)}"
    if action not in ACTIONS:
        return None, f"action {item.get('action')!r} not one of {'/'.join(ACTIONS)}"
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        return None, f"confidence {confidence!r} is not a number in [0, 1]"
    if not isinstance(rationale, str) or not rationale.strip() or len(rationale) > MAX_RATIONALE:
        return None, f"rationale missing or longer than {MAX_RATIONALE} chars"
    if not isinstance(alert, str) or not alert.strip() or len(alert) > MAX_ALERT:
        return None, f"alert missing or longer than {MAX_ALERT} chars"
    return Verdict(ident, risk, action, float(confidence), rationale.strip(), alert.strip()), ""
