"""Fixtures shared by the whole suite. Loopback servers live in tests/fixtures/ and are listed here."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipelines.config.settings import Settings, load_settings
from pipelines.store import open_db

pytest_plugins = [
    # one line per fixture module in tests/fixtures/
    "tests.fixtures.llm",
    "tests.fixtures.smtp",
    "tests.fixtures.tardis",
]

SMALL_CONFIG = """
database: {db}
tardis:
  endpoint: http://127.0.0.1:9/v1
  datasets_endpoint: http://127.0.0.1:9/v1/datasets
  cache_dir: {tmp}/cache
  download_dir: {tmp}/downloads
  timeout_seconds: 10
  day_timeout_seconds: 60
  workers: 1
pairs:
  - {{name: BTC, gate_symbol: BTC_USDT, bitfinex_symbol: "BTCF0:USTF0"}}
  - {{name: ETH, gate_symbol: ETH_USDT, bitfinex_symbol: "ETHF0:USTF0"}}
llm:
  base_url: http://127.0.0.1:9/v1
  prices:
    deepseek-v3.2: {{input_per_mtok: 0.28, output_per_mtok: 0.42}}
    gpt-4.1: {{input_per_mtok: 2.0, output_per_mtok: 8.0}}
mail:
  outbox_dir: {tmp}/outbox
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A small config.yaml in tmp_path: two pairs, loopback endpoints (unreachable until overridden)."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(SMALL_CONFIG.format(db=tmp_path / "arbdb.db", tmp=tmp_path)))
    return path


@pytest.fixture
def settings(config_file: Path) -> Settings:
    """Settings from `config_file` with no secrets in the environment."""
    return load_settings(config_file, env={})


@pytest.fixture
def db(settings: Settings):
    """A real SQLite file under tmp_path with the full schema."""
    database = open_db(settings.database)
    yield database
    database.close()
