"""One typed settings object, loaded once from config.yaml plus secrets from the environment.

Each section is a model of its own module (`tardis`, `transform` (with `fees`), `llm`, `report` (with
`mail`, `schedule`), `pairs`, `tiers`); this one assembles them into `Settings`. It and
`tardis.tardis_key_from_env` (a Dask worker's own key) are the only code that reads `os.environ`.
Validation happens here, at start-up, and a bad file stops arbdb with one line naming the key
(`ConfigError("llm.batch_size: ...")`).

Stages take the section they use (a `Tardis`, `Fees`, `LLM`, `Mail`...), never `Settings`: only the
edges (jobs/, flows/) hold the whole object. The section types are re-exported here for those edges.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from pipelines.config.base import Strict
from pipelines.config.llm import LLM, ModelPrice
from pipelines.config.pairs import Leg, Market, Pair, pairs_config
from pipelines.config.report import Mail, Report, Schedule
from pipelines.config.tardis import Tardis, scheduler_address, tardis_key_from_env
from pipelines.config.tiers import Tier
from pipelines.config.transform import Fees, Transform, WindowConfig
from pipelines.core.errors import ConfigError, UsageError

__all__ = [
    "DEFAULT_CONFIG",
    "LLM",
    "SECRET_ENV",
    "Fees",
    "Leg",
    "Mail",
    "Market",
    "ModelPrice",
    "Pair",
    "Report",
    "Schedule",
    "Settings",
    "Tardis",
    "Tier",
    "Transform",
    "WindowConfig",
    "load_settings",
    "scheduler_address",
    "settings_from_mapping",
    "tardis_key_from_env",
]

DEFAULT_CONFIG = Path("config.yaml")
SECRET_ENV = ("TARDIS_API_KEY", "HOLYSHEEP_API_KEY", "SMTP_PASSWORD")


class Settings(Strict):
    database: Path = Path("data/arbdb.db")
    tardis: Tardis = Field(default_factory=Tardis)
    markets: tuple[Market, ...] = ()
    pairs: tuple[Pair, ...] = Field(min_length=1)
    fees: Fees = Field(default_factory=Fees)
    transform: Transform = Field(default_factory=Transform)
    llm: LLM = Field(default_factory=LLM)
    mail: Mail = Field(default_factory=Mail)
    schedule: Schedule = Field(default_factory=Schedule)
    report: Report = Field(default_factory=Report)

    @model_validator(mode="before")
    @classmethod
    def _pairs_from_markets(cls, data):
        return pairs_config(data) if isinstance(data, Mapping) else data

    @field_validator("pairs")
    @classmethod
    def _unique_pairs(cls, pairs: tuple[Pair, ...]) -> tuple[Pair, ...]:
        names = [p.name for p in pairs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate pair name {dupes[0]!r}")
        return pairs

    @model_validator(mode="after")
    def _one_interval_per_leg(self) -> Settings:
        self.watched_legs()
        return self

    def watched_legs(self) -> tuple[Leg, ...]:
        """Every leg of every pair and market, once (what to extract), pairs' legs first: a market's
        leg takes the interval a pair configures for it. Two pairs configuring one leg with two
        intervals are refused (ValueError): a leg's settlements are derived on one interval."""
        legs: dict[tuple[str, str], Leg] = {}
        for leg in (leg for p in self.pairs for leg in p.legs):
            seen = legs.setdefault(leg[:2], leg)
            if seen.interval_hours != leg.interval_hours:
                raise ValueError(
                    f"{leg.exchange}:{leg.symbol} is configured with {seen.hours:g} h and {leg.hours:g} h; "
                    "one leg settles on one interval"
                )
        for leg in (leg for m in self.markets for leg in m.legs()):
            legs.setdefault(leg[:2], leg)
        return tuple(legs.values())

    def window_config(self) -> WindowConfig:
        """The sections the windows stage reads (fees, transform)."""
        return WindowConfig(self.fees, self.transform)

    def pair(self, name: str) -> Pair:
        """The configured pair called `name` (case-insensitive)."""
        for p in self.pairs:
            if p.name.upper() == name.upper():
                return p
        known = ", ".join(p.name for p in self.pairs)
        raise UsageError(f"unknown pair {name!r}; configured pairs: {known}")

    def select_pairs(self, names: str | None) -> tuple[Pair, ...]:
        """Pairs named in a comma list (`BTC,ETH`, each once), or all of them for None/empty."""
        if not names:
            return self.pairs
        selected = tuple(dict.fromkeys(self.pair(n.strip()) for n in names.split(",") if n.strip()))
        if not selected:
            known = ", ".join(p.name for p in self.pairs)
            raise UsageError(f"no pair named in {names!r}; configured pairs: {known}")
        return selected


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if not str(part).startswith("function-"))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def settings_from_mapping(
    data: Mapping, env: Mapping[str, str] | None = None, source: str = "config"
) -> Settings:
    """Build validated settings from a parsed config mapping and secrets from `env`."""
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the file must hold a mapping of settings, not {type(data).__name__}")
    data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    secrets = {
        "tardis": ("api_key", env.get("TARDIS_API_KEY", "")),
        "llm": ("api_key", env.get("HOLYSHEEP_API_KEY", "")),
        "mail": ("password", env.get("SMTP_PASSWORD", "")),
    }
    for section, (key, value) in secrets.items():
        block = data.get(section) or {}
        if not isinstance(block, dict):
            raise ConfigError(f"{source}: {section}: must be a mapping")
        if key in block:
            raise ConfigError(f"{source}: {section}.{key}: secrets come from the environment only")
        data[section] = {**block, key: value}
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and return settings from `path` (default ./config.yaml)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; give --config PATH (the repository's config.yaml "
            "documents every key)"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    return settings_from_mapping(data, env, source=str(path))
