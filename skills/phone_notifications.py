"""Notifications from ``dumpsys notification --noredact``: a pure parser of its text."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RECORD = re.compile(r"NotificationRecord\(0x[0-9a-fA-F]+: pkg=(?P<pkg>\S+)"
                     r"(?:.*?\bkey=(?P<key>[^\s:)]+(?::[^\s:)]+)*))?")
_EXTRA = re.compile(r"^\s*android\.(?P<name>title|text|bigText|subText)="
                    r"(?:(?:String|SpannableString|SpannedString)\s\((?P<typed>.*)\)|(?P<raw>.*))$")
FIELD_CHARS = 500


@dataclass(frozen=True, slots=True)
class Notification:
    package: str
    title: str
    text: str
    key: str


def parse_notifications(dump: str) -> list[Notification]:
    """The notifications in a dump, in order, each once (a record listed in several sections
    counts once); fields are cut to ``FIELD_CHARS``."""
    found: dict[str, Notification] = {}
    for block in _blocks(dump):
        note = _parse_block(block)
        if note is not None and note.key not in found:
            found[note.key] = note
    return list(found.values())


def _blocks(dump: str) -> list[list[str]]:
    """The dump's lines grouped per ``NotificationRecord``; lines before the first are skipped."""
    blocks: list[list[str]] = []
    for line in dump.splitlines():
        if "NotificationRecord(" in line:
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def _parse_block(lines: list[str]) -> Notification | None:
    head = _RECORD.search(lines[0])
    if head is None:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        match = _EXTRA.match(line)
        if match and match["name"] not in fields:
            value = match["typed"] if match["typed"] is not None else match["raw"]
            fields[match["name"]] = value.strip()[:FIELD_CHARS]
    text = fields.get("bigText") or fields.get("text") or ""
    if text == "null":
        text = ""
    title = fields.get("title", "")
    if title == "null":
        title = ""
    package = head["pkg"]
    return Notification(package, title, text, head["key"] or f"{package}#{len(lines)}:{title}")
