"""The `llm.tiers` entries of the settings: a model, the `when` that routes windows to it, its
fallback and budget share (validated at start-up like every setting, see `pipelines.config.settings`)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.core.verdicts import ACTIONS, RISKS

# A tier's `when`: an action, a risk, or `confidence < X` (the verdict of the tier before).
_CONFIDENCE_BELOW = re.compile(r"^confidence\s*<\s*(\d*\.?\d+)$")


def _condition(text: str) -> str:
    word = " ".join(str(text).split())
    if word.upper() in ACTIONS + RISKS:
        return word.upper()
    below = _CONFIDENCE_BELOW.match(word.lower())
    if below and 0 < float(below[1]) <= 1:
        return f"confidence < {float(below[1]):g}"
    raise ValueError(
        f"when {text!r}: give an action ({'/'.join(ACTIONS)}), a risk ({'/'.join(RISKS)}) "
        "or 'confidence < 0.6'"
    )


class Tier(BaseModel):
    """One model of the analyzer; a later tier sees the windows whose verdict from the tier before
    matches any condition of `when`. `budget_share`: fraction of the daily budget kept for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    when: tuple[str, ...] = ()
    fallback_model: str | None = None
    budget_share: float | None = Field(None, gt=0, le=1)

    @field_validator("when", mode="before")
    @classmethod
    def _conditions(cls, when):
        if when is None:
            return ()
        items = [when] if isinstance(when, str) else list(when)
        return tuple(_condition(item) for item in items)

    @property
    def models(self) -> list[str]:
        """The model, then its fallback, each once."""
        return list(dict.fromkeys(m for m in (self.model, self.fallback_model) if m))
