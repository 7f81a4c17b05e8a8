"""Exchange id -> `Venue`. A venue is one folder `pipelines/venues/<name>/` and one line in `PACKAGES`.

The folder's `__init__` defines `VENUE` (its descriptor: `pipelines.venues.venue.Venue`) and
`EXCHANGE` (its Tardis id); `normalize`, `settle`, `symbols` (where it has symbol rules), `sample`
(its sample feed) and `README.md` (its docs page) sit beside it. Everything above the venues layer
(extract, load, the loopback servers, bench) finds a venue here, never by its name.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pipelines.venues.venue import Venue

# One line per venue: its package. The order is the order venues are listed in (help, errors).
PACKAGES: tuple[str, ...] = (
    "pipelines.venues.gate",
    "pipelines.venues.bitfinex",
    "pipelines.venues.binance",
    "pipelines.venues.bybit",
    "pipelines.venues.okx",
    "pipelines.venues.hyperliquid",
)


def descriptor(package: str) -> Venue:
    """The `VENUE` of a venue package (imported on first use)."""
    return importlib.import_module(package).VENUE


# Exchange id -> Venue, in `PACKAGES` order. Mutable on purpose: `register` (and a test's
# monkeypatch.setitem) adds a venue without touching any module that imported this dict.
VENUES: dict[str, Venue] = {v.exchange: v for v in map(descriptor, PACKAGES)}


def register(package: str) -> Venue:
    """Add the venue of `package` (a module with `VENUE`) to `VENUES`; returns its descriptor."""
    found = descriptor(package)
    VENUES[found.exchange] = found
    return found


def venue(exchange: str) -> Venue:
    """The venue of a Tardis exchange id (KeyError for an unknown one)."""
    return VENUES[exchange]


def exchanges() -> tuple[str, ...]:
    """The Tardis ids of every registered venue, in registry order."""
    return tuple(VENUES)


def sample(exchange: str) -> ModuleType:
    """The sample-feed module of a venue (`<package>.sample`, imported on first use): its `SAMPLE`
    is what the loopback Tardis server simulates and renders for that exchange."""
    return importlib.import_module(venue(exchange).sample)
