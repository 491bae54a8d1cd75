"""Markdown read as GitHub reads it (markdown-it-py, CommonMark with GFM tables): tables, links, heading anchors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

_MD = MarkdownIt("commonmark").enable("table")
# An explicit anchor in raw HTML: <a id="x">, <a name="x">.
_HTML_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")


def _walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def tables(text: str) -> list[list[list[str]]]:
    """Each table as rows of cells (the header row first), a cell as the markdown it holds, pipes unescaped."""
    found: list[list[list[str]]] = []
    row: list[str] | None = None
    for token in _MD.parse(text):
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close" and row is not None:
            found[-1].append(row)
            row = None
    return found


def table_with_header(text: str, header: list[str]) -> list[list[str]]:
    """The rows (header excluded) of the one table whose header is `header`."""
    matches = [t for t in tables(text) if t and t[0] == header]
    assert len(matches) == 1, f"{len(matches)} tables with header {header}"
    return matches[0][1:]


def links(text: str) -> list[str]:
    """Every link and image target, as written (code spans and code blocks hold none)."""
    targets: list[str] = []
    for token in _walk(_MD.parse(text)):
        if token.type == "link_open":
            targets.append(str(token.attrs.get("href", "")))
        elif token.type == "image":
            targets.append(str(token.attrs.get("src", "")))
    return targets


def slug(heading: str) -> str:
    """GitHub's heading anchor (github-slugger): lower case, punctuation and symbols dropped, spaces → `-`."""
    kept = "".join(c for c in heading.lower() if c in "-_ " or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every `#fragment` a link into this file may use: heading slugs (repeats get -1, -2, …) and HTML ids."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    tokens = _MD.parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[i + 1]
            words = [
                " " if child.type == "softbreak" else child.content
                for child in inline.children or []
                if child.type in ("text", "code_inline", "softbreak")
            ]
            base = slug("".join(words).strip())
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        elif token.type == "html_block":
            found.update(_HTML_ANCHOR.findall(token.content))
    for token in _walk(tokens):
        if token.type == "html_inline":
            found.update(_HTML_ANCHOR.findall(token.content))
    return found
