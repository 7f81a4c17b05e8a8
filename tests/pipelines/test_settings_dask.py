"""The tardis section's Dask keys: validated at start-up, one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config.settings import load_settings
from pipelines.core.errors import ConfigError


def with_tardis(config_file, **tardis):
    data = yaml.safe_load(config_file.read_text())
    data["tardis"].update(tardis)
    config_file.write_text(yaml.safe_dump(data))
    return load_settings(config_file, env={})


def test_the_default_executor_is_local_with_a_limit_of_32(settings):
    assert settings.tardis.executor == "local" and settings.tardis.dask_scheduler is None
    assert settings.tardis.max_concurrent_replays == 32


def test_the_dask_executor_needs_a_scheduler(config_file):
    with pytest.raises(
        ConfigError, match=r"tardis: .*executor dask needs tardis.dask_scheduler: tcp://HOST:8786"
    ):
        with_tardis(config_file, executor="dask")


@pytest.mark.parametrize(
    "address",
    ["http://h:8786", "tcp://h", "h:8786", "tcp://h:8786/x", "tcp://user:pw@h:8786", "tcp://h:99999"],
)
def test_a_scheduler_address_is_tcp_host_and_port(config_file, address):
    with pytest.raises(ConfigError, match=r"tardis.dask_scheduler: .*tcp://HOST:8786"):
        with_tardis(config_file, executor="dask", dask_scheduler=address)


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "tls://sched.example:8786", "tcp://[::1]:8786"])
def test_good_scheduler_addresses_are_kept(config_file, address):
    assert with_tardis(config_file, executor="dask", dask_scheduler=address).tardis.dask_scheduler == address


@pytest.mark.parametrize("limit", [0, -1, 257, "many"])
def test_the_replay_limit_is_a_positive_count(config_file, limit):
    with pytest.raises(ConfigError, match="tardis.max_concurrent_replays"):
        with_tardis(config_file, max_concurrent_replays=limit)


def test_on_scheduler_switches_to_dask_and_validates(settings):
    tardis = settings.tardis.on_scheduler("tcp://127.0.0.1:8786")
    assert (tardis.executor, tardis.dask_scheduler) == ("dask", "tcp://127.0.0.1:8786")
    assert tardis.workers == settings.tardis.workers
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        settings.tardis.on_scheduler("localhost")


def test_the_repository_config_documents_the_dask_keys():
    text = Path("config.yaml").read_text()
    for key in ("executor: local", "dask_scheduler:", "max_concurrent_replays: 32", "dask_timeout_seconds:"):
        assert key in text
    assert load_settings("config.yaml", env={}).tardis.executor == "local"
