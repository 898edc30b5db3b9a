"""The code blocks of the README and the docs pages, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))


def fenced(language: str, pages: tuple[Path, ...] = PAGES) -> list[tuple[Path, str]]:
    """Every ```language block of the pages, with the page it is on."""
    pattern = re.compile(rf"^```{language}\n(.*?)^```", re.S | re.M)
    return [(page, m.group(1)) for page in pages for m in pattern.finditer(page.read_text())]


def marked_block(name: str) -> str:
    """The bash block under `<!-- tested: NAME -->`, on whichever page holds it (exactly one)."""
    found = [
        m.group(1)
        for page in PAGES
        for m in re.finditer(
            rf"<!-- tested: {re.escape(name)} -->\n```bash\n(.*?)```", page.read_text(), re.S
        )
    ]
    assert len(found) == 1, f"{len(found)} blocks marked `<!-- tested: {name} -->` (want one)"
    return found[0]
