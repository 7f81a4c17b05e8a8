"""Extract failures against the loopback Tardis server: dead endpoints, deadlines, bodies cut short."""

import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ExtractError, TardisUnreachable
from pipelines.extract.replay import extract_range

DAY = datetime(2024, 3, 5, tzinfo=UTC)
SOURCES = ["replay", "datasets"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pointed_at(settings, url: str, **update):
    tardis = settings.tardis.model_copy(
        update={"endpoint": url, "datasets_endpoint": f"{url}/datasets", "day_timeout_seconds": 60, **update}
    )
    return tardis


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("url", "reason"),
    [(None, "connection refused"), ("http://nonexistent.invalid/v1", "unknown host nonexistent.invalid")],
)
def test_unreachable_endpoint_fails_within_seconds_naming_the_cause(settings, source, url, reason):
    url = url or f"http://127.0.0.1:{closed_port()}/v1"
    key = "datasets_endpoint" if source == "datasets" else "endpoint"
    where = f"{url}/datasets" if source == "datasets" else url
    started = time.monotonic()
    with pytest.raises(TardisUnreachable) as caught:
        extract_range(pointed_at(settings, url), GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), source)
    assert str(caught.value) == (
        f"Tardis at {where} unreachable ({reason}) for gate-io-futures 2024-03-05; check tardis.{key}"
    )
    assert time.monotonic() - started < 10  # day_timeout_seconds is 60


@pytest.mark.parametrize("source", SOURCES)
def test_endpoint_dying_mid_download_is_noticed_within_seconds(settings, tardis_server, source):
    """The server answers slowly (429 with Retry-After 30), then goes away: no wait for the deadline."""
    tardis_server.inject("429", count=-1, retry_after=30)
    tardis = pointed_at(settings, tardis_server.url)
    started = time.monotonic()
    threading.Timer(1.0, tardis_server.stop).start()
    with pytest.raises(TardisUnreachable, match="connection refused"):
        extract_range(tardis, BITFINEX, ["BTCF0:USTF0"], DAY, DAY + timedelta(days=1), source)
    assert time.monotonic() - started < 15


def test_datasets_honour_the_day_deadline(tardis_settings, tardis_server):
    tardis_server.inject("500", count=-1)
    quick = tardis_settings.tardis.model_copy(update={"day_timeout_seconds": 1.5})
    started = time.monotonic()
    with pytest.raises(ExtractError, match=r"did not deliver gate-io-futures 2024-03-05 within 1\.5 s"):
        extract_range(quick, GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), "datasets")
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("source", SOURCES)
def test_a_body_cut_short_once_is_downloaded_again(tardis_settings, tardis_server, source):
    whole = extract_range(tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), source)
    tardis_server.inject("truncated", count=1)
    again = extract_range(tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), source)
    assert again.rows == whole.rows and again.malformed == 0


@pytest.mark.parametrize("source", SOURCES)
def test_a_body_always_cut_short_fails_naming_exchange_and_day(tardis_settings, tardis_server, source):
    tardis_server.inject("truncated", count=-1)
    with pytest.raises(ExtractError, match=r"Tardis sent bitfinex-derivatives 2024-03-05 cut short 3 times"):
        extract_range(tardis_settings.tardis, BITFINEX, ["BTCF0:USTF0"], DAY, DAY + timedelta(days=1), source)
