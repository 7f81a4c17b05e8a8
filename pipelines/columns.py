"""Column names, declared once.

`DERIVATIVE_TICKER` is Tardis' normalized record, in the documented CSV order. In memory a record is
a tuple in exactly this order: exchange and symbol as str, the three timestamps as int microseconds
since the epoch (UTC) or None, every other field float or None.
"""

GATE = "gate-io-futures"
BITFINEX = "bitfinex-derivatives"
BINANCE = "binance-futures"
BYBIT = "bybit"
OKX = "okex-swap"
HYPERLIQUID = "hyperliquid"
# The venues with a module in `pipelines.venues` (its registry).
EXCHANGES = (GATE, BITFINEX, BINANCE, BYBIT, OKX, HYPERLIQUID)
# What else is particular to an exchange (channel, history start, normalizer) is in `pipelines.venues`.
# The two legs of a pair, as window columns name them (`a_rate`, `b_rate`), in the pair's order;
# `long_side`/`short_side` hold one of them. Which venue each is comes with the pair (its legs).
SIDES = ("a", "b")

DERIVATIVE_TICKER = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "funding_timestamp",
    "funding_rate",
    "predicted_funding_rate",
    "open_interest",
    "last_price",
    "index_price",
    "mark_price",
)
# Fields whose change emits a new record (a change of `timestamp` alone emits nothing).
VALUE_FIELDS = DERIVATIVE_TICKER[4:]

# Minute history (`tickers` table): the last value of each field within the minute.
MINUTE = (
    "exchange",
    "symbol",
    "ts",
    "mark_price",
    "index_price",
    "last_price",
    "funding_rate",
    "predicted_funding_rate",
    "funding_timestamp",
    "open_interest",
)

# Settled funding (`funding` table).
FUNDING = ("exchange", "symbol", "funding_time", "rate", "predicted_rate", "interval_hours", "apr")
