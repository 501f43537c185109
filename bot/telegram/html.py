"""Telegram HTML: escaping, and splitting long messages without cutting a tag or an entity.

Pure functions. Every piece of feed text goes through :func:`esc` before it meets a tag.
"""

from __future__ import annotations

import html
import re

__all__ = ["MAX_MESSAGE", "esc", "link", "split_html"]

MAX_MESSAGE = 4096
_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


def esc(text: object) -> str:
    """Feed text made inert for Telegram's HTML parse mode."""
    return html.escape(str(text), quote=True)


def link(url: str | None, text: str) -> str:
    """An anchor for http(s) URLs only; anything else is shown as text, never linked."""
    if url and url.startswith(("http://", "https://")):
        return f'<a href="{esc(url)}">{esc(text)}</a>'
    return esc(text)


def _cut(text: str, room: int) -> int:
    """Where to cut ``text`` to fit ``room`` characters: a newline, else a space, else hard."""
    if room <= 0:
        return 0
    for sep in ("\n", " "):
        at = text.rfind(sep, 0, room)
        if at > room // 2:
            return at + 1
    return room


class _Splitter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[str] = []
        self.stack: list[tuple[str, str]] = []  # (name, opening tag) of the tags open here
        self.current = ""

    def _closing(self) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(self.stack))

    def reopened(self) -> str:
        return "".join(tag for _, tag in self.stack)

    def room(self) -> int:
        return self.limit - len(self.current) - len(self._closing())

    def has_text(self) -> bool:
        """Anything but whitespace since the reopened tags: a piece worth sending."""
        return bool(self.current[len(self.reopened()) :].strip())

    def flush(self) -> None:
        self.chunks.append(self.current + self._closing())
        self.current = self.reopened()

    def tag(self, token: str, name: str) -> None:
        # Room for the tag and, if it opens, for its own closing tag at a later cut.
        if len(token) + len(name) + 3 > self.room():
            self.flush()
        self.current += token
        if token.startswith("</"):
            for i in range(len(self.stack) - 1, -1, -1):
                if self.stack[i][0] == name:
                    del self.stack[i]
                    break
        elif not token.endswith("/>"):
            self.stack.append((name, token))

    def atom(self, token: str) -> None:
        if len(token) > self.room():
            self.flush()
        self.current += token

    def text(self, token: str) -> None:
        while token:
            room = self.room()
            if len(token) <= room:
                self.current += token
                return
            cut = _cut(token, room)
            if cut == 0 and self.current == self.reopened():
                cut = max(room, 1)  # nothing fits beside the reopened tags: cut anyway
            self.current += token[:cut]
            token = token[cut:]
            self.flush()

    def done(self) -> list[str]:
        if self.current and self.current != self.reopened():
            self.chunks.append(self.current + self._closing())
        return [c for c in self.chunks if c.strip()]


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Pieces of at most ``limit`` characters; tags open at a cut are closed and reopened."""
    if len(text) <= limit:
        return [text]
    splitter = _Splitter(limit)
    for line in text.splitlines(keepends=True):
        # Whole lines where they fit: a reader sees a message end where a line ends.
        if len(line) > splitter.room() and splitter.has_text():
            splitter.flush()
        for token in _TOKEN.findall(line):
            if token.startswith("<") and (m := _TAG_NAME.match(token)):
                splitter.tag(token, m.group(1).lower())
            elif token.startswith("&") and len(token) > 1:
                splitter.atom(token)  # an entity is one indivisible token
            else:
                splitter.text(token)
    return splitter.done()
