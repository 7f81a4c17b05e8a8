"""`llm.tiers` in config.yaml: the `when` grammar, and one line naming the key for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config.settings import load_settings
from pipelines.core.errors import ConfigError


def with_llm(config_file: Path, **values) -> Path:
    data = yaml.safe_load(config_file.read_text())
    data["llm"].update(values)
    config_file.write_text(yaml.safe_dump(data))
    return config_file


def test_without_tiers_the_model_and_its_fallback_are_the_single_tier(config_file):
    llm = load_settings(with_llm(config_file, fallback_model="gpt-4.1"), env={}).llm
    (tier,) = llm.tier_list()
    assert (tier.model, tier.models, tier.when) == ("deepseek-v3.2", ["deepseek-v3.2", "gpt-4.1"], ())


def test_when_takes_actions_risks_and_a_confidence_threshold_any_of_them(config_file):
    tiers = [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": ["open_arb", " HIGH", "confidence<.6"]}]
    llm = load_settings(with_llm(config_file, tiers=tiers, fallback_model="gpt-4.1"), env={}).llm
    assert llm.tier_list()[1].when == ("OPEN_ARB", "HIGH", "confidence < 0.6")
    assert llm.tier_list()[0].fallback_model == "gpt-4.1"  # llm.fallback_model covers every tier
    one = load_settings(
        with_llm(config_file, tiers=[tiers[0], {"model": "gpt-4.1", "when": "WATCH"}]), env={}
    )
    assert one.llm.tier_list()[1].when == ("WATCH",)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"model": "deepseek-v3.2", "when": "HIGH"}], "llm.tiers: tier 1 sees every flagged window"),
        ([{"model": "deepseek-v3.2"}, {"model": "gpt-4.1"}], "llm.tiers: tier 2 (gpt-4.1) needs a 'when'"),
        (
            [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": "BUY"}],
            "llm.tiers.1.when: when 'BUY': give",
        ),
        (
            [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": "confidence < 1.5"}],
            "llm.tiers.1.when: when 'confidence < 1.5'",
        ),
        (
            [{"model": "deepseek-v3.2"}, {"model": "o9", "when": "HIGH"}],
            "llm: tiers.1: model 'o9' has no entry",
        ),
        (
            [
                {"model": "deepseek-v3.2", "budget_share": 0.7},
                {"model": "gpt-4.1", "when": "HIGH", "budget_share": 0.5},
            ],
            "llm.tiers: budget_share of the tiers adds up to more than 1",
        ),
        (
            [{"model": "deepseek-v3.2", "budget_share": 0}],
            "llm.tiers.0.budget_share: Input should be greater than 0",
        ),
        ([{"model": "deepseek-v3.2", "typo": 1}], "llm.tiers.0.typo: unknown key"),
    ],
)
def test_a_bad_tier_is_one_line_naming_the_key(config_file, tiers, message):
    with pytest.raises(ConfigError) as err:
        load_settings(with_llm(config_file, tiers=tiers), env={})
    text = str(err.value)
    assert "\n" not in text and f"{config_file}: {message}" in text
