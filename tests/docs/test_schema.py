"""docs/schema.md is generated from the store (docs/gen_schema.py): the committed page must be what
the generator renders now, so a schema change without `make docs` fails here, naming the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipelines.store import SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "docs" / "gen_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schema_page_is_what_the_store_generates():
    gen = load_generator()
    current = gen.PAGE.read_text()
    assert gen.render(current) == current, "docs/schema.md is out of date: run `make docs`"


def test_every_table_and_column_of_the_store_is_on_the_page():
    text = (ROOT / "docs" / "schema.md").read_text()
    for table, (columns, _, _) in SCHEMA.items():
        assert f"### `{table}`" in text
        assert all(f"| `{column}` |" in text for column in columns), table


def test_the_hand_written_prose_survives_a_regeneration():
    gen = load_generator()
    page = gen.render("# Schema\n\nprose by hand\n\n" + gen.MARKER + "\n\nstale tables\n")
    assert page.startswith("# Schema\n\nprose by hand\n\n" + gen.MARKER)
    assert "stale tables" not in page and "### `windows`" in page
