"""Reading DATA the owner hands in: e-mails (``.eml``) and text documents, pure.

Bytes in, text out, ``Refused`` for what cannot be read; and the data wrapper of the
triage prompt.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from pathlib import PurePath
from typing import Literal

from bot.errors import Refused
from security.data_marking import DATA_NOTE
from security.data_marking import wrap_data as mark_data
from skills.email_parse import attachment_names, body_text

MAX_DOCUMENT_BYTES = 1 << 20
"""The largest document filed; bigger ones are refused before they are downloaded."""
PROMPT_CHARS = 12_000
"""How much of an item the triage job reads; the inbox keeps all of it."""

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".log", ".xml",
                           ".yaml", ".yml", ".html", ".htm", ".ini", ".toml", ".text"})
EMAIL_SUFFIXES = frozenset({".eml"})
EMAIL_MIMES = frozenset({"message/rfc822"})
_HEADERS = ("from", "to", "subject", "date", "message-id", "received", "mime-version")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

Kind = Literal["email", "text"]


@dataclass(frozen=True, slots=True)
class Mail:
    sender: str
    subject: str
    date: str
    to: str
    body: str
    attachments: tuple[str, ...] = field(default=())


def classify(name: str | None, mime: str | None, size: int | None) -> Kind:
    """What a document is, from its name, type and size, before downloading it."""
    label = name or "this file"
    if size is not None and size > MAX_DOCUMENT_BYTES:
        raise Refused(f"{label} is {_size(size)}; I file documents up to "
                      f"{_size(MAX_DOCUMENT_BYTES)}.")
    suffix = PurePath(name or "").suffix.lower()
    if suffix in EMAIL_SUFFIXES or (mime or "").lower() in EMAIL_MIMES:
        return "email"
    if suffix in TEXT_SUFFIXES or (mime or "").lower().startswith("text/"):
        return "text"
    raise Refused(f"I can only file e-mails (.eml) and text documents, and {label} is "
                  f"neither ({mime or 'unknown type'}).")


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} KB"


def decode_text(data: bytes, name: str = "this file") -> str:
    """Text of a document: UTF-8 (with or without a BOM), UTF-16 with a BOM, or Windows-1252;
    anything with NUL bytes or control characters is binary and refused."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise Refused(f"{name} is {_size(len(data))}; I file documents up to "
                      f"{_size(MAX_DOCUMENT_BYTES)}.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _checked(data.decode("utf-16", errors="replace"), name)
    if b"\x00" in data:
        raise Refused(f"{name} looks binary, not text; I can't file it.")
    for codec in ("utf-8-sig", "cp1252"):
        try:
            return _checked(data.decode(codec), name)
        except UnicodeDecodeError:
            continue
    raise Refused(f"{name} is not readable text; I can't file it.")


def _checked(text: str, name: str) -> str:
    if len(_CONTROL.findall(text[:8192])) > 8:
        raise Refused(f"{name} looks binary, not text; I can't file it.")
    return text.replace("\r\n", "\n")


def parse_email(data: bytes, name: str = "this e-mail") -> Mail:
    """An ``.eml`` file read with the standard ``email`` package; refused when it has no
    headers (not an e-mail) or is binary."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise Refused(f"{name} is {_size(len(data))}; I file e-mails up to "
                      f"{_size(MAX_DOCUMENT_BYTES)}.")
    if b"\x00" in data:
        raise Refused(f"{name} looks binary, not an e-mail; I can't file it.")
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if not any(key.lower() in _HEADERS for key in msg):
        raise Refused(f"{name} doesn't look like an e-mail (it has no headers); "
                      "send it as a .txt file to file it as text.")
    return Mail(sender=_header(msg, "From"), subject=_header(msg, "Subject"),
                date=_header(msg, "Date"), to=_header(msg, "To"), body=body_text(msg),
                attachments=attachment_names(msg))


def _header(msg: Message, key: str) -> str:
    try:
        value = msg.get(key)
    except (ValueError, IndexError, TypeError):  # a header too broken for the parser
        value = msg.get_all(key, [""])[0] if hasattr(msg, "get_all") else ""
    return " ".join(str(value or "").split())



def mail_text(mail: Mail) -> str:
    """An e-mail as the text filed in the inbox: its headers, then its body."""
    head = [f"From: {mail.sender}", f"To: {mail.to}", f"Date: {mail.date}",
            f"Subject: {mail.subject}"]
    if mail.attachments:
        head.append(f"Attachments (not read): {', '.join(mail.attachments)}")
    return "\n".join(head) + "\n\n" + mail.body


def wrap_data(kind: str, origin: str, body: str, limit: int = PROMPT_CHARS) -> str:
    """The triage prompt: what to do, then the item delimited as data (``security``'s
    wrapper, which the item cannot close from inside)."""
    if len(body) > limit:
        body = f"{body[:limit]}\n[cut: {len(body) - limit} more characters]"
    return (
        f"The owner handed you the item below to file. {DATA_NOTE} Summarise it for the owner "
        "in two to four sentences: who it is from, what it is about, and anything it asks of "
        "the owner or any deadline.\n" + mark_data(kind, origin, body))
