"""Telegram HTML as text: escaping, splitting safely under the length limit, and plain text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

LIMIT = 4096
"""Telegram's limit on one message's text; counted here in UTF-16 units of the HTML itself,
which is never less than what Telegram counts after parsing the tags away."""

_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^<>]*>|&#?\w+;|[^<&]+|[<&]")
_LINK = re.compile(r"<a\s[^<>]*href=\"([^\"]*)\"[^<>]*>(.*?)</a>", re.S)
_TAG = re.compile(r"<[^<>]*>")


def esc(text: object) -> str:
    """Text made safe to put inside Telegram HTML."""
    return html.escape(str(text), quote=False)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def plain(text: str) -> str:
    """Telegram HTML as readable plain text: tags dropped, links kept as "label (url)"."""
    def link(m: re.Match[str]) -> str:
        label = _TAG.sub("", m.group(2))
        return label if html.unescape(label) == html.unescape(m.group(1)) else (
            f"{label} ({m.group(1)})")

    return html.unescape(_TAG.sub("", _LINK.sub(link, text)))


def cut_at(text: str, room: int) -> int:
    """Where to cut ``text`` so the head fits ``room`` UTF-16 units: after a newline or a
    space in the second half of the room when there is one, else exactly at the room."""
    end = min(len(text), room)
    while end > 1 and units(text[:end]) > room:
        end -= max((units(text[:end]) - room) // 2, 1)
    if end >= len(text):
        return len(text)
    for mark in ("\n", " "):
        at = text.rfind(mark, 0, end)
        if at >= end // 2:
            return at + 1
    return max(end, 1)


def split_plain(text: str, limit: int = LIMIT) -> list[str]:
    """Plain text in parts of at most ``limit`` units, cut at line ends or spaces if possible."""
    parts: list[str] = []
    while units(text) > limit:
        at = cut_at(text, limit)
        parts.append(text[:at])
        text = text[at:]
    parts.append(text)
    return [p for p in parts if p.strip()] or [text]


@dataclass
class _Chunks:
    """The parts being built, and the tags open at the end of the current one."""

    limit: int
    parts: list[str] = field(default_factory=list)
    current: str = ""
    opened: list[tuple[str, str]] = field(default_factory=list)
    """(name, opening tag) of every tag open here, outermost first."""

    def closing(self) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(self.opened))

    def reopening(self) -> str:
        return "".join(tag for _, tag in self.opened)

    def room(self) -> int:
        return self.limit - units(self.current) - units(self.closing())

    def flush(self) -> None:
        if plain(self.current).strip():
            self.parts.append(self.current + self.closing())
        self.current = self.reopening()

    def fresh(self) -> bool:
        return self.current == self.reopening()

    def add_text(self, text: str) -> None:
        while text:
            room = self.room()
            if room <= 0 and not self.fresh():
                self.flush()
                continue
            at = cut_at(text, max(room, 1))
            self.current += text[:at]
            text = text[at:]
            if text:
                self.flush()

    def add_markup(self, token: str, closing: bool, name: str) -> None:
        after = self._stack_after(closing, name.lower(), token)
        cost = units(token) + sum(len(n) + 3 for n, _ in after)
        if units(self.current) + cost > self.limit and not self.fresh():
            self.flush()
        self.current += token
        self.opened = after

    def _stack_after(self, closing: bool, name: str, token: str) -> list[tuple[str, str]]:
        if not name:
            return self.opened
        if not closing:
            return [*self.opened, (name, token)]
        names = [n for n, _ in self.opened]
        if name not in names:
            return self.opened
        return self.opened[: len(names) - 1 - names[::-1].index(name)]


def split(text: str, limit: int = LIMIT) -> list[str]:
    """Telegram HTML in parts of at most ``limit`` units. A part never ends inside a tag or an
    entity; tags open at a cut are closed at its end and opened again in the next part."""
    if units(text) <= limit:
        return [text]
    chunks = _Chunks(limit)
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if m.group(2) is not None:
            chunks.add_markup(token, m.group(1) == "/", m.group(2))
        elif token.startswith("&") and len(token) > 1:
            chunks.add_markup(token, False, "")
        else:
            chunks.add_text(token)
    chunks.flush()
    return chunks.parts or [text[:limit]]
