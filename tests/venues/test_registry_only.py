"""A venue is one folder and one registry line (issue #18, item 4), shown two ways.

1. A toy venue written into tmp_path as a package of its own (descriptor, normalizer, settlement
   rule, sample feed: nothing else) and registered through the registry's API runs the real path:
   the loopback Tardis server serves its sample feed, `tardis_dev.replay` and the datasets download
   fetch it, `extract_range` normalizes it, `load_extracted` writes minute rows and settlements into
   a real SQLite file, and the settlements equal the feed's ground truth. No module outside the toy's
   folder is edited or monkeypatched beyond the registry.
2. A static check: no module outside `pipelines/venues/<name>/` spells a venue's exchange id, apart
   from the justified exemptions listed below.
"""

from __future__ import annotations

import re
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loopback.generator import SampleFeed
from loopback.tardis_server import start_in_thread
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db
from pipelines.venues import registry
from tests.fixtures.tardis import pointed_at

ROOT = Path(__file__).resolve().parents[2]
TOY = "toy-perp"
DAY = datetime(2024, 3, 4, tzinfo=UTC)

# The whole toy venue: what a contributor writes for a new exchange (a real one sits in
# pipelines/venues/<name>/ and is named by one line of registry.PACKAGES).
TOY_FILES = {
    "__init__.py": """
        from pipelines.venues.venue import Venue
        from toyvenue.normalize import EXCHANGE, ToyNormalizer
        from toyvenue.settle import toy_settlements

        VENUE = Venue(
            EXCHANGE,
            channels=("ticker",),
            normalizer=ToyNormalizer,
            settle=toy_settlements,
            history_start="2024-01-01",
            label="Toy",
            symbol_format="{coin}-TOY",
            interval_in_data=False,
            sample="toyvenue.sample",
        )
    """,
    "normalize.py": """
        from pipelines.venues.base import _NO_VALUES, MalformedLine, Normalizer, _number

        EXCHANGE = "toy-perp"

        class ToyNormalizer(Normalizer):
            exchange = EXCHANGE

            def _handle(self, msg, local_us):
                if type(msg) is not dict:
                    raise MalformedLine("wrong shape: not a JSON object")
                if msg.get("channel") != "ticker":
                    return []
                self.seen_channel = True
                symbol = msg["s"]
                if self._symbols is not None and symbol not in self._symbols:
                    return []
                old = self._values.get(symbol, _NO_VALUES)
                new = [old[0], _number(msg.get("r")), *old[2:6], _number(msg.get("m"))]
                new = [o if n is None else n for n, o in zip(new, old)]
                record = self._commit(symbol, msg["t"] * 1000, new, old, local_us)
                return [] if record is None else [record]
    """,
    "settle.py": '''
        import pandas as pd

        from pipelines.venues.settle_base import _empty, _finish, _last_before
        from toyvenue.normalize import EXCHANGE

        def toy_settlements(minutes, symbol, interval_hours):
            """The rate settled at T (every `interval_hours` from midnight) is the last one before T."""
            rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
            if rated.empty:
                return _empty()
            first, last = rated["ts"].iloc[0], rated["ts"].iloc[-1] + pd.Timedelta(minutes=1)
            times = pd.date_range(first.floor("D"), last, freq=f"{interval_hours}h", tz="UTC")
            times = times[(times > first) & (times <= last)]
            rate = _last_before(rated, times - pd.Timedelta(minutes=1), "funding_rate").to_numpy()
            frame = pd.DataFrame({"funding_time": times, "rate": rate, "predicted_rate": rate})
            return _finish(frame.dropna(subset=["rate"]), EXCHANGE, symbol, interval_hours)
    ''',
    "sample.py": '''
        from datetime import UTC, datetime, timedelta

        import numpy as np

        from pipelines.core.columns import VALUE_FIELDS
        from pipelines.venues.samplekit import TICKS_PER_MS, SimVenue, SymbolDay, day_ms, prefixes
        from toyvenue.normalize import EXCHANGE

        def rate(period: int, index: int) -> float:
            """The rate of the 8 h period number `period` since 1970 (settled at its end)."""
            return 0.0001 * (1 + (period + index) % 3)

        def day(seed, interval, symbol, day, index):
            """One update a minute, at second 30: the period's rate and a mark price."""
            ts_ms = day_ms(day) + np.arange(1440, dtype=np.int64) * 60_000 + 30_000
            period = ts_ms // (8 * 3_600_000)
            values = {name: np.full(1440, np.nan) for name in VALUE_FIELDS}  # NaN: not sent
            values["funding_rate"] = np.array([rate(int(p), index) for p in period])
            values["mark_price"] = 100.0 + (np.arange(1440) % 7) / 10
            local = ts_ms * TICKS_PER_MS + 1234
            return SymbolDay(EXCHANGE, symbol, day, local, ts_ms, values, np.zeros(1440, bool))

        def lines(feed, sd):
            heads = prefixes(sd.local, sd.day)
            rates, marks = sd.values["funding_rate"].tolist(), sd.values["mark_price"].tolist()
            out = [
                f'{h}{{"channel":"ticker","s":"{sd.symbol}","r":"{r}","m":"{m}","t":{t}}}\\n'
                for h, r, m, t in zip(heads, rates, marks, sd.ts_ms.tolist())
            ]
            return sd.local, out

        def settled(feed, symbol, day):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            index = feed.symbol_index(EXCHANGE, symbol)
            out = []
            for t in (start + timedelta(hours=h) for h in (0, 8, 16)):
                period = int(t.timestamp()) // (8 * 3600) - 1
                out.append((t, rate(period, index), 8.0))
            return out

        SAMPLE = SimVenue(
            EXCHANGE, symbols=("BTC-TOY", "ETH-TOY"), pattern=r"[A-Z]+-TOY", day=day, lines=lines,
            settled=settled,
        )
    ''',
}


@pytest.fixture
def toy_registered(tmp_path, monkeypatch):
    """The toy package on sys.path and in the registry: one more entry in `PACKAGES`, registered."""
    package = tmp_path / "toyvenue"
    package.mkdir()
    for name, text in TOY_FILES.items():
        (package / name).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PACKAGES", (*registry.PACKAGES, "toyvenue"))
    monkeypatch.setitem(registry.VENUES, TOY, registry.descriptor("toyvenue"))
    yield registry.venue(TOY)
    for name in [m for m in sys.modules if m == "toyvenue" or m.startswith("toyvenue.")]:
        del sys.modules[name]


def test_a_registered_toy_venue_runs_from_sample_server_to_settlements(toy_registered, settings, tmp_path):
    assert TOY in registry.exchanges() and registry.venue(TOY).label == "Toy"
    symbols = ["BTC-TOY", "ETH-TOY"]
    feed = SampleFeed(seed=7, interval_seconds=60, symbols={TOY: symbols})
    days = [DAY, DAY + timedelta(days=1)]
    with start_in_thread(feed, data_dir=tmp_path / "sample") as server:
        tardis = pointed_at(settings.tardis, server)
        for source in ("replay", "datasets"):
            db = open_db(tmp_path / f"{source}.db")
            for day in days:
                got = extract_range(tardis, TOY, symbols, day, day + timedelta(days=1), source)
                assert got.malformed == 0 and got.symbols == {s: 1440 for s in symbols}
                load_extracted(db, got, dict.fromkeys(symbols, 8.0), day=day.date().isoformat())
            for symbol in symbols:
                minutes = read_minutes(db, TOY, symbol, DAY, DAY + timedelta(days=2))
                assert len(minutes) == 2 * 1440
                stored = read_funding(db, TOY, symbol, DAY, DAY + timedelta(days=2))
                truth = [
                    (t, r, h) for d in days for t, r, h in feed.settlements(TOY, symbol, d.date()) if t > DAY
                ]
                columns = (stored["funding_time"], stored["rate"], stored["interval_hours"])
                got_rows = [(t.to_pydatetime(), r, h) for t, r, h in zip(*columns, strict=True)]
                assert len(truth) == 5 and got_rows == truth  # 08:00, 16:00, then three
            db.close()


# -- the static check ------------------------------------------------------------------------------

EXCHANGE_IDS = (
    "gate-io-futures",
    "bitfinex-derivatives",
    "binance-futures",
    "okex-swap",
    "bybit",
    "hyperliquid",
)
SCANNED = ("pipelines", "loopback", "jobs", "bench")
# Modules that may spell an exchange id, and why. Each entry is a debt or a deliberate choice;
# the test fails on an entry that no longer spells one, so the list only shrinks.
EXEMPT = {
    # The names of the venues, declared once for everything that predates the folders: to go when
    # every consumer imports `EXCHANGE` from the venue's package (or asks the registry).
    "pipelines/core/columns.py": "the venue id constants (GATE, ...) most modules still import",
    # Config defaults: the default pair's venues and the example in a legs parse error.
    "pipelines/config/pairs.py": "the example leg in an error message (`gate-io-futures:BTC_USDT`)",
    "jobs/demo.py": "the demo's config names the venues of its pairs",
    # Sample feeds not yet moved into their folders (`loopback/<name>_sim.py`, render, groundtruth).
    "loopback/binance_sim.py": "sample feed still in loopback",
    "loopback/binance_render.py": "sample feed still in loopback",
    "loopback/okx_sim.py": "sample feed still in loopback",
    "loopback/okx_render.py": "sample feed still in loopback",
    "loopback/render.py": "sample feed still in loopback",
}


def _spells_an_id(text: str) -> bool:
    # An id inside a string literal or in prose ("bybit" alone also names Bybit's Python modules,
    # so the check looks for the quoted or backticked id, or the dotted/dashed Tardis forms).
    return any(
        re.search(rf"[\"'`]{re.escape(e)}[\"'`:]|\b{re.escape(e)}\b", text) for e in EXCHANGE_IDS[:4]
    ) or any(re.search(rf"[\"'`]{e}[\"'`:]", text) for e in EXCHANGE_IDS[4:])


def test_no_module_outside_the_venue_folders_spells_an_exchange_id():
    venue_dirs = {p.parent for p in (ROOT / "pipelines" / "venues").glob("*/__init__.py")}
    found = set()
    for package in SCANNED:
        for path in (ROOT / package).rglob("*.py"):
            if path.parent in venue_dirs or path.name == "registry.py" and path.parent.name == "venues":
                continue
            if _spells_an_id(path.read_text()):
                found.add(str(path.relative_to(ROOT)))
    assert found - set(EXEMPT) == set(), (
        f"exchange ids outside the venue folders: {sorted(found - set(EXEMPT))}"
    )
    assert set(EXEMPT) - found == set(), f"no longer spell an id, remove: {sorted(set(EXEMPT) - found)}"
