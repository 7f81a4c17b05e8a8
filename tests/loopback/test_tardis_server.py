"""The loopback Tardis server, driven by the real tardis_dev client and plain HTTP requests."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import tardis_dev
from tardis_dev import Channel

from loopback.faults import RESET_STATUS
from loopback.tardis_server import start_in_process, start_in_thread
from pipelines.core.columns import BITFINEX, GATE
from tests.fixtures.tardis import small_feed

START = datetime(2024, 3, 5, 6, tzinfo=UTC)
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def run_replay(
    server, exchange: str, channel: Channel | None, start: datetime, hours: float, cache: Path, **kw
):
    """Every (local timestamp, message) the real client yields for [start, start + hours)."""

    async def collect():
        return [
            r
            async for r in tardis_dev.replay(
                exchange,
                start,
                start + timedelta(hours=hours),
                [channel] if channel else None,
                endpoint=server.url,
                cache_dir=str(cache),
                **kw,
            )
        ]

    return asyncio.run(collect())


def expected_lines(server, exchange: str, symbol: str, start: datetime, hours: float) -> list[bytes]:
    """The stored lines of `symbol` (and connection-level lines) in the range, straight from the feed."""
    feed = server.feed
    local, number, lines = feed.day_lines(exchange, start.date())
    begin = int(start.timestamp() * 1e7)
    end = int((start + timedelta(hours=hours)).timestamp() * 1e7)
    wanted = {-1, feed.symbol_index(exchange, symbol)}
    return [
        line.encode()
        for t, n, line in zip(local.tolist(), number.tolist(), lines, strict=True)
        if begin <= t < end and n in wanted
    ]


def joined(got) -> list[bytes]:
    """Raw client responses back into lines (without the newline)."""
    return [(ts + b" " + msg).rstrip(b"\n") for ts, msg in got]


def get(url: str, headers: dict | None = None):
    """(status, headers, body) of a GET, without raising on HTTP errors."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def feed_url(
    server, exchange: str, start: datetime, offset: int = 0, size: int | None = None, filters=None
) -> str:
    query = {"from": start.isoformat().replace("+00:00", "Z"), "offset": offset}
    if size:
        query["sliceSize"] = size
    if filters is not None:
        query["filters"] = json.dumps(filters)
    return f"{server.url}/data-feeds/{exchange}?{urllib.parse.urlencode(query)}"


def test_replay_with_the_real_client_returns_exactly_the_filtered_lines(tardis_server, tmp_path):
    got = run_replay(
        tardis_server, GATE, Channel("tickers", ["ETH_USDT"]), START, 3, tmp_path, decode_response=False
    )
    want = expected_lines(tardis_server, GATE, "ETH_USDT", START, 3)
    assert joined(got) == [line.rstrip(b"\n") for line in want]
    assert len(got) > 3 * 360 * 0.95
    sizes = [(q.get("offset"), q.get("sliceSize")) for _, q, _ in tardis_server.requests]
    assert ("1", "178") in sizes  # the client took x-suggested-slice-size and the server honoured it


def test_bitfinex_replay_starts_with_the_live_subscriptions(tardis_server, tmp_path):
    got = run_replay(tardis_server, BITFINEX, Channel("status", ["BTCF0:USTF0"]), START, 1, tmp_path)
    first = got[0]
    assert first.local_timestamp == START.replace(tzinfo=None)
    assert first.message["event"] == "subscribed" and first.message["key"] == "deriv:tBTCF0:USTF0"
    updates = [r.message for r in got if isinstance(r.message, list) and isinstance(r.message[1], list)]
    assert updates and {u[0] for u in updates} == {first.message["chanId"]}
    assert {u[-1] for u in updates} == {"BTCF0:USTF0"}


def test_slices_are_gzip_with_slice_headers(tardis_server):
    filters = [{"channel": "tickers", "symbols": ["BTC_USDT"]}]
    status, headers, body = get(feed_url(tardis_server, GATE, START, 0, 60, filters))
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["x-slice-size"] == "60" and headers["x-suggested-slice-size"] == "360"
    lines = gzip.decompress(body).decode().splitlines()
    assert 330 < len(lines) < 380
    assert all(orjson.loads(line[29:]).get("event") != "update" or "BTC_USDT" in line for line in lines)
    assert "ETH_USDT" not in "".join(lines)


def test_datasets_download_with_the_real_client_is_the_ground_truth(tardis_server, tmp_path):
    tardis_dev.download_datasets(
        BITFINEX,
        ["derivative_ticker"],
        ["BTCF0:USTF0"],
        "2024-03-05",
        "2024-03-06",
        endpoint=tardis_server.datasets_url,
        download_dir=str(tmp_path),
    )
    (path,) = tmp_path.glob("*.csv.gz")
    assert path.name == "bitfinex-derivatives_derivative_ticker_2024-03-05_BTCF0-USTF0.csv.gz"
    assert gzip.decompress(path.read_bytes()) == tardis_server.feed.dataset_csv(
        BITFINEX, "BTCF0:USTF0", START.date()
    )


def test_wrong_key_gets_401_but_the_first_of_the_month_is_free(tmp_path):
    with start_in_thread(small_feed(), api_key="right", data_dir=tmp_path / "data") as server:
        channel = Channel("tickers", ["BTC_USDT"])
        with pytest.raises(urllib.error.HTTPError) as err:
            run_replay(server, GATE, channel, START, 1, tmp_path / "a", api_key="wrong")
        assert err.value.code == 401
        first = datetime(2024, 3, 1, 8, tzinfo=UTC)
        assert run_replay(server, GATE, channel, first, 1, tmp_path / "b")
        assert run_replay(server, GATE, channel, START, 1, tmp_path / "c", api_key="right")
        assert get(f"{server.datasets_url}/{GATE}/derivative_ticker/2024/03/01/BTC_USDT.csv.gz")[0] == 200
        assert get(f"{server.datasets_url}/{GATE}/derivative_ticker/2024/03/02/BTC_USDT.csv.gz")[0] == 401
        assert sum(status == 401 for _, _, status in server.requests) == 2  # 401 is not retried


def test_429_with_retry_after_then_success(tardis_server, tmp_path):
    tardis_server.inject("429", retry_after=1)
    started = time.monotonic()
    got = run_replay(tardis_server, GATE, Channel("tickers", ["BTC_USDT"]), START, 0.5, tmp_path)
    assert got and time.monotonic() - started < 10
    statuses = [status for _, _, status in tardis_server.requests]
    assert statuses.count(429) == 1 and statuses.count(200) == len(statuses) - 1


def test_reset_mid_body_then_success(tardis_server, tmp_path):
    tardis_server.inject("reset", exchange=GATE)
    channel = Channel("tickers", ["BTC_USDT"])
    got = run_replay(tardis_server, GATE, channel, START, 0.5, tmp_path, decode_response=False)
    assert joined(got) == [
        line.rstrip(b"\n") for line in expected_lines(tardis_server, GATE, "BTC_USDT", START, 0.5)
    ]
    assert [status for _, _, status in tardis_server.requests].count(RESET_STATUS) == 1


def test_malformed_lines_appear_in_the_next_body(tardis_server, tmp_path):
    tardis_server.inject("malformed")
    got = run_replay(
        tardis_server, GATE, Channel("tickers", ["BTC_USDT"]), START, 0.5, tmp_path, decode_response=False
    )
    broken = 0
    for stamp, message in got:
        try:
            assert STAMP.match(stamp)
            orjson.loads(message)
        except (AssertionError, ValueError):
            broken += 1
    assert 1 <= broken <= 4


def test_errors_name_the_problem(tardis_server):
    status, _, body = get(feed_url(tardis_server, "kraken-futures", START))
    assert status == 404 and b"kraken-futures" in body
    status, _, body = get(
        feed_url(tardis_server, GATE, START, filters=[{"channel": "tickers", "symbols": ["XRP_USDT"]}])
    )
    assert status == 404 and b"XRP_USDT" in body
    status, _, body = get(f"{tardis_server.url}/data-feeds/{GATE}?from=yesterday&offset=0")
    assert status == 400 and b"ISO 8601" in body
    status, _, body = get(f"{tardis_server.datasets_url}/{GATE}/derivative_ticker/2024/03/05/XRP_USDT.csv.gz")
    assert status == 404
    tardis_server.inject("500", count=-1)
    assert [get(feed_url(tardis_server, GATE, START))[0] for _ in range(3)] == [500, 500, 500]
    tardis_server.clear_faults()
    assert get(feed_url(tardis_server, GATE, START))[0] == 200


def test_nothing_is_served_after_available_until(tardis_server):
    tardis_server.available_until = START
    status, headers, body = get(feed_url(tardis_server, GATE, START, 0, 60))
    assert status == 200 and headers["x-slice-size"] == "60" and gzip.decompress(body) == b""
    status, _, body = get(feed_url(tardis_server, GATE, START - timedelta(hours=1), 0, 60))
    assert gzip.decompress(body)
    assert get(f"{tardis_server.datasets_url}/{GATE}/derivative_ticker/2024/03/05/BTC_USDT.csv.gz")[0] == 404


def test_server_in_a_separate_process(tmp_path):
    with start_in_process(small_feed(), data_dir=tmp_path, prepare_days=[START.date()]) as server:
        assert server.process.pid != os.getpid()
        status, _, body = get(feed_url(server, GATE, START, 0, 10))
        assert status == 200 and gzip.decompress(body).count(b"\n") > 100
    assert server.process.poll() == 0


def test_cli_prints_the_endpoints_then_serves_until_sigterm(tmp_path):
    args = ["sample-server", "--from", "2024-03-05", "--to", "2024-03-06", "--interval-seconds", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", *args, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    try:
        first = proc.stdout.readline()
        fields = dict(part.split("=", 1) for part in first.split())
        assert fields["datasets_endpoint"] == fields["endpoint"] + "/datasets"
        query = urllib.parse.urlencode({"from": "2024-03-05T00:00:00.000Z", "offset": 0, "sliceSize": 60})
        status, _, _ = get(f"{fields['endpoint']}/data-feeds/{GATE}?{query}")
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read()
