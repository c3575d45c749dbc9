"""Readable text from fetched bytes: HTML reduced to its visible words, other text decoded."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object",
                     "head"})
"""Elements whose content is never shown as text (``title`` is read on its own)."""
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})
BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                    "tr", "table", "section", "article", "header", "footer", "blockquote",
                    "pre", "hr", "dd", "dt", "main", "nav", "aside", "form"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-yaml", "application/yaml")
HTML_TYPES = ("text/html", "application/xhtml+xml")


def hidden(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    """An element a browser would not show: skipped, ``hidden``, or styled invisible."""
    if tag in SKIPPED:
        return True
    found = dict(attrs)
    return "hidden" in found or bool(_HIDDEN_STYLE.search(found.get("style") or "")) or \
        found.get("aria-hidden") == "true"


class _Visible(HTMLParser):
    """Collects the text a reader would see, one block per line, and the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._open: list[tuple[str, bool]] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in BLOCKS:
            self.parts.append("\n")
        if tag in VOID:
            return
        skip = hidden(tag, attrs)
        self._open.append((tag, skip))
        self._skipping += skip

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in BLOCKS:
            self.parts.append("\n")
        if not any(name == tag for name, _ in self._open):
            return  # a stray end tag: ignore it rather than unwind the stack
        while self._open:
            name, skip = self._open.pop()
            self._skipping -= skip
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def tidy(text: str) -> str:
    """Spaces collapsed within lines, blank lines collapsed to one."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_text(markup: str) -> tuple[str, str]:
    """(title, visible text) of an HTML document; comments, scripts and hidden parts dropped."""
    parser = _Visible()
    parser.feed(markup)
    parser.close()
    return tidy("".join(parser.title)), tidy("".join(parser.parts))


def media_type(content_type: str | None) -> tuple[str, str]:
    """(media type, charset) from a Content-Type header; charset defaults to UTF-8."""
    if not content_type:
        return "", "utf-8"
    kind, *params = (p.strip() for p in content_type.split(";"))
    charset = next((p.split("=", 1)[1].strip("\"' ") for p in params
                    if p.lower().startswith("charset=")), "utf-8")
    return kind.lower(), charset


def is_text(kind: str, head: bytes) -> bool:
    """Whether a body of media type ``kind`` (maybe missing) is text; sniffed when untyped."""
    if not kind:
        return b"\0" not in head[:1024]
    return kind.startswith(TEXT_TYPES) or kind.endswith(("+json", "+xml")) or kind in HTML_TYPES


def decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name: UTF-8 is the web's default
        return body.decode("utf-8", errors="replace")
