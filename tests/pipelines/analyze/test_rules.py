"""The words of the offline rules analyzer: the figure it means, and what fired."""

from __future__ import annotations

from pipelines.analyze.rules import rules_params, rules_verdict

CALM = {
    "complete": 1,
    "mark_spread_mean_bps": 3.0,
    "a_basis_mean_bps": 2.0,
    "b_basis_mean_bps": -1.0,
}


def test_a_carry_alert_names_net_and_gross_carry_with_signs(settings):
    row = {
        **CALM,
        "carry_apr": -1.17,
        "net_carry_apr": 1.05,
        "break_even_periods": 2.0,
        "z_funding_diff": 1.0,
    }
    verdict = rules_verdict("BTC@2024-03-01T08:00:00Z", row, rules_params(settings))
    assert verdict.action == "OPEN_ARB"
    assert verdict.alert == "BTC: net carry +105% APR (gross -117%), break-even 2.0 periods"
    assert verdict.rationale.startswith("Net carry +105% APR (gross -117%) after fees")
    assert "carry 105% APR" not in verdict.alert.replace("net carry +105% APR", "")


def test_an_extreme_verdict_driven_by_a_z_score_names_the_feature_and_its_z(settings):
    row = {**CALM, "net_carry_apr": 0.05, "z_funding_diff": -4.3, "z_a_rate": 1.2}
    verdict = rules_verdict("ETH@2024-03-01T08:00:00Z", row, rules_params(settings))
    assert (verdict.risk, verdict.action) == ("HIGH", "HOLD")
    assert verdict.alert == "ETH: extreme move, funding diff z=-4.3"
    assert "bps" not in verdict.alert and "bps" not in verdict.rationale


def test_an_extreme_verdict_driven_by_basis_names_that_basis_largest_first(settings):
    row = {**CALM, "a_basis_mean_bps": -80.0, "mark_spread_mean_bps": 120.0, "z_funding_diff": 4.4}
    verdict = rules_verdict("BTC@2024-03-01T08:00:00Z", row, rules_params(settings))
    assert verdict.alert == "BTC: extreme move, mark spread +120 bps, Gate basis -80 bps, funding diff z=4.4"
