"""Settings validation at start-up: real YAML files in tmp_path, one line naming the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.config.pairs import Leg
from pipelines.config.settings import load_settings, settings_from_mapping
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ConfigError, UsageError
from pipelines.core.window_columns import ZSCORABLE

CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def with_change(config_file: Path, section: str, **values) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data.setdefault(section, {}).update(values)
    config_file.write_text(yaml.safe_dump(data))
    return config_file


def test_misspelled_zscore_feature_is_refused_naming_it_and_the_valid_ones(config_file):
    with_change(config_file, "transform", zscore_features=["funding_diff", "mark_spread_bps"])
    with pytest.raises(ConfigError) as err:
        load_settings(config_file, env={})
    message = str(err.value)
    assert "transform.zscore_features" in message and "'mark_spread_bps'" in message
    assert all(feature in message for feature in ZSCORABLE)


def test_every_z_scorable_feature_is_accepted(config_file):
    with_change(config_file, "transform", zscore_features=list(ZSCORABLE))
    assert load_settings(config_file, env={}).transform.zscore_features == ZSCORABLE


@pytest.mark.parametrize("text", ["", "# only comments\n", "{}\n"])
def test_an_empty_config_watches_the_four_pairs_the_configuration_page_names(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    pairs = load_settings(path, env={}).pairs
    assert [p.name for p in pairs] == ["BTC", "ETH", "SOL", "DOGE"]
    assert pairs[3].legs == (Leg(GATE, "DOGE_USDT", 8.0), Leg(BITFINEX, "DOGEF0:USTF0", None))
    assert "defaults BTC, ETH, SOL, DOGE" in CONFIGURATION_DOC.read_text()


def test_an_explicitly_empty_pair_list_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("pairs: []\n")
    with pytest.raises(ConfigError, match="pairs:"):
        load_settings(path, env={})


def test_a_missing_config_file_is_one_line_saying_what_to_do(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(cli, ["--config", str(missing), "status"])
    assert result.exit_code == 2
    assert result.output == f"arbdb: error: config file {missing} does not exist; give --config PATH" + (
        " (the repository's config.yaml documents every key)\n"
    )


SECRET_URLS = [
    ("tardis", "endpoint", "https://me:s3cr3tkey@127.0.0.1:9/v1", "user:password@", "TARDIS_API_KEY"),
    ("tardis", "endpoint", "https://s3cr3tkey@127.0.0.1:9/v1", "user:password@", "TARDIS_API_KEY"),
    ("tardis", "datasets_endpoint", "https://127.0.0.1:9/v1?key=s3cr3tkey", "key=", "TARDIS_API_KEY"),
    ("llm", "base_url", "https://127.0.0.1:9/v1?api_key=s3cr3tkey", "api_key=", "HOLYSHEEP_API_KEY"),
    ("llm", "base_url", "https://127.0.0.1:9/v1?x=1&token=s3cr3tkey", "token=", "HOLYSHEEP_API_KEY"),
    (
        "llm",
        "base_url",
        "https://127.0.0.1:9/v1?access_token=s3cr3tkey",
        "access_token=",
        "HOLYSHEEP_API_KEY",
    ),
]


@pytest.mark.parametrize(("section", "key", "url", "part", "env_var"), SECRET_URLS)
def test_a_secret_inside_a_url_is_refused_like_a_secret_key(config_file, section, key, url, part, env_var):
    with_change(config_file, section, **{key: url})
    result = CliRunner().invoke(cli, ["--config", str(config_file), "status"])
    assert result.exit_code == 2
    line = result.output
    assert line.startswith(f"arbdb: error: {config_file}: {section}.{key}: the URL holds a secret")
    assert part in line and env_var in line and line.count("\n") == 1
    assert "s3cr3tkey" not in line  # the secret itself is never printed


def test_urls_without_credentials_still_load(config_file):
    with_change(config_file, "llm", base_url="http://127.0.0.1:8080/v1?region=eu&keyboard=1")
    assert load_settings(config_file, env={}).llm.base_url.endswith("keyboard=1")


def test_a_url_setting_must_be_http_and_is_not_echoed(config_file):
    with_change(config_file, "tardis", endpoint="me:s3cr3tkey@127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"tardis\.endpoint: must be an http\(s\) URL") as err:
        load_settings(config_file, env={})
    assert "s3cr3tkey" not in str(err.value)


def test_smtp_host_with_a_login_in_it_is_refused(config_file):
    with_change(config_file, "mail", smtp_host="me:s3cr3t@smtp.example.com")
    with pytest.raises(ConfigError, match="mail.smtp_host: give the host name only") as err:
        load_settings(config_file, env={})
    assert "s3cr3t" not in str(err.value)


def test_named_secret_keys_are_still_refused():
    with pytest.raises(ConfigError, match="llm.api_key: secrets come from the environment only"):
        settings_from_mapping({"llm": {"api_key": "x"}}, env={})


def test_select_pairs_dedupes_and_refuses_a_list_naming_no_pair(settings):
    assert [p.name for p in settings.select_pairs("btc, BTC ,ETH")] == ["BTC", "ETH"]
    with pytest.raises(UsageError, match="no pair named in ' , '; configured pairs: BTC, ETH"):
        settings.select_pairs(" , ")
