"""Issue 17's backtest findings on hand-written stored inputs (a real SQLite file): one equity point
per instant, exits in `--exit`'s order, a range held to both legs' settlements, both legs' marks
from one minute. Every expected figure is worked out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.backtest.engine import run_backtest
from pipelines.backtest.pnl import Costs
from pipelines.backtest.rules import Rules, parse_rules
from tests.pipelines.backtest.seed import A, B, mark, seed, settlement, window

START = datetime(2024, 3, 1, tzinfo=UTC)
T = "2024-03-0{}T{}:00:00Z".format
M = "2024-03-0{}T{}Z".format  # a minute, "HH:MM:SS"
FREE = Costs(notional=10_000, fee_a=0, fee_b=0, slippage_bps=0)


def flat(*minutes: str) -> list[dict]:
    """Both legs at 100 in each of these minutes: no spread P&L."""
    return [mark(leg, m, 100.0) for leg in (A, B) for m in minutes]


def test_one_instants_settlements_are_one_equity_point(db, settings):
    """Short Gate, long Bitfinex from 01T08 to 02T00. At 01T16 Gate's -0.05 % costs the short 5 and
    Bitfinex's -0.05 % pays the long 5: the instant nets to 0. Equity per instant: 0, -4 (half of
    the four fills' 2 bps slippage at entry), -4 (01T16), -4 (02T00: rates 0), then -8 at the exit
    (the other half). Counted leg by leg, 01T16 would dip to -9 first (Gate listed before Bitfinex)."""
    seed(
        db,
        [window(T(1, "08"), 0.3), window(T(1, "16"), 0.3), window(T(2, "00"), -0.1)],
        [settlement(A, T(1, "16"), -0.0005, 8), settlement(B, T(1, "16"), -0.0005, 8)]
        + [settlement(A, T(2, "00"), 0.0, 8), settlement(B, T(2, "00"), 0.0, 8)],
        flat(M(1, "07:59:00"), M(1, "23:59:00")),
    )
    costs = Costs(notional=10_000, fee_a=0, fee_b=0, slippage_bps=2)
    result = run_backtest(db, settings.pair("BTC"), START, datetime(2024, 3, 2, tzinfo=UTC), Rules(), costs)
    assert result.trades["net_pnl"].tolist() == pytest.approx([-8.0])
    assert result.run["max_drawdown"] == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("exits", "reason"),
    [("net:0,sign", "net"), ("sign,net:0", "sign"), ("hold:8,sign,net:0", "hold"), ("sign,hold:8", "sign")],
)
def test_the_first_listed_exit_that_fires_names_the_exit(db, settings, exits, reason):
    """At 01T16 the carry is below 0, the other leg pays more and 8 h are held: all three fire."""
    seed(
        db,
        [window(T(1, "08"), 0.3, short="a"), window(T(1, "16"), -0.1, short="b")],
        [settlement(A, T(1, "16"), 0.0001, 8), settlement(B, T(1, "16"), 0.0001, 8)],
        flat(M(1, "07:59:00"), M(1, "15:59:00")),
    )
    rules = parse_rules("net:0.25", exits)
    result = run_backtest(db, settings.pair("BTC"), START, datetime(2024, 3, 2, tzinfo=UTC), rules, FREE)
    assert result.trades["exit_reason"].tolist() == [reason]
    assert result.run["rules"] == f"entry net:0.25; exit {exits},end"


def test_a_leg_whose_settlements_stop_early_ends_the_range(db, settings):
    """Windows to 03T00, Gate settles to 03T00 but Bitfinex only to 02T08 (its 02T16 one not stored
    yet): the range ends at 02T08, the last window before Bitfinex's next settlement is due. The
    position (short Gate, long Bitfinex, from 01T08) closes there: Gate 01T16, 02T00, 02T08 at
    0.01 % against Bitfinex's three at 0.005 %: 10,000 x (0.0003 - 0.00015) = 1.5. Held to 03T00 it
    would count Gate's 02T16 and 03T00 alone: 3.5."""
    ends = [T(1, "08"), T(1, "16"), T(2, "00"), T(2, "08"), T(2, "16"), T(3, "00")]
    gate = [settlement(A, t, 0.0001, 8) for t in ends[1:]]
    bfx = [settlement(B, t, 0.00005, 8) for t in ends[1:4]]
    seed(db, [window(t, 0.3) for t in ends], gate + bfx, flat(M(1, "07:59:00"), M(2, "07:59:00")))
    end = datetime(2024, 3, 3, tzinfo=UTC)
    result = run_backtest(db, settings.pair("BTC"), START, end, Rules(entry_net=0.25, exit_net=0.0), FREE)
    [trade] = result.trades.to_dict("records")
    assert (trade["exit_time"], trade["exit_reason"]) == (datetime(2024, 3, 2, 8, tzinfo=UTC), "end")
    assert trade["settlements"] == 3 + 3
    assert trade["funding_pnl"] == pytest.approx(1.5, abs=1e-9)
    assert result.run["range_end"] == T(2, "08")
    assert result.run["annualised_return"] == pytest.approx(1.5 / 10_000 * 8760 / 32)
    [note] = result.notes
    assert note.startswith("range ends at 2024-03-02 08:00: bitfinex-derivatives:BTCF0:USTF0 settlements")
    assert "stored to 2024-03-02 08:00, the next one (due 2024-03-02 16:00) is not" in note


def marked_trade(db, settings, marks: list[dict]) -> dict:
    """Short Gate, long Bitfinex from the 01T08 close to the 01T16 close (carry below 0)."""
    seed(
        db,
        [window(T(1, "08"), 0.3, short="a"), window(T(1, "16"), -0.1, short="a")],
        [settlement(A, T(1, "16"), 0.0, 8), settlement(B, T(1, "16"), 0.0, 8)],
        marks,
    )
    result = run_backtest(db, settings.pair("BTC"), START, datetime(2024, 3, 2, tzinfo=UTC), Rules(), FREE)
    [trade] = result.trades.to_dict("records")
    return trade


def test_both_legs_marks_come_from_the_same_minute(db, settings):
    """Bitfinex's last mark before 08:00 is at 07:30; Gate has 07:30 (98) and 07:59 (100). Both are
    taken at 07:30, the latest minute with both: spread = 10,000 x (101/100 - 99/98) = -2.04...
    (Gate's 07:59 mark against Bitfinex's 07:30 one would give 10,000 x (1.01 - 0.99) = 200)."""
    marks = [
        mark(A, M(1, "07:30:00"), 98.0),
        mark(A, M(1, "07:59:00"), 100.0),
        mark(B, M(1, "07:30:00"), 100.0),
    ]
    marks += [mark(A, M(1, "15:59:00"), 99.0), mark(B, M(1, "15:59:00"), 101.0)]
    trade = marked_trade(db, settings, marks)
    assert trade["marks_missing"] == 0
    assert trade["spread_pnl"] == pytest.approx(10_000 * (101 / 100 - 99 / 98))


def test_legs_marked_in_no_common_minute_are_flagged(db, settings):
    """Gate marked at 07:59, Bitfinex at 07:58, no minute with both within the hour: no spread P&L,
    marks_missing = 1."""
    marks = [mark(A, M(1, "07:59:00"), 100.0), mark(B, M(1, "07:58:00"), 100.0)]
    marks += [mark(A, M(1, "15:59:00"), 99.0), mark(B, M(1, "15:59:00"), 101.0)]
    trade = marked_trade(db, settings, marks)
    assert (trade["marks_missing"], trade["spread_pnl"]) == (1, 0.0)


def test_a_leg_with_no_settlement_stored_leaves_nothing_to_backtest(db, settings):
    """Windows and Gate's settlements are stored, Bitfinex's not at all: every trade would be one
    leg's funding, so no window is backtested and the note names the leg."""
    seed(db, [window(T(1, "08"), 0.3), window(T(1, "16"), -0.1)], [settlement(A, T(1, "16"), 0.0001, 8)])
    result = run_backtest(db, settings.pair("BTC"), START, datetime(2024, 3, 2, tzinfo=UTC), Rules(), FREE)
    assert (result.windows, len(result.trades)) == (0, 0)
    assert result.notes[-1] == (
        "no window to backtest: bitfinex-derivatives:BTCF0:USTF0 settlements are not stored,"
        " so every close would count one leg's funding only"
    )
