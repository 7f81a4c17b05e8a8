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
    "stated_rate",
    "stated_time",
)
# A venue whose feed states settled funding (OKX `settFundingRate` at `prevFundingTime`) appends
# these two to its records, after the DERIVATIVE_TICKER fields: the rate (float) and the funding
# time it was settled at (int microseconds). Records of other venues stop at DERIVATIVE_TICKER.
STATED = ("stated_rate", "stated_time")

# Settled funding (`funding` table). `stated_rate` is the settled rate where the venue's feed states
# it (NaN elsewhere); `predicted_kind` says what `predicted_rate` means (PREDICTED_KINDS);
# `evidence` what decided the settlement's time, rate and interval (EVIDENCE); `warning` is text a
# trader reads wherever the evidence is ambiguous or disagrees with the configuration (None if not).
FUNDING = (
    "exchange",
    "symbol",
    "funding_time",
    "rate",
    "predicted_rate",
    "interval_hours",
    "apr",
    "stated_rate",
    "predicted_kind",
    "evidence",
    "warning",
)
# What `funding.predicted_rate` is, per settlement (it depends on the venue and its era):
# - "settled": the venue shows the settled rate itself as the prediction (Gate since 2022-08): its
#   forecast error is 0 by construction and says nothing;
# - "estimate": the running estimate the venue showed when the period opened (Binance, Bybit V5,
#   Hyperliquid, Bitfinex's accrued funding);
# - "forecast": a rate the venue fixed or forecast one period ahead (OKX `next_period`, Bybit
#   before V5, Gate before 2022-08).
PREDICTED_KINDS = ("settled", "estimate", "forecast")
# What decided a settlement (`funding.evidence`):
# - "data": the venue's data shows the funding time, the rate paid and the interval;
# - "stated": as "data", and the feed states the settled rate itself (OKX `settFundingRate`);
# - "hint": some part rests on the configured interval alone, unconfirmed by the data. A window
#   holding such a settlement is never complete, and carries the settlement's warning.
EVIDENCE = ("data", "stated", "hint")
