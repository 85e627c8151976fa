"""A small, safe Markdown subset for lesson text, rendered to HTML in Python.

The subset, and nothing else:

- paragraphs: blocks separated by a blank line; single line breaks inside a block are spaces
- lists: consecutive lines starting with ``- `` (bulleted) or ``1. `` (numbered); a line that
  starts with spaces continues the item above
- inline: ``**bold**``, ``*italic*``, ```code```, ``[text](url)`` where url is ``http://``,
  ``https://``, or a path on this site starting with ``/`` (not ``//``) or ``#``

Every character of the source is HTML-escaped on the way out, so raw HTML is shown as text and
never reaches the page as markup; a link whose address is not allowed is rendered as its text.
Unmatched markers (a lone ``*`` or a backtick) are shown as they are.
"""

from __future__ import annotations

import re
from html import escape

_BULLET = re.compile(r"^[-] +(.*)$")
_NUMBERED = re.compile(r"^\d{1,3}[.] +(.*)$")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
_SAFE_URL = re.compile(r"^(https?://[^\s<>\"']+|/(?!/)[^\s<>\"']*|#[\w-]*)$")
_RAW_HTML = re.compile(r"<(?:/?[A-Za-z][\w-]*(?:\s[^<>]*)?|!--[^>]*)>")


def render_markdown(text: str) -> str:
    """Render lesson Markdown (the subset above) to safe HTML."""
    blocks: list[str] = []
    for block in _blocks(text):
        kind, items = block
        if kind == "p":
            blocks.append(f"<p>{render_inline(' '.join(items))}</p>")
        else:
            inner = "".join(f"<li>{render_inline(item)}</li>" for item in items)
            blocks.append(f"<{kind}>{inner}</{kind}>")
    return "\n".join(blocks)


def render_inline(text: str) -> str:
    """Render one line of inline Markdown (bold, italic, code, links) to safe HTML."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "`":
            end = text.find("`", i + 1)
            if end > i + 1:
                out.append(f"<code>{escape(text[i + 1 : end])}</code>")
                i = end + 1
                continue
        elif text.startswith("**", i):
            end = text.find("**", i + 2)
            if end > i + 2:
                out.append(f"<strong>{render_inline(text[i + 2 : end])}</strong>")
                i = end + 2
                continue
        elif ch == "*":
            end = text.find("*", i + 1)
            if end > i + 1 and not text.startswith("**", end):
                out.append(f"<em>{render_inline(text[i + 1 : end])}</em>")
                i = end + 1
                continue
        elif ch == "[":
            m = _LINK.match(text, i)
            if m:
                out.append(_link(m.group(1), m.group(2)))
                i = m.end()
                continue
        out.append(escape(ch))
        i += 1
    return "".join(out)


def markdown_problems(text: str) -> list[str]:
    """Authoring mistakes in lesson text: raw HTML and links that would not be rendered."""
    problems = []
    if _RAW_HTML.search(text):
        problems.append(
            "raw HTML is shown as text, not rendered; use **bold**, *italic*, `code` or lists"
        )
    for m in _LINK.finditer(text):
        if not _SAFE_URL.match(m.group(2)):
            problems.append(
                f"link address {m.group(2)!r} is not allowed; use http(s)://, /path or #anchor"
            )
    return problems


def _link(label: str, url: str) -> str:
    if not _SAFE_URL.match(url):
        return render_inline(label)
    external = url.startswith("http")
    extra = ' target="_blank" rel="noopener noreferrer"' if external else ""
    return f'<a href="{escape(url, quote=True)}"{extra}>{render_inline(label)}</a>'


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """Split text into ("p", lines) paragraphs and ("ul"/"ol", items) lists."""
    blocks: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            current = None
            continue
        bullet = _BULLET.match(line)
        numbered = None if bullet else _NUMBERED.match(line)
        item = bullet or numbered
        if item:
            kind = "ul" if bullet else "ol"
            if current is None or current[0] != kind:
                current = (kind, [])
                blocks.append(current)
            current[1].append(item.group(1))
        elif current is not None and current[0] != "p" and raw[:1] in (" ", "\t"):
            current[1][-1] += " " + line  # an indented line continues the list item
        elif current is not None and current[0] == "p":
            current[1].append(line)
        else:
            current = ("p", [line])
            blocks.append(current)
    return blocks
