"""The `tardis` section: where and how the extract reaches Tardis (replay or datasets, local
processes or a Dask cluster), and its API key (from TARDIS_API_KEY, never the file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from pipelines.config.base import Strict, url_without_secret


class Tardis(Strict):
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
        return url_without_secret(url, "TARDIS_API_KEY")

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
