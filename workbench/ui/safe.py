"""Text from outside (documents, answers, file and collection names, error messages) for Streamlit's
Markdown slots: st.markdown/write/caption/info/warning/error/success/toast, subheaders, and the labels of
expanders, tabs, buttons, checkboxes, radios, metrics and progress bars, and help tooltips.

Every one of those renders Markdown, so `![x](http://host/beacon)` in a file name would make each viewer's
browser fetch that URL. `text()` escapes the string so it renders as written. Longer content (passages,
answers, document text) goes to `st.text`, `st.code` or escaped HTML instead, which show it exactly.
Selectbox and multiselect options, dataframes, text inputs and `st.text`/`st.code` are plain text already:
they take the raw string (escaping them would show the backslashes).
"""
from __future__ import annotations

import re

# CommonMark lets every ASCII punctuation character be backslash-escaped, and an escaped one is literal
# text: no image, link, emphasis, heading, list, table, code, math ($) or Streamlit directive (:red[...]).
_PUNCT = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# Streamlit turns " <- ", " -> ", " -- ", " >= " ... into arrows and dashes in the rendered text nodes,
# after escapes are resolved; a word joiner (invisible, zero width) inside the pair keeps the characters.
_TYPOGRAPHY = re.compile(r"(?<!\S)(<->|->|<-|--|>=|<=|~=)(?!\S)")
WORD_JOINER = "\u2060"
# GFM turns bare URLs and e-mail addresses in text nodes into links, escapes or not; a word joiner after
# "http", "www" or "@" keeps them text.
_AUTOLINK = re.compile(r"(?i)(https?(?=:)|www(?=\.)|@)")
# Leading spaces would open an indented code block; as character references they are plain spaces.
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


def text(value: object) -> str:
    """`value` as Markdown that renders literally, character for character; newlines stay line breaks."""
    s = str(value).replace("\r\n", "\n").replace("\r", "\n")
    s = _TYPOGRAPHY.sub(lambda m: m.group(1)[0] + WORD_JOINER + m.group(1)[1:], s)
    s = _AUTOLINK.sub(lambda m: m.group(1) + WORD_JOINER, s)
    s = _PUNCT.sub(r"\\\1", s)
    s = _INDENT.sub(lambda m: "".join("&#32;" if c == " " else "&#9;" for c in m.group(0)), s)
    # Markdown joins single newlines; a hard break ("  " then newline) keeps each line on its own.
    return s.replace("\n", "  \n")
