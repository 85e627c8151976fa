"""The lesson Markdown subset renders to safe HTML: formatting works, nothing raw gets through."""

from __future__ import annotations

import pytest

from raftviz.lessons.markdown import markdown_problems, render_inline, render_markdown


def test_paragraphs_and_inline_formatting() -> None:
    html = render_markdown("A **bold** and *italic* `x = 1`\nsame paragraph.\n\nSecond.")
    assert html == (
        "<p>A <strong>bold</strong> and <em>italic</em> <code>x = 1</code> same paragraph.</p>"
        "\n<p>Second.</p>"
    )


def test_lists_bulleted_and_numbered_with_continuation_lines() -> None:
    html = render_markdown("Steps:\n\n1. one\n2. two\n   continued\n\n- a\n- **b**")
    assert html == (
        "<p>Steps:</p>\n<ol><li>one</li><li>two continued</li></ol>\n"
        "<ul><li>a</li><li><strong>b</strong></li></ul>"
    )


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "**<b>bold</b>**",
        "`<i>code</i>`",
        "[<b>x</b>](https://example.org)",
        '[x](https://example.org" onmouseover="alert(1))',
    ],
)
def test_raw_html_is_always_escaped(source: str) -> None:
    html = render_markdown(source)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "<i>" not in html and 'onmouseover="' not in html


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://raft.github.io", True),
        ("/lessons/raft", True),
        ("#top", True),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("//evil.example", False),  # protocol-relative: another site
    ],
)
def test_links_only_for_safe_addresses(url: str, kept: bool) -> None:
    html = render_inline(f"[paper]({url})")
    assert ("<a href=" in html) is kept
    assert "paper" in html
    if kept and url.startswith("http"):
        assert 'rel="noopener noreferrer"' in html


def test_unmatched_markers_are_shown_as_text() -> None:
    assert render_inline("a * b ` c [d]") == "a * b ` c [d]"
    assert render_inline("3 < 4 & 5 > 2") == "3 &lt; 4 &amp; 5 &gt; 2"


def test_authoring_problems_are_reported() -> None:
    assert markdown_problems("plain **text**") == []
    assert "raw HTML" in markdown_problems("a <b>bold</b> claim")[0]
    assert "not allowed" in markdown_problems("[x](javascript:void)")[0]
    assert markdown_problems("a < b and c > d") == []
