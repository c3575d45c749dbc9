"""Core memory: the small file in every prompt, its enforced limits, line edits, history, revert."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from engine.model import Trust
from engine.store.base import Store

# Re-exported: core memory's errors live in ``memory.errors`` with the rest of the tree.
from memory.errors import CoreEditRefused as CoreEditRefused
from memory.errors import CoreMemoryFull as CoreMemoryFull
from memory.errors import DataNotAllowed as DataNotAllowed
from memory.errors import EditNotFound as EditNotFound

MAX_LINES = 80
MAX_CHARS = 4000
FILE_NAME = "core_memory.md"
DEFAULT_TEMPLATE = "# Core memory\n"
"""Used when the repository's ``core_memory.md`` template is not at hand."""


class EditOp(StrEnum):
    REPLACE = "replace"
    INSERT = "insert"
    DELETE = "delete"
    REWRITE = "rewrite"
    REVERT = "revert"
    SEED = "seed"
    """The file was missing and was written from the template."""
    RECONCILE = "reconcile"
    """The file differed from the last recorded edit: a change made by hand, or an edit whose
    record a crash lost. The file is the truth; the row records what it became."""


@dataclass(frozen=True, slots=True)
class CoreEdit:
    """One row of core memory's history: the whole text before and after the change."""

    id: int
    op: EditOp
    before: str
    after: str
    reason: str | None
    source: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Usage:
    """How full core memory is."""

    lines: int
    chars: int

    def __str__(self) -> str:
        return f"{self.lines}/{MAX_LINES} lines, {self.chars:,}/{MAX_CHARS:,} characters"


def refuse_data(trust: Trust) -> None:
    """Text that came from DATA never enters core memory, and a DATA job never edits it."""
    if trust is Trust.DATA:
        raise DataNotAllowed("core memory takes no text that came from DATA (trust=data); "
                             "keep it in archival memory instead")


class CoreMemory:
    """``core_memory.md`` in the data dir, with its history in SQLite.

    Every write takes the database's write lock first, reads the file (the truth) inside it,
    applies the edit, checks the limits, records the history row and replaces the file
    atomically before the commit: a failed file write leaves no row, and a failed commit puts
    the old text back. If the process dies after the file was replaced but before the commit,
    the next ``open`` (and every edit) finds the file differing from the last row and records
    a ``reconcile`` row, so the history always ends at what is on disk.
    """

    def __init__(self, path: Path, store: Store, template: str = DEFAULT_TEMPLATE,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._store = store
        self._template = normalise(template)
        self._clock = clock

    @classmethod
    def open(cls, path: Path, store: Store, template: str = DEFAULT_TEMPLATE,
             clock: Callable[[], float] = time.time) -> CoreMemory:
        """Core memory at ``path``, seeded from ``template`` when missing and reconciled
        with its history."""
        core = cls(path, store, template, clock)
        core.reconcile()
        return core

    def reconcile(self) -> CoreEdit | None:
        """Bring the history in step with the file (the truth): seed a missing file, record a
        change made outside. Returns the row it added, if any."""
        with self._store.transaction():
            return self._sync()[1]

    # -- reading ---------------------------------------------------------------------------------

    def text(self) -> str:
        """The file's text now ('' when it is missing)."""
        try:
            return self.path.read_text("utf-8")
        except FileNotFoundError:
            return ""

    def usage(self) -> Usage:
        return usage(self.text())

    def history(self, limit: int = 20) -> list[CoreEdit]:
        """The latest edits, newest first."""
        return [_edit(r) for r in self._store.run("core_history_list", {"limit": limit})]

    def edit(self, edit_id: int) -> CoreEdit:
        rows = self._store.run("core_history_get", {"id": edit_id})
        if not rows:
            raise EditNotFound(f"core memory has no edit {edit_id}; see its history for the "
                               "numbers")
        return _edit(rows[0])

    # -- editing ---------------------------------------------------------------------------------

    def replace(self, old: str, new: str, *, trust: Trust, reason: str | None = None,
                source: str | None = None) -> CoreEdit:
        """Replace the one exact occurrence of ``old`` with ``new``."""
        refuse_data(trust)
        return self._apply(EditOp.REPLACE, lambda t: replace_text(t, old, new),
                           reason, source)

    def insert(self, new: str, *, trust: Trust, line: int | None = None,
               after: str | None = None, reason: str | None = None,
               source: str | None = None) -> CoreEdit:
        """Insert ``new`` as line ``line`` (1-based), after the line(s) matching ``after``
        exactly once, or at the end."""
        refuse_data(trust)
        return self._apply(EditOp.INSERT,
                           lambda t: insert_text(t, new, line=line, after=after),
                           reason, source)

    def delete(self, *, trust: Trust, match: str | None = None, line: int | None = None,
               reason: str | None = None, source: str | None = None) -> CoreEdit:
        """Delete the line(s) holding the one exact occurrence of ``match``, or line ``line``."""
        refuse_data(trust)
        return self._apply(EditOp.DELETE,
                           lambda t: delete_text(t, match=match, line=line),
                           reason, source)

    def rewrite(self, text: str, *, trust: Trust, reason: str | None = None,
                source: str | None = None) -> CoreEdit:
        """Replace the whole text (still within the limits)."""
        refuse_data(trust)
        return self._apply(EditOp.REWRITE, lambda _: text, reason, source)

    def revert(self, edit_id: int, *, trust: Trust, reason: str | None = None,
               source: str | None = None) -> CoreEdit:
        """Restore the text as it was before edit ``edit_id``; recorded as an edit itself."""
        refuse_data(trust)
        target = self.edit(edit_id).before
        why = f"revert edit {edit_id}" + (f": {reason}" if reason else "")
        return self._apply(EditOp.REVERT, lambda _: target, why, source)

    def _apply(self, op: EditOp, change: Callable[[str], str], reason: str | None,
               source: str | None) -> CoreEdit:
        replaced: str | None = None
        try:
            with self._store.transaction():
                before = self._sync()[0]
                after = normalise(change(before))
                if after == before:
                    raise CoreEditRefused("that edit changes nothing in core memory")
                if not shrinks(before, after):  # only a file grown by hand can be over
                    check_limits(after)
                edit = self._record(op, before, after, reason, source)
                self._write(after)
                replaced = before
        except BaseException:
            if replaced is not None:  # the file changed but its row did not commit: undo
                self._write(replaced)
            raise
        return edit

    # -- keeping the file and its history in step ------------------------------------------------

    def _sync(self) -> tuple[str, CoreEdit | None]:
        """Inside a transaction: seed a missing file, record a change made outside; returns
        the text on disk and the row added, if any."""
        last = self._store.run("core_history_last")
        recorded = str(last[0]["after"]) if last else None
        if not self.path.exists():
            seed = self._record(EditOp.SEED, recorded or "", self._template,
                                "the file was missing: seeded from the template", "steward")
            self._write(self._template)
            return self._template, seed
        text = self.text()
        if text == recorded:
            return text, None
        return text, self._record(EditOp.RECONCILE, recorded or "", text,
                                  "the file differs from the last recorded edit", "steward")

    def _record(self, op: EditOp, before: str, after: str, reason: str | None,
                source: str | None) -> CoreEdit:
        now = self._clock()
        rows = self._store.run("core_history_add", {
            "op": op.value, "before": before, "after": after, "reason": reason,
            "source": source, "now": now})
        return CoreEdit(int(rows[0][0]), op, before, after, reason, source, now)

    def _write(self, text: str) -> None:
        write_atomic(self.path, text)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, sync it, and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _edit(row: sqlite3.Row) -> CoreEdit:
    return CoreEdit(row["id"], EditOp(row["op"]), row["before"], row["after"], row["reason"],
                    row["source"], row["created_at"])


# -- the text itself: pure functions ---------------------------------------------------------------


def normalise(text: str) -> str:
    """Unix newlines and exactly one at the end; blank text becomes ''."""
    text = text.replace("\r\n", "\n").rstrip()
    return text + "\n" if text else ""


def usage(text: str) -> Usage:
    return Usage(len(text.splitlines()), len(text))


def check_limits(text: str) -> None:
    """Refuse a text over 80 lines or 4,000 characters, telling the model to consolidate."""
    used = usage(text)
    if used.lines > MAX_LINES:
        raise CoreMemoryFull(f"core memory is full ({used.lines}/{MAX_LINES} lines): "
                             "merge or remove lines before adding")
    if used.chars > MAX_CHARS:
        raise CoreMemoryFull(f"core memory is full ({used.chars:,}/{MAX_CHARS:,} characters): "
                             "merge or shorten lines before adding")


def shrinks(before: str, after: str) -> bool:
    """True when ``after`` is no longer than ``before`` in lines and characters: such an edit
    is allowed even over the limits, so a file grown past them by hand can be consolidated."""
    old, new = usage(before), usage(after)
    return new.lines <= old.lines and new.chars <= old.chars


def _positions(text: str, old: str) -> list[int]:
    """Every start of ``old`` in ``text``, overlapping ones included."""
    found, at = [], text.find(old)
    while at != -1:
        found.append(at)
        at = text.find(old, at + 1)
    return found


def locate(text: str, old: str) -> int:
    """Where the one exact occurrence of ``old`` starts; refuses none or several."""
    if not old:
        raise CoreEditRefused("the text to match is empty: copy it exactly from core memory")
    found = _positions(text, old)
    shown = old if len(old) <= 60 else old[:59] + "…"
    if not found:
        raise CoreEditRefused(
            f"core memory has no exact match for {shown!r}: copy the text exactly as it "
            "appears (case, spaces and punctuation count) and try again")
    if len(found) > 1:
        lines = ", ".join(str(text.count("\n", 0, at) + 1) for at in found)
        raise CoreEditRefused(
            f"{shown!r} matches {len(found)} places in core memory (lines {lines}): include "
            "more of the surrounding text so it matches exactly once")
    return found[0]


def _lines_of(text: str, at: int, length: int) -> tuple[int, int]:
    """The 0-based first and last lines that ``text[at:at + length]`` touches."""
    return text.count("\n", 0, at), text.count("\n", 0, at + length - 1)


def replace_text(text: str, old: str, new: str) -> str:
    """``text`` with the one exact occurrence of ``old`` replaced by ``new``."""
    at = locate(text, old)
    return text[:at] + new + text[at + len(old):]


def insert_text(text: str, new: str, *, line: int | None = None,
                after: str | None = None) -> str:
    """``text`` with ``new`` inserted as line ``line``, after the match of ``after``, or at
    the end."""
    lines = text.splitlines()
    if not new.strip():
        raise CoreEditRefused("there is nothing to insert: give the text of the new line")
    if line is not None and after is not None:
        raise CoreEditRefused("give a line number or the text to insert after, not both")
    index = len(lines)
    if after is not None:
        index = _lines_of(text, locate(text, after), len(after))[1] + 1
    elif line is not None:
        if not 1 <= line <= len(lines) + 1:
            raise CoreEditRefused(f"line {line} is outside core memory ({len(lines)} lines): "
                                  f"use a line from 1 to {len(lines) + 1}")
        index = line - 1
    return "\n".join([*lines[:index], *new.rstrip("\n").split("\n"), *lines[index:]])


def delete_text(text: str, *, match: str | None = None, line: int | None = None) -> str:
    """``text`` without the line(s) holding the one exact match of ``match``, or line ``line``."""
    lines = text.splitlines()
    if (match is None) == (line is None):
        raise CoreEditRefused("give either the exact text of the line to delete or its number")
    if match is not None:
        first, last = _lines_of(text, locate(text, match), len(match))
    elif line is not None and 1 <= line <= len(lines):
        first = last = line - 1
    else:
        raise CoreEditRefused(f"line {line} is outside core memory ({len(lines)} lines): "
                              f"use a line from 1 to {len(lines)}")
    return "\n".join(lines[:first] + lines[last + 1:])
