"""The reference pages name everything there is: every command, subcommand and option of the CLI
(walked from `jobs.cli:cli`) in docs/commands.md, and every config key of the settings model (walked
from `pipelines.config.settings.Settings`, nested models included, by alias) in
docs/configuration.md. A failure lists what is missing."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import click
from pydantic import BaseModel

from jobs.cli import cli
from pipelines.config.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMANDS = (DOCS / "commands.md").read_text()
CONFIGURATION = (DOCS / "configuration.md").read_text()


def commands(group: click.Command = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command below the root, as ("llm models", command)."""
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield " ".join((*path, name)), command
        yield from commands(command, (*path, name))


def long_flags(command: click.Command) -> set[str]:
    """The `--long` spellings of a command's options, both halves of a `--send/--dry-run` flag."""
    return {
        flag
        for param in command.params
        if isinstance(param, click.Option)
        for flag in (*param.opts, *param.secondary_opts)
        if flag.startswith("--")
    }


def command_rows(name: str) -> str:
    """The commands.md table rows documenting `arbdb <name>`."""
    start = re.compile(rf"^\| `arbdb {re.escape(name)}(?![\w-])")
    return "\n".join(line for line in COMMANDS.splitlines() if start.match(line))


def test_every_command_and_option_is_in_the_commands_page():
    global_flags = long_flags(cli)
    missing = [f"option {flag} (every command)" for flag in sorted(global_flags) if flag not in COMMANDS]
    for name, command in commands():
        if not re.search(rf"`arbdb {re.escape(name)}(?![\w-])", COMMANDS):
            missing.append(f"command `arbdb {name}`")
            continue
        rows = command_rows(name)
        for flag in sorted(long_flags(command) - global_flags):
            if not re.search(rf"{re.escape(flag)}(?![\w-])", rows):
                missing.append(f"`arbdb {name} {flag}`")
    assert not missing, "docs/commands.md does not name: " + ", ".join(missing)


def _models(annotation) -> Iterator[type[BaseModel]]:
    """The pydantic models inside an annotation (`tuple[Pair, ...]`, `dict[str, ModelPrice]`, `X | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def config_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every key of the settings, dotted (`llm.tiers.when`, `llm.prices.input_per_mtok`), by alias."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        yield key
        for nested in dict.fromkeys(_models(field.annotation)):
            yield from config_keys(nested, key + ".")


def section_names() -> dict[str, set[str]]:
    """Per row of configuration.md's key table (`tardis`, `markets[]`, `top level`): the names in its code."""
    rows = {}
    for line in CONFIGURATION.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| ") or len(cells) < 2:
            continue
        section = cells[0].strip("| `").removesuffix("[]").removesuffix("`")
        section = "" if section == "top level" else section
        spans = re.findall(r"`([^`]+)`", " | ".join(cells[1:]))
        rows[section] = {word for span in spans for word in re.findall(r"[A-Za-z_]\w*", span)}
    return rows


def test_every_config_key_is_in_the_configuration_page():
    rows = section_names()
    missing = []
    for key in config_keys():
        top, _, rest = key.partition(".")
        section, leaf = (top, key.rsplit(".", 1)[1]) if rest else ("", top)
        documented = (
            f"`{key}`" in CONFIGURATION or (leaf in rows.get(section, set())) or (not rest and top in rows)
        )
        if not documented:
            missing.append(key)
    assert not missing, "docs/configuration.md does not name the config keys: " + ", ".join(missing)


def test_the_walks_find_what_they_should():
    """The checks above are only as good as the walks: they reach subcommands, flags and nested keys."""
    names = dict(commands())
    assert "llm models" in names and "backfill" in names
    assert {"--from", "--to", "--scheduler"} <= long_flags(names["backfill"])
    assert {"--send", "--dry-run"} <= long_flags(names["report"])
    keys = set(config_keys())
    assert {
        "database",
        "tardis.executor",
        "llm.tiers.when",
        "llm.prices.input_per_mtok",
        "markets.coin",
    } <= keys
