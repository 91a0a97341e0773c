"""workbench.ui.safe.text: outside text in a Markdown slot renders as written (checked with a CommonMark parser;
the browser test checks Streamlit's own renderer)."""
from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from workbench.ui.safe import WORD_JOINER, text

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
POISON = [
    "![x](http://127.0.0.1:9/doc-img.png)",
    "<img src=http://127.0.0.1:9/doc-html>",
    "[click](http://127.0.0.1:9/link) and <http://127.0.0.1:9/auto>",
    "**bold** _it_ *em* ~~gone~~ `code` $x^2$ \\(a\\)",
    "# heading\n- item\n1. first\n> quote\n    indented code\n| a | b |\n|---|---|\n| 1 | 2 |",
    "x <- c(1, 2); y -> z -- w >= v <= u ~= t <-> s",
    ":red[alarm] :material/home: :smile: &amp; &#x41; \\",
    "data.frame ends with a backslash\\",
    "setext\n===",
]


def shown(markdown: str) -> str:
    """The text a reader sees in the rendered HTML (tags dropped, entities resolved, line breaks as newlines)."""
    out = MD.render(markdown)
    out = re.sub(r"<br\s*/?>\n?", "\n", out)
    return html.unescape(re.sub(r"<[^>]+>", "", out)).strip("\n").replace(WORD_JOINER, "")


@pytest.mark.parametrize("s", POISON)
def test_renders_literally_with_no_markup(s):
    out = MD.render(text(s))
    assert re.findall(r"<(\w+)", out) in (["p"], ["p"] + ["br"] * s.count("\n")), out
    assert shown(text(s)) == s


def test_every_character_survives_including_leading_spaces_and_newlines():
    s = "  two leading spaces\nline two\r\nline three"
    assert html.unescape(re.sub(r"<[^>]+>", "", MD.render(text(s)))).replace("\n", "") == \
        "  two leading spacesline twoline three"
    assert "<pre>" not in MD.render(text("    four spaces would be code"))


def test_typography_pairs_are_kept_with_an_invisible_joiner_only_where_streamlit_would_replace_them():
    assert text("a <- b") == f"a \\<{WORD_JOINER}\\- b"
    assert text("x<-y") == "x\\<\\-y"  # no spaces around: Streamlit leaves it alone, so no joiner
    assert text("plain words") == "plain words"


def test_bare_urls_and_addresses_are_not_turned_into_links():
    """Streamlit's GFM links bare URLs after escapes are resolved: a word joiner breaks the pattern."""
    out = text("see http://127.0.0.1:9/x, HTTPS://a.b, www.example.com and me@example.com")
    assert f"http{WORD_JOINER}\\:" in out and f"HTTPS{WORD_JOINER}\\:" in out
    assert f"www{WORD_JOINER}\\." in out and f"@{WORD_JOINER}example" in out


def test_non_strings_are_shown_as_their_str():
    assert text(3.5) == "3\\.5"
    assert text(ValueError("bad [x](y)")) == "bad \\[x\\]\\(y\\)"
