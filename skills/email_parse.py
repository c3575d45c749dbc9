"""One e-mail's bytes read into a ``Mail``, pure and forgiving: a broken message carries a note.

Headers in raw 8-bit (not RFC 2047) are read as UTF-8, else Windows-1252; a body in an unknown
charset falls back the same way; HTML is reduced to text. Nothing here raises on bad input.
"""

from __future__ import annotations

import email
import email.policy
import quopri
import re
from base64 import b64decode
from binascii import Error as BinasciiError
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from engine.model import JSON

MAX_TEXT_CHARS = 50_000
"""The most of a body a ``Mail`` keeps; the rest is cut with a note."""

_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "ul"})


@dataclass(frozen=True, slots=True)
class Mail:
    """An e-mail as Steward reads it. ``parse_error`` says why parts of it may be missing."""

    uid: int
    message_id: str
    sender: str
    to: str
    subject: str
    date: str
    text: str
    attachments: tuple[str, ...] = ()
    size_bytes: int = 0
    flags: tuple[str, ...] = field(default=())
    truncated: bool = False
    """Only the first part of a large message was fetched or kept."""
    parse_error: str | None = None

    def as_json(self) -> dict[str, JSON]:
        return {"uid": self.uid, "message_id": self.message_id, "from": self.sender,
                "to": self.to, "subject": self.subject, "date": self.date, "text": self.text,
                "attachments": list(self.attachments), "size_bytes": self.size_bytes,
                "flags": list(self.flags), "truncated": self.truncated,
                "parse_error": self.parse_error}


def bytes_text(data: bytes) -> str:
    """Bytes of unknown encoding as text: UTF-8 when it is, else Windows-1252 (never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
    try:
        raw = (b64decode(payload + "=" * (-len(payload) % 4)) if encoding == "b"
               else quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=True))
        return raw.decode(charset.split("*")[0], errors="replace")
    except (LookupError, ValueError, BinasciiError, UnicodeEncodeError):
        return match.group(0)


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded one by one; a word that cannot be is kept as it is."""
    return " ".join(_WORD.sub(_word, _BETWEEN_WORDS.sub(r"\1\2", text)).split())


def _raw_header(msg: Message, name: str) -> str | None:
    wanted = name.lower()
    return next((str(v) for k, v in msg.raw_items() if k.lower() == wanted), None)


def header(msg: Message, name: str) -> str:
    """A header as one line of text, however it was written."""
    raw = _raw_header(msg, name)
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):  # raw 8-bit bytes in the header
        return decode_words(bytes_text(raw.encode("ascii", errors="surrogateescape")))
    try:
        return " ".join(str(msg[name]).split())
    except (ValueError, IndexError, TypeError, AttributeError, LookupError):
        return decode_words(raw)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(self._skip - 1, 0)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(text: str) -> str:
    """An HTML body as plain text: scripts and styles dropped, blocks on their own lines."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return "\n".join(line for line in lines if line)


def _content(part: Message) -> str:
    """A part's text in its declared charset; undeclared or wrong, as ``bytes_text`` reads it."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return bytes_text(raw)


def body_text(msg: Message) -> str:
    """The text of a message: its text/plain part, else its HTML reduced to text."""
    part: Message | None = msg.get_body(("plain", "html")) if isinstance(
        msg, EmailMessage) else None
    if part is None and not msg.is_multipart():
        part = msg
    if part is None:
        return ""
    content = _content(part)
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def attachment_names(msg: Message) -> tuple[str, ...]:
    if not isinstance(msg, EmailMessage):
        return ()
    try:
        return tuple(header_safe(p.get_filename()) or p.get_content_type()
                     for p in msg.iter_attachments())
    except (ValueError, KeyError, TypeError, AttributeError, LookupError):
        return ()


def header_safe(value: str | None) -> str:
    if not value:
        return ""
    return decode_words(bytes_text(value.encode("utf-8", errors="surrogateescape")))


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}\n[cut: {len(text) - limit} more characters]", True


def _as_text(raw: bytes, uid: int, flags: tuple[str, ...], size: int, fetched_part: bool,
             limit: int, why: str) -> Mail:
    text, cut = _cut(bytes_text(raw), limit)
    return Mail(uid, "", "", "", "", "", text, (), size, flags, cut or fetched_part, why)


def parse_mail(raw: bytes, uid: int = 0, *, flags: tuple[str, ...] = (), size_bytes: int = 0,
               fetched_part: bool = False, max_text_chars: int = MAX_TEXT_CHARS) -> Mail:
    """``raw`` read as an e-mail; ``fetched_part`` says only its first bytes were fetched."""
    size = size_bytes or len(raw)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if not list(msg.keys()):
            return _as_text(raw, uid, flags, size, fetched_part, max_text_chars,
                            "it has no headers, so it is not a well-formed e-mail; shown as text")
        text, cut = _cut(body_text(msg), max_text_chars)
        return Mail(uid, header(msg, "Message-ID"), header(msg, "From"), header(msg, "To"),
                    header(msg, "Subject"), header(msg, "Date"), text, attachment_names(msg),
                    size, flags, cut or fetched_part)
    except Exception as exc:  # a stranger's bytes: the boundary where they may never crash us
        return _as_text(raw, uid, flags, size, fetched_part, max_text_chars,
                        f"could not be parsed ({type(exc).__name__}); shown as text")
