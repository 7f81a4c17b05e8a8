"""`arbdb llm models`: the models the gateway offers beside the configured ones, with their prices."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipelines.analyze.models import gateway_models, model_rows
from pipelines.config.settings import LLM
from pipelines.core.errors import ConfigError


def models_table(llm: LLM) -> Table:
    """The gateway's models (and configured ones it lacks): offered, configured price, used by a tier."""
    if llm.offline:
        raise ConfigError("llm models: no LLM key; set HOLYSHEEP_API_KEY to ask the gateway for its models")
    rows = model_rows(llm, gateway_models(llm))
    table = Table(title=f"models at {llm.base_url}")
    for head in ("model", "offered", "price (in / out per Mtok)", "used"):
        table.add_column(head)
    tiers = llm.tier_list()
    for row in rows:
        price = llm.prices.get(row.model)
        priced = f"${price.input_per_mtok:g} / ${price.output_per_mtok:g}" if price else "no price"
        used = ", ".join(f"tier {i}" for i, t in enumerate(tiers, 1) if row.model in t.models)
        table.add_row(row.model, "yes" if row.offered else "NOT LISTED", priced, used)
    return table


def print_models(llm: LLM) -> None:
    Console(highlight=False, soft_wrap=True).print(models_table(llm))
