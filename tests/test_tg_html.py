"""Telegram HTML: escaping and splitting; a property test that no cut breaks a tag or entity."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.html import MAX_MESSAGE, esc, link, split_html


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.ok = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check(chunk: str) -> str:
    parser = _Balance()
    parser.feed(chunk)
    parser.close()
    assert parser.ok, chunk
    assert parser.stack == [], chunk
    assert not re.search(r"&#?\w*$", chunk.split("<")[-1]), "a cut entity"
    return "".join(parser.text)


def test_feed_text_is_made_inert() -> None:
    hostile = '<script>alert(1)</script> <a href="javascript:x">&amp; "q"'
    assert esc(hostile) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;a href=&quot;javascript:x&quot;&gt;"
        "&amp;amp; &quot;q&quot;"
    )
    assert link("javascript:alert(1)", "click") == "click"
    assert link('https://x.example/?a=1&b="2"', "<b>") == (
        '<a href="https://x.example/?a=1&amp;b=&quot;2&quot;">&lt;b&gt;</a>'
    )


def test_a_short_message_is_one_piece() -> None:
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]


def test_a_long_alert_splits_at_lines_and_keeps_tags_balanced() -> None:
    line = "<b>h20-ban</b>: <i>China &amp; the H20</i> " + "word " * 20 + "\n"
    text = line * 200  # ~27,000 characters
    chunks = split_html(text)
    assert len(chunks) > 5
    assert all(len(c) <= MAX_MESSAGE for c in chunks)
    assert all(c.endswith("\n") for c in chunks[:-1])  # cut at a line end when one fits
    joined = "".join(_check(c) for c in chunks)
    assert joined == html.unescape(re.sub(r"<[^>]+>", "", text))


def test_a_tag_spanning_a_cut_is_closed_and_reopened() -> None:
    text = "<blockquote>" + "x" * 9000 + "</blockquote>"
    chunks = split_html(text)
    assert all(c.startswith("<blockquote>") and c.endswith("</blockquote>") for c in chunks)
    assert sum(len(_check(c)) for c in chunks) == 9000


_pieces = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="<>&"), max_size=300),
    st.sampled_from(["&amp;", "&lt;", "&#128200;", "\n", " "]),
    st.builds(
        lambda tag, inner: f"<{tag}>{esc(inner)}</{tag}>",
        st.sampled_from(["b", "i", "u", "code", "s"]),
        st.text(max_size=200),
    ),
    st.builds(lambda inner: f'<a href="https://x.example/">{esc(inner)}</a>', st.text(max_size=80)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_pieces, max_size=80), st.integers(min_value=64, max_value=600))
def test_any_message_splits_cleanly(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    chunks = split_html(text, limit)
    assert all(len(c) <= limit for c in chunks)
    joined = "".join(_check(c) for c in chunks)
    # Telegram trims each message, so a piece of bare whitespace is dropped, never content.
    assert "".join(joined.split()) == "".join(_check(text).split())
