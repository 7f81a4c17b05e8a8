"""One typed settings object, loaded once from config.yaml plus secrets from the environment.

This is the only module that reads `os.environ`. Validation happens here, at start-up, and a bad
file stops arbdb with one line naming the key (`ConfigError("llm.batch_size: ...")`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.config.pairs import Leg, Market, Pair, pairs_config
from pipelines.config.tiers import Tier
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ConfigError, UsageError
from pipelines.core.window_columns import ZSCORABLE
from pipelines.venues.registry import VENUES

DEFAULT_CONFIG = Path("config.yaml")
SECRET_ENV = ("TARDIS_API_KEY", "HOLYSHEEP_API_KEY", "SMTP_PASSWORD")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Words that make a URL query parameter a credential (`api_key`, `apikey`, `token`, `access_token`...).
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "signature", "sig"}


def _url_without_secret(url: str, env_var: str) -> str:
    """An http(s) URL carrying no credential; a key belongs in `env_var`, never in the file."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://host/v1")  # not echoed: may hold a key
    where = None
    if parts.username or parts.password:
        where = "the user:password@ part"
    for name, _value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_WORDS & set(re.split(r"[_\-.]", name.lower())):
            where = f"the {name}= parameter"
    if where:  # never echo the value: it is a secret
        raise ValueError(f"the URL holds a secret ({where}); remove it and set {env_var} in the environment")
    return url


class Tardis(_Strict):
    source: Literal["replay", "datasets"] = "replay"
    endpoint: str = "https://api.tardis.dev/v1"
    datasets_endpoint: str = "https://datasets.tardis.dev/v1"
    cache_dir: Path = Path(".cache/tardis/replay")
    download_dir: Path = Path(".cache/tardis/datasets")
    timeout_seconds: int = Field(135, gt=0)
    day_timeout_seconds: float = Field(1800, gt=0)
    workers: int = Field(2, ge=1, le=16)
    # Backfills on a Dask cluster (pipelines/extract/cluster.py); `local` uses `workers` processes.
    executor: Literal["local", "dask"] = "local"
    dask_scheduler: str | None = None
    # Cluster-wide replays/downloads at once: Tardis gains nothing past ~60 parallel requests a key.
    max_concurrent_replays: int = Field(32, ge=1, le=256)
    # Connecting to the scheduler and waiting for a first worker give up after this long.
    dask_timeout_seconds: float = Field(30, gt=0, le=3600)
    api_key: str = Field("", repr=False)

    @field_validator("endpoint", "datasets_endpoint")
    @classmethod
    def _no_secret_in_url(cls, url: str) -> str:
        return _url_without_secret(url, "TARDIS_API_KEY")

    @field_validator("dask_scheduler")
    @classmethod
    def _scheduler_address(cls, address: str | None) -> str | None:
        return None if address is None else scheduler_address(address)

    @model_validator(mode="after")
    def _dask_needs_scheduler(self) -> Tardis:
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError("executor dask needs tardis.dask_scheduler: tcp://HOST:8786")
        return self

    def on_scheduler(self, address: str) -> Tardis:
        """These settings with the Dask executor on `address` (validated: ValueError names it)."""
        try:
            return Tardis.model_validate({**self.model_dump(), "executor": "dask", "dask_scheduler": address})
        except ValidationError as err:
            raise ValueError(err.errors()[0]["msg"].removeprefix("Value error, ")) from None


def scheduler_address(address: str) -> str:
    """A Dask scheduler address `tcp://HOST:PORT` (or tls://), as given; ValueError otherwise."""
    parts = urlsplit(address.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in ("tcp", "tls")
        or not parts.hostname
        or port is None
        or parts.path not in ("", "/")
    ):
        raise ValueError(f"{address!r} is not a Dask scheduler address such as tcp://HOST:8786")
    if parts.username or parts.password or parts.query:
        raise ValueError("a Dask scheduler address holds only the host and port, tcp://HOST:8786")
    return address.strip().rstrip("/")


def tardis_key_from_env(env: Mapping[str, str] | None = None) -> str:
    """TARDIS_API_KEY of this process (a Dask worker reads its own: the key never travels)."""
    return (os.environ if env is None else env).get("TARDIS_API_KEY", "")


class Fees(_Strict):
    taker: dict[str, float] = Field(default_factory=dict)  # exchange -> fee; default: the venue's
    # Before fees.taker: the Gate and Bitfinex entries (fees.taker wins when both are given).
    gate_taker: float | None = Field(None, ge=0, lt=0.01)
    bitfinex_taker: float | None = Field(None, ge=0, lt=0.01)
    holding_periods: float = Field(21, gt=0)

    @field_validator("taker")
    @classmethod
    def _known_venues(cls, taker: dict[str, float]) -> dict[str, float]:
        for exchange, fee in taker.items():
            if exchange not in VENUES:
                raise ValueError(f"unknown venue {exchange!r}; known venues: {', '.join(VENUES)}")
            if not 0 <= fee < 0.01:
                raise ValueError(f"{exchange}: {fee} is not a fee fraction in [0, 0.01)")
        return taker

    def taker_fee(self, exchange: str) -> float:
        """Taker fee per fill on `exchange`: configured, else the venue's usual fee."""
        legacy = {GATE: self.gate_taker, BITFINEX: self.bitfinex_taker}.get(exchange)
        fee = self.taker.get(exchange, legacy)
        return VENUES[exchange].taker_fee if fee is None else fee


class Transform(_Strict):
    lookback_windows: int = Field(90, ge=2)
    min_periods: int = Field(10, ge=2)
    z_threshold: float = Field(2.5, gt=0)
    zscore_features: tuple[str, ...] = (
        "funding_diff",
        "mark_spread_mean_bps",
        "b_basis_mean_bps",
        "a_rate",
        "b_rate",
    )
    net_carry_apr_floor: float | None = 0.25
    min_coverage: float = Field(0.9, ge=0, le=1)
    stale_minutes: int = Field(60, ge=1)

    @field_validator("zscore_features", mode="before")
    @classmethod
    def _legacy_names(cls, features):
        # Window columns were gate_*/bitfinex_* before pairs had legs a and b.
        if isinstance(features, list | tuple):
            return tuple(_legacy_feature(f) if isinstance(f, str) else f for f in features)
        return features

    @field_validator("zscore_features")
    @classmethod
    def _known_features(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in features if f not in ZSCORABLE]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r}; z-scorable features: {', '.join(ZSCORABLE)}")
        return features

    @model_validator(mode="after")
    def _periods_fit(self) -> Transform:
        if self.min_periods > self.lookback_windows:
            raise ValueError("min_periods cannot exceed lookback_windows")
        return self


class ModelPrice(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class LLM(_Strict):
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
        return _url_without_secret(url, "HOLYSHEEP_API_KEY")

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


class Mail(_Strict):
    smtp_host: str | None = None
    smtp_port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    sender: str = "arbdb@localhost"
    recipients: tuple[str, ...] = ()
    outbox_dir: Path = Path("data/outbox")
    alerts: bool = False
    timeout_seconds: float = Field(30, gt=0)
    password: str = Field("", repr=False)

    @field_validator("smtp_host")
    @classmethod
    def _host_only(cls, host: str | None) -> str | None:
        if host is not None and re.search(r"[@/:]", host):
            raise ValueError(
                "give the host name only (port in mail.smtp_port, login in mail.username, "
                "password in SMTP_PASSWORD in the environment)"
            )
        return host

    @property
    def configured(self) -> bool:
        return bool(self.smtp_host and self.recipients)


class Schedule(_Strict):
    delay_minutes: int = Field(15, ge=0, le=24 * 60)
    catch_up_max_windows: int = Field(21, ge=0)
    misfire_grace_seconds: int = Field(3600, ge=1)
    report_time: str = Field("06:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Report(_Strict):
    top_n: int = Field(5, ge=1, le=50)


def _legacy_feature(name: str) -> str:
    for old, new in (("gate_", "a_"), ("bitfinex_", "b_")):
        if name.startswith(old):
            return new + name[len(old) :]
    return name


class Settings(_Strict):
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
