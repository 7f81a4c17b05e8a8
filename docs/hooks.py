"""MkDocs hook: one page per venue, wherever the venue's page lives.

A venue's page is `pipelines/venues/<name>/README.md` once the venue is a folder (issue #18), else
`docs/venues/<name>.md`. Either way it is served as `venues/<name>.md` and listed under "Venues" in
the nav, titled by its first heading up to the Tardis id, so moving the pages or adding a venue needs
no edit of mkdocs.yml.

It also unescapes `\\|` inside code spans of table rows: GitHub needs the escape there, Python-Markdown
keeps pipes inside code spans as they are and would print the backslash.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Venues"
CODE_SPAN = re.compile(r"`[^`]*`")


def venue_pages() -> dict[str, Path]:
    """Venue name -> its page: the folder READMEs when any exist, else docs/venues/*.md."""
    folders = sorted(ROOT.glob("pipelines/venues/*/README.md"))
    if folders:
        return {path.parent.name: path for path in folders}
    return {path.stem: path for path in sorted((ROOT / "docs" / "venues").glob("*.md"))}


def title(path: Path) -> str:
    """The page's first heading, without the part from its Tardis id on (`Gate.io USDT perpetuals`)."""
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].split(" (`", 1)[0].strip()
    return path.stem


def on_config(config, **kwargs):
    """Append every venue page to the nav's Venues section."""
    for entry in config["nav"]:
        if isinstance(entry, dict) and SECTION in entry:
            entry[SECTION] = [item for item in entry[SECTION] if "venues/" not in str(item)]
            entry[SECTION] += [{title(path): f"venues/{name}.md"} for name, path in venue_pages().items()]
    return config


def on_files(files, config, **kwargs):
    """Serve each folder README as venues/<name>.md (replacing a docs/venues/ page of that name)."""
    for name, path in venue_pages().items():
        if ROOT / "docs" in path.parents:
            continue
        uri = f"venues/{name}.md"
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, **kwargs) -> str:
    """`replay\\|datasets` in a table cell's code reads `replay|datasets` on the site, as on GitHub."""
    return "\n".join(
        CODE_SPAN.sub(lambda span: span.group(0).replace("\\|", "|"), line) if line.startswith("|") else line
        for line in markdown.split("\n")
    )
