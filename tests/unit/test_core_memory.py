"""Core memory: limits enforced on every write path, exact-match edits, history, revert, DATA."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.model import Trust
from engine.store.sqlite import SqliteStore
from memory.core import (
    MAX_CHARS,
    MAX_LINES,
    CoreEditRefused,
    CoreMemory,
    CoreMemoryFull,
    DataNotAllowed,
    EditNotFound,
    EditOp,
    check_limits,
    delete_text,
    insert_text,
    normalise,
    replace_text,
)
from tests.fakes.clock import FakeClock

C = Trust.COMMAND
TEXT = "# Core memory\n- likes tea\n- lives in Lisbon\n- likes tea with milk\n"


def lines(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(1, n + 1))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "steward.db")
    yield opened
    opened.close()


@pytest.fixture
def core(tmp_path: Path, store: SqliteStore) -> CoreMemory:
    return CoreMemory.open(tmp_path / "core_memory.md", store, TEXT, FakeClock())


# -- the text edits ---------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("lives in Lisbon", "lives in Porto", "# Core memory\n- likes tea\n- lives in Porto\n"
     "- likes tea with milk\n"),
    ("- likes tea\n- lives", "- lives", "# Core memory\n- lives in Lisbon\n"
     "- likes tea with milk\n"),
    ("tea with milk", "coffee", "# Core memory\n- likes tea\n- lives in Lisbon\n"
     "- likes coffee\n"),
])
def test_replace_exact_match(old: str, new: str, expected: str) -> None:
    assert replace_text(TEXT, old, new) == expected


@pytest.mark.parametrize(("old", "message"), [
    ("Lives in Lisbon", "no exact match for 'Lives in Lisbon': copy the text exactly"),
    ("likes  tea", "no exact match"),
    ("likes tea", r"'likes tea' matches 2 places in core memory \(lines 2, 4\): include more"),
    ("", "the text to match is empty"),
])
def test_replace_refuses_a_missing_or_ambiguous_match(old: str, message: str) -> None:
    with pytest.raises(CoreEditRefused, match=message):
        replace_text(TEXT, old, "x")


def test_overlapping_matches_are_ambiguous() -> None:
    with pytest.raises(CoreEditRefused, match="matches 2 places"):
        replace_text("aaa\n", "aa", "b")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "a\nb\nc\nNEW"),
    ({"line": 1}, "NEW\na\nb\nc"),
    ({"line": 3}, "a\nb\nNEW\nc"),
    ({"line": 4}, "a\nb\nc\nNEW"),
    ({"after": "b"}, "a\nb\nNEW\nc"),
    ({"after": "a\nb"}, "a\nb\nNEW\nc"),
    ({"after": "b\n"}, "a\nb\nNEW\nc"),
])
def test_insert(kwargs: dict[str, object], expected: str) -> None:
    assert insert_text("a\nb\nc\n", "NEW", **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"line": 0}, r"line 0 is outside core memory \(3 lines\): use a line from 1 to 4"),
    ({"line": 5}, "line 5 is outside"),
    ({"after": "z"}, "no exact match"),
    ({"line": 1, "after": "a"}, "not both"),
])
def test_insert_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CoreEditRefused, match=message):
        insert_text("a\nb\nc\n", "NEW", **kwargs)  # type: ignore[arg-type]


def test_insert_refuses_nothing() -> None:
    with pytest.raises(CoreEditRefused, match="nothing to insert"):
        insert_text("a\n", "  \n")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"match": "lives in"}, "# Core memory\n- likes tea\n- likes tea with milk"),
    ({"match": "Lisbon\n- likes tea with"}, "# Core memory\n- likes tea"),
    ({"match": "- likes tea\n"}, "# Core memory\n- lives in Lisbon\n- likes tea with milk"),
    ({"line": 1}, "- likes tea\n- lives in Lisbon\n- likes tea with milk"),
])
def test_delete_removes_whole_lines(kwargs: dict[str, object], expected: str) -> None:
    assert delete_text(TEXT, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "either the exact text"),
    ({"match": "x", "line": 1}, "either the exact text"),
    ({"match": "likes tea"}, "matches 2 places"),
    ({"line": 5}, "line 5 is outside core memory"),
])
def test_delete_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CoreEditRefused, match=message):
        delete_text(TEXT, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    (lines(MAX_LINES), None),
    (lines(MAX_LINES + 1), r"core memory is full \(81/80 lines\): merge or remove lines "
                           "before adding"),
    ("x" * (MAX_CHARS - 1) + "\n", None),
    ("x" * MAX_CHARS + "\n", r"core memory is full \(4,001/4,000 characters\): merge or "
                             "shorten lines"),
])
def test_limits(text: str, message: str | None) -> None:
    if message is None:
        check_limits(text)
    else:
        with pytest.raises(CoreMemoryFull, match=message):
            check_limits(text)


def test_normalise() -> None:
    assert normalise("a\r\nb\n\n\n") == "a\nb\n"
    assert normalise(" \n") == ""


# -- the file and its history -------------------------------------------------------------------


def test_open_seeds_from_the_template(core: CoreMemory) -> None:
    assert core.text() == TEXT
    [seed] = core.history()
    assert (seed.op, seed.before, seed.after) == (EditOp.SEED, "", TEXT)


def test_each_edit_is_recorded(core: CoreMemory) -> None:
    core.replace("Lisbon", "Porto", trust=C, reason="moved", source="test")
    core.insert("- speaks Portuguese", trust=C, after="Porto")
    core.delete(match="with milk", trust=C)
    core.rewrite("# Core memory\n- short\n", trust=C)
    assert core.text() == "# Core memory\n- short\n"
    ops = [(e.op, e.reason, e.source) for e in core.history()]
    assert ops == [(EditOp.REWRITE, None, None), (EditOp.DELETE, None, None),
                   (EditOp.INSERT, None, None), (EditOp.REPLACE, "moved", "test"),
                   (EditOp.SEED, "the file was missing: seeded from the template", "steward")]
    edits = core.history()
    assert all(newer.before == older.after for newer, older in itertools.pairwise(edits))


WRITES: dict[str, Callable[[CoreMemory, Trust], object]] = {
    "replace": lambda c, t: c.replace("Lisbon", "Porto", trust=t),
    "insert": lambda c, t: c.insert("- new line", trust=t),
    "delete": lambda c, t: c.delete(line=2, trust=t),
    "rewrite": lambda c, t: c.rewrite("# Core memory\n", trust=t),
    "revert": lambda c, t: c.revert(1, trust=t),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_data_never_enters_core_memory(core: CoreMemory, write: Callable[..., object]) -> None:
    core.insert("- a line to revert", trust=C)
    before, history = core.text(), core.history()
    with pytest.raises(DataNotAllowed, match="takes no text that came from DATA"):
        write(core, Trust.DATA)
    assert (core.text(), core.history()) == (before, history)


FULL: dict[str, Callable[[CoreMemory], object]] = {
    "insert": lambda c: c.insert("- one too many", trust=C),
    "replace": lambda c: c.replace("line 80", "line 80\nline 81", trust=C),
    "rewrite": lambda c: c.rewrite(lines(81), trust=C),
    "chars": lambda c: c.replace("line 80", "y" * MAX_CHARS, trust=C),
}


@pytest.mark.parametrize("write", FULL.values(), ids=FULL.keys())
def test_limits_hold_on_every_write_path(core: CoreMemory, write: Callable[..., object]) -> None:
    core.rewrite(lines(MAX_LINES), trust=C)
    history = core.history()
    with pytest.raises(CoreMemoryFull, match="core memory is full"):
        write(core)
    assert (core.text(), core.history()) == (lines(MAX_LINES), history)


def test_a_refused_edit_changes_nothing(core: CoreMemory) -> None:
    with pytest.raises(CoreEditRefused, match="matches 2 places"):
        core.replace("likes tea", "likes coffee", trust=C)
    with pytest.raises(CoreEditRefused, match="changes nothing"):
        core.replace("Lisbon", "Lisbon", trust=C)
    assert core.text() == TEXT
    assert len(core.history()) == 1


def test_revert_restores_the_text_before_the_edit(core: CoreMemory) -> None:
    first = core.replace("Lisbon", "Porto", trust=C)
    core.insert("- second", trust=C)
    undo = core.revert(first.id, trust=C, reason="wrong city")
    assert core.text() == TEXT
    assert (undo.op, undo.reason, undo.before) == (EditOp.REVERT,
                                                    f"revert edit {first.id}: wrong city",
                                                    TEXT.replace("Lisbon", "Porto")
                                                    + "- second\n")
    again = core.revert(undo.id, trust=C)
    assert core.text() == undo.before
    assert again.op is EditOp.REVERT
    with pytest.raises(EditNotFound, match="no edit 99"):
        core.revert(99, trust=C)


def test_revert_to_a_text_over_the_limits_is_refused(
        tmp_path: Path, store: SqliteStore, core: CoreMemory) -> None:
    core.path.write_text(lines(MAX_LINES + 5))  # edited by hand, past the limit
    trimmed = core.delete(line=1, trust=C)  # shrinking is allowed, to consolidate
    with pytest.raises(CoreMemoryFull, match="85/80 lines"):
        core.revert(trimmed.id, trust=C)
    with pytest.raises(CoreMemoryFull, match="85/80 lines"):
        core.insert("line 86", trust=C)
    core.rewrite(lines(10), trust=C)
    assert core.usage().lines == 10


def test_a_change_made_outside_is_reconciled(tmp_path: Path, store: SqliteStore,
                                             core: CoreMemory) -> None:
    """The file is the truth: a hand edit, or an edit whose commit a crash lost, is recorded
    before the next edit and on the next open."""
    core.path.write_text(TEXT + "- added by hand\n")
    core.replace("Lisbon", "Porto", trust=C)
    replace, reconcile, _ = core.history()
    assert reconcile.op is EditOp.RECONCILE
    assert (reconcile.before, reconcile.after) == (TEXT, TEXT + "- added by hand\n")
    assert replace.before == reconcile.after
    core.path.write_text("# Core memory\n")
    reopened = CoreMemory.open(core.path, store, TEXT)
    assert reopened.history()[0].op is EditOp.RECONCILE
    assert reopened.history()[0].after == "# Core memory\n"
    assert len(CoreMemory.open(core.path, store, TEXT).history()) == 4  # nothing new


def test_a_deleted_file_is_seeded_again_and_revertible(core: CoreMemory,
                                                       store: SqliteStore) -> None:
    edit = core.replace("Lisbon", "Porto", trust=C)
    core.path.unlink()
    reopened = CoreMemory.open(core.path, store, "# Fresh\n")
    seed = reopened.history()[0]
    assert (seed.op, seed.before, reopened.text()) == (EditOp.SEED, edit.after, "# Fresh\n")
    reopened.revert(seed.id, trust=C)
    assert reopened.text() == edit.after


def test_a_failed_file_write_records_nothing(core: CoreMemory) -> None:
    blocker = core.path.with_name(f".{core.path.name}.{os.getpid()}.tmp")
    blocker.mkdir()  # the temporary file cannot be created
    with pytest.raises(IsADirectoryError):
        core.replace("Lisbon", "Porto", trust=C)
    assert core.text() == TEXT
    assert len(core.history()) == 1
    blocker.rmdir()
    core.replace("Lisbon", "Porto", trust=C)
    assert [p.name for p in core.path.parent.iterdir() if p.name.endswith(".tmp")] == []
