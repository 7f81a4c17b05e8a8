"""Hand-written stored inputs for backtest tests: windows, settlements and minute marks of one pair."""

from __future__ import annotations

from pipelines.store import transaction, upsert

A = ("gate-io-futures", "BTC_USDT")
B = ("bitfinex-derivatives", "BTCF0:USTF0")


def window(end: str, net: float | None, short: str | None = "a", flagged: int = 0, start: str = "") -> dict:
    """A BTC window ending at `end` (ISO) with its net carry APR and the leg paying more (`short`)."""
    return {
        "pair": "BTC",
        "window_start": start or end,  # not read by the backtest
        "window_end": end,
        "a_exchange": A[0],
        "a_symbol": A[1],
        "b_exchange": B[0],
        "b_symbol": B[1],
        "window_hours": 8.0,
        "net_carry_apr": net,
        "short_side": short,
        "long_side": {"a": "b", "b": "a"}.get(short),
        "complete": 1,
        "flagged": flagged,
        "warnings": "[]",
        "reasons": "[]",
    }


def settlement(leg: tuple[str, str], time: str, rate: float, hours: float) -> dict:
    return {
        "exchange": leg[0],
        "symbol": leg[1],
        "funding_time": time,
        "rate": rate,
        "predicted_rate": None,
        "interval_hours": hours,
        "apr": rate * 8760 / hours,
    }


def mark(leg: tuple[str, str], ts: str, price: float) -> dict:
    return {"exchange": leg[0], "symbol": leg[1], "ts": ts, "mark_price": price}


def seed(db, windows=(), funding=(), marks=(), verdicts=()) -> None:
    with transaction(db):
        upsert(db, "windows", list(windows))
        upsert(db, "funding", list(funding))
        upsert(db, "tickers", list(marks))
        upsert(db, "verdicts", list(verdicts))
