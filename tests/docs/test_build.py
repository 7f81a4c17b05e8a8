"""The docs build: `mkdocs build --strict` (mkdocs.yml, Material) passes, and the hook serves every venue
page, from docs/venues/ today and from pipelines/venues/<name>/README.md once the venues are folders.
Skipped where mkdocs is not installed (it is in the dev extra, so `make test` runs it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("mkdocs")
pytest.importorskip("material")


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_build_strictly(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("commands", "configuration", "schema", "architecture", "venues/gate", "venues/okx"):
        assert (site / page / "index.html").is_file(), page


def test_the_venue_pages_come_from_the_venue_folders_once_they_exist(tmp_path, monkeypatch):
    hooks = load_hooks()
    (tmp_path / "docs" / "venues").mkdir(parents=True)
    (tmp_path / "docs" / "venues" / "gate.md").write_text(
        "# Gate.io USDT perpetuals (`gate-io-futures`): x\n"
    )
    monkeypatch.setattr(hooks, "ROOT", tmp_path)
    assert hooks.venue_pages() == {"gate": tmp_path / "docs" / "venues" / "gate.md"}

    folder = tmp_path / "pipelines" / "venues" / "kraken"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# Kraken futures (`kraken`): the rule\n")
    assert hooks.venue_pages() == {"kraken": folder / "README.md"}
    config = {
        "nav": [{"Home": "index.md"}, {"Venues": [{"Overview": "venues.md"}, {"Old": "venues/gate.md"}]}]
    }
    nav = hooks.on_config(config)["nav"]
    assert nav[1] == {"Venues": [{"Overview": "venues.md"}, {"Kraken futures": "venues/kraken.md"}]}


def test_escaped_pipes_in_table_code_read_as_pipes_on_the_site():
    hooks = load_hooks()
    page = "| `a\\|b` | c \\| d |\n`e\\|f` outside a table\n"
    assert hooks.on_page_markdown(page) == "| `a|b` | c \\| d |\n`e\\|f` outside a table\n"
