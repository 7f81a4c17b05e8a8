"""The `llm` section: the gateway, its models and prices, the tiers, the daily budget, and its API
key (from HOLYSHEEP_API_KEY, never the file)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import Strict, url_without_secret
from pipelines.config.tiers import Tier


class ModelPrice(Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class LLM(Strict):
    base_url: str = "https://api.holysheep.ai/v1"
    model: str = "deepseek-v3.2"
    fallback_model: str | None = None
    batch_size: int = Field(8, ge=1, le=50)
    temperature: float = Field(0.1, ge=0, le=2)
    timeout_seconds: float = Field(60, gt=0)
    max_attempts: int = Field(4, ge=1, le=10)
    json_mode: bool = True
    prompt_version: str = Field("v1", min_length=1)
    language: str = "English"
    daily_budget_usd: float = Field(2.0, ge=0)
    prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {"deepseek-v3.2": ModelPrice(input_per_mtok=0.28, output_per_mtok=0.42)}
    )
    tiers: tuple[Tier, ...] = ()
    api_key: str = Field("", repr=False)

    @field_validator("base_url")
    @classmethod
    def _no_secret_in_url(cls, url: str) -> str:
        return url_without_secret(url, "HOLYSHEEP_API_KEY")

    @model_validator(mode="after")
    def _models_priced(self) -> LLM:
        for model in filter(None, (self.model, self.fallback_model)):
            if model not in self.prices:
                raise ValueError(f"model {model!r} has no entry in llm.prices")
        return self

    @field_validator("tiers")
    @classmethod
    def _tiers_routed(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        for i, tier in enumerate(tiers):
            if i == 0 and tier.when:
                raise ValueError("tier 1 sees every flagged window: give it no 'when'")
            if i > 0 and not tier.when:
                raise ValueError(f"tier {i + 1} ({tier.model}) needs a 'when' (e.g. OPEN_ARB, HIGH)")
        if sum(t.budget_share or 0 for t in tiers) > 1 + 1e-9:
            raise ValueError("budget_share of the tiers adds up to more than 1")
        return tiers

    @model_validator(mode="after")
    def _tier_models_priced(self) -> LLM:
        for i, tier in enumerate(self.tiers):
            for model in tier.models:
                if model not in self.prices:
                    raise ValueError(f"tiers.{i}: model {model!r} has no entry in llm.prices")
        return self

    def tier_list(self) -> tuple[Tier, ...]:
        """The configured tiers; without `tiers`, `model` (+ `fallback_model`) is the single tier."""
        if self.tiers:  # a tier without its own fallback keeps llm.fallback_model's cover
            fallback = {"fallback_model": self.fallback_model}
            return tuple(t if t.fallback_model else t.model_copy(update=fallback) for t in self.tiers)
        return (Tier(model=self.model, fallback_model=self.fallback_model),)

    def tier_models(self) -> list[str]:
        """Every model the tiers may call (primaries and fallbacks), each once, in tier order."""
        return list(dict.fromkeys(m for t in self.tier_list() for m in t.models))

    @property
    def offline(self) -> bool:
        """No key configured: the rules analyzer gives the verdicts."""
        return not self.api_key
