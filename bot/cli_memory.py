"""``steward memory``: search, add, import, forget and reindex memories; show and revert core."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot import render
from bot.app import make_memory
from bot.cli_kit import BAD_INPUT, OK, Handler, emit, flags, opened, positive_int, width
from bot.errors import AppError, UsageError
from bot.memory_wiring import MemoryParts, open_core
from engine.model import JSON, Trust
from memory.core import MAX_CHARS, MAX_LINES, CoreEdit, CoreEditRefused
from memory.errors import EmbeddingFailed, ImportFailed, IndexUnavailable, MemoryFault
from memory.records import CATEGORIES
from skills.memory_tools import category_of, day, forget, hit_json, recall, remember

if TYPE_CHECKING:
    from memory.archival import AddResult, Hit, ImportReport

T = TypeVar("T")
SOURCE = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Handler]:
    """Add ``steward memory ...`` to the command line; returns its handlers."""
    memory = sub.add_parser("memory", help="search, add, import and forget memories; core memory")
    msub = memory.add_subparsers(dest="action", metavar="ACTION", required=True)
    search = flags(msub.add_parser("search", help="the memories best matching QUERY"))
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--limit", type=positive_int, default=10, metavar="N")
    add = flags(msub.add_parser("add", help="remember TEXT"))
    add.add_argument("text", metavar="TEXT")
    add.add_argument("--category", choices=CATEGORIES, default="fact")
    add.add_argument("--importance", type=importance, default=0.5, metavar="X",
                     help="0 to 1; default 0.5")
    flags(msub.add_parser("import", help="import a JSON Lines file of memories")
          ).add_argument("file", type=Path, metavar="FILE")
    msub.add_parser("forget", help="forget memory ID: it is never recalled again"
                    ).add_argument("id", type=int, metavar="ID")
    flags(msub.add_parser("reindex", help="rebuild the search index from the database"))
    core = flags(msub.add_parser("core", help="core memory: show (default), history, revert N"))
    core.add_argument("core_action", nargs="?", choices=["show", "history", "revert"],
                      default="show", metavar="show|history|revert")
    core.add_argument("edit", nargs="?", type=positive_int, metavar="N")
    core.add_argument("--limit", type=positive_int, default=20, metavar="N",
                      help="edits shown by history; default 20")
    for name, parser in msub.choices.items():
        parser.set_defaults(command=f"memory {name}")
    return {"memory search": _search, "memory add": _add, "memory import": _import,
            "memory forget": _forget, "memory reindex": _reindex, "memory core": _core}


def importance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text}")
    return value


# -- running against memory ---------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    """Memory's errors as the command line's: bad input exits 2, an unusable index 3."""
    try:
        yield
    except (EmbeddingFailed, IndexUnavailable) as exc:
        raise AppError(str(exc)) from None
    except (CoreEditRefused, ImportFailed, MemoryFault) as exc:
        raise UsageError(str(exc)) from None


def _with_memory(work: Callable[[MemoryParts], Awaitable[T]]) -> T:
    with _translated(), opened() as app:
        return asyncio.run(_using(make_memory(app.settings, app.store), work))


async def _using(parts: MemoryParts, work: Callable[[MemoryParts], Awaitable[T]]) -> T:
    try:
        return await work(parts)
    finally:
        await parts.close()


# -- commands -----------------------------------------------------------------------------------


def _search(args: argparse.Namespace) -> int:
    hits = _with_memory(lambda m: recall(m.archival, args.query, args.limit))
    emit(args, [hit_json(h) for h in hits], lambda: hits_table(hits, width()))
    return OK


def _add(args: argparse.Namespace) -> int:
    added = _with_memory(lambda m: remember(
        m.archival, args.text, trust=Trust.COMMAND, source=SOURCE,
        category=category_of(args.category), importance=args.importance))
    emit(args, {"id": added.id, "outcome": added.outcome}, lambda: added_line(added))
    return OK


def _import(args: argparse.Namespace) -> int:
    report = _with_memory(lambda m: m.archival.import_jsonl(args.file))
    emit(args, import_json(report), lambda: import_summary(report))
    for number, reason in report.failed:
        print(f"steward: {args.file}: line {number}: {render.one_line(reason)}", file=sys.stderr)
    return BAD_INPUT if report.failed else OK


def _forget(args: argparse.Namespace) -> int:
    _with_memory(lambda m: forget(m.archival, args.id))
    print(f"memory {args.id} forgotten: it will not be recalled again")
    return OK


def _reindex(args: argparse.Namespace) -> int:
    rows = _with_memory(lambda m: m.archival.reindex())
    emit(args, {"indexed": rows}, lambda: f"reindexed {rows:,} memories")
    return OK


def _core(args: argparse.Namespace) -> int:
    if (args.core_action == "revert") != (args.edit is not None):
        raise UsageError("give the edit number with revert only: `steward memory core "
                         "revert N` (see `steward memory core history`)")
    with _translated(), opened() as app:
        core = open_core(app.settings, app.store)
        if args.core_action == "revert":
            edit = core.revert(args.edit, trust=Trust.COMMAND, source=SOURCE)
            text = f"reverted edit {args.edit} (as edit {edit.id}); core memory: {core.usage()}"
            emit(args, edit_json(edit), lambda: text)
        elif args.core_action == "history":
            edits = core.history(args.limit)
            emit(args, [edit_json(e) for e in edits],
                 lambda: history_table(edits, time.time(), width()))
        else:
            shown, used = core.text(), core.usage()
            emit(args, {"text": shown, "lines": used.lines, "chars": used.chars,
                        "max_lines": MAX_LINES, "max_chars": MAX_CHARS},
                 lambda: f"{shown.rstrip()}\n\n-- {used}")
    return OK


# -- rendering (the Telegram commands reuse these) -----------------------------------------------


def hits_table(hits: Sequence[Hit], width_: int = render.WIDTH) -> str:
    if not hits:
        return "no memories found"
    rows = [[str(h.memory.id), h.memory.category, day(h.memory.created_at), f"{h.score:.2f}",
             ("(DATA) " if h.memory.trust == "data" else "") + h.memory.text] for h in hits]
    return render.table(["ID", "CATEGORY", "CREATED", "SCORE", "TEXT"], rows, width_)


def added_line(added: AddResult) -> str:
    return {
        "added": f"remembered as memory {added.id}",
        "duplicate": f"already known as memory {added.id}; nothing added",
        "merged": f"merged into memory {added.id}, which says nearly the same",
        "superseded": f"remembered as memory {added.id}; it replaces an older memory",
    }[added.outcome]


def import_json(report: ImportReport) -> dict[str, JSON]:
    return {**{k: v for k, v in dataclasses.asdict(report).items() if k != "failed"},
            "failed": [{"line": n, "error": reason} for n, reason in report.failed]}


def import_summary(report: ImportReport) -> str:
    stored = report.added + report.merged + report.superseded + report.duplicate
    text = (f"imported {stored} of {report.total} lines: {report.added} added, "
            f"{report.duplicate} already known, {report.merged} merged, "
            f"{report.superseded} superseding older memories")
    if report.failed:
        text += f"; {len(report.failed)} bad line(s) skipped (listed below)"
    return text


def edit_json(edit: CoreEdit) -> dict[str, JSON]:
    return {**dataclasses.asdict(edit), "op": edit.op.value}


def _change(edit: CoreEdit) -> str:
    before, after = edit.before.splitlines(), edit.after.splitlines()
    added = sum(1 for line in after if line not in before)
    removed = sum(1 for line in before if line not in after)
    return f"+{added} -{removed}"


def history_table(edits: Sequence[CoreEdit], now: float, width_: int = render.WIDTH) -> str:
    if not edits:
        return "no edits yet"
    rows = [[str(e.id), render.relative(e.created_at, now), e.op.value, _change(e),
             e.source or "-", e.reason or "-"] for e in edits]
    return render.table(["EDIT", "WHEN", "OP", "LINES", "BY", "REASON"], rows, width_)
