"""Working memory: a folder per session with its task, recent results and progress checkpoints."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.model import Trust
from memory.core import write_atomic
from memory.errors import SessionError as SessionError

SESSIONS_DIR = "sessions"
TASK_FILE = "task.md"
RESULTS_FILE = "results.jsonl"
PROGRESS_FILE = "progress.md"
META_FILE = "session.json"
MAX_RESULTS = 20
"""Recent results kept per session; older ones fall off (compaction keeps what lasts)."""
MAX_RESULT_CHARS = 4000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Result:
    """One recent result of a session's work."""

    at: float
    text: str
    trust: Trust


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    trust: Trust
    updated_at: float


def stamp(t: float) -> str:
    """A timestamp for people and for the model: ``2026-10-03 14:05:09 UTC``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Session:
    """One session's folder. Every write replaces its file atomically; the folder's trust
    becomes ``data`` as soon as anything from DATA enters it, and never goes back."""

    def __init__(self, folder: Path, clock: Callable[[], float],
                 max_results: int = MAX_RESULTS) -> None:
        self.folder = folder
        self.id = folder.name
        self._clock = clock
        self._max_results = max_results

    @property
    def trust(self) -> Trust:
        meta = self._meta()
        return Trust(meta.get("trust", Trust.COMMAND.value))

    def taint(self) -> None:
        """Mark the session as holding DATA: what compaction promotes from it is DATA too."""
        if self.trust is not Trust.DATA:
            self._write(META_FILE, json.dumps({**self._meta(), "trust": Trust.DATA.value}))

    def task(self) -> str:
        return self._read(TASK_FILE)

    def set_task(self, text: str) -> None:
        self._write(TASK_FILE, text.rstrip() + "\n")

    def results(self) -> list[Result]:
        lines = self._read(RESULTS_FILE).splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        return [Result(r["at"], r["text"], Trust(r["trust"])) for r in rows]

    def add_result(self, text: str, *, trust: Trust) -> None:
        """Keep ``text`` (cut to 4,000 characters) among the latest results."""
        if trust is Trust.DATA:
            self.taint()
        row = {"at": self._clock(), "text": text[:MAX_RESULT_CHARS], "trust": trust.value}
        lines = [*self._read(RESULTS_FILE).splitlines(), json.dumps(row, ensure_ascii=False)]
        self._write(RESULTS_FILE, "".join(f"{ln}\n" for ln in lines[-self._max_results:]))

    def progress(self) -> str:
        return self._read(PROGRESS_FILE)

    def checkpoint(self, text: str, title: str = "checkpoint") -> None:
        """Append a timestamped section to ``progress.md``."""
        section = f"## {stamp(self._clock())} {title}\n\n{text.strip()}\n"
        before = self.progress()
        self._write(PROGRESS_FILE, f"{before}\n{section}" if before else section)

    def render(self) -> str:
        """The whole working memory as one text, for the compaction summary."""
        parts = []
        if task := self.task().strip():
            parts.append(f"# Task\n\n{task}")
        if progress := self.progress().strip():
            parts.append(f"# Progress\n\n{progress}")
        if results := self.results():
            shown = "\n".join(f"- [{stamp(r.at)}] {r.text}" for r in results)
            parts.append(f"# Recent results\n\n{shown}")
        return "\n\n".join(parts)

    def size_chars(self) -> int:
        return sum(len(self._read(name)) for name in (TASK_FILE, RESULTS_FILE, PROGRESS_FILE))

    def trim(self, summary: str) -> None:
        """After compaction: the progress becomes one section holding the summary, and the
        results are dropped (what lasts is in archival memory now)."""
        self._write(PROGRESS_FILE, "")
        self.checkpoint(summary or "(nothing worth keeping)", "compacted")
        self._write(RESULTS_FILE, "")

    def updated_at(self) -> float:
        return max((p.stat().st_mtime for p in self.folder.iterdir()),
                   default=self.folder.stat().st_mtime)

    def _meta(self) -> dict[str, str]:
        text = self._read(META_FILE)
        return dict(json.loads(text)) if text else {}

    def _read(self, name: str) -> str:
        try:
            return (self.folder / name).read_text("utf-8")
        except FileNotFoundError:
            return ""

    def _write(self, name: str, text: str) -> None:
        write_atomic(self.folder / name, text)


class WorkingMemory:
    """The ``sessions/`` folder in the data dir: one folder per explicit session ID."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time,
                 max_results: int = MAX_RESULTS) -> None:
        self.root = root
        self._clock = clock
        self._max_results = max_results

    def session(self, session_id: str, trust: Trust = Trust.COMMAND) -> Session:
        """The session called ``session_id``, created if new; ``trust=data`` taints it."""
        folder = self.root / check_id(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        found = Session(folder, self._clock, self._max_results)
        if not (folder / META_FILE).exists():
            write_atomic(folder / META_FILE, json.dumps(
                {"id": session_id, "trust": trust.value, "created_at": self._clock()}))
        elif trust is Trust.DATA:
            found.taint()
        return found

    def find(self, session_id: str) -> Session:
        """An existing session; refuses an unknown ID."""
        folder = self.root / check_id(session_id)
        if not folder.is_dir():
            raise SessionError(f"no working session {session_id!r}")
        return Session(folder, self._clock, self._max_results)

    def sessions(self) -> list[SessionInfo]:
        """Every session, least recently changed first."""
        if not self.root.is_dir():
            return []
        found = [Session(p, self._clock) for p in self.root.iterdir()
                 if p.is_dir() and _ID.match(p.name)]
        infos = [SessionInfo(s.id, s.trust, s.updated_at()) for s in found]
        return sorted(infos, key=lambda i: (i.updated_at, i.id))

    def prune(self, older_than_s: float) -> list[str]:
        """Remove the sessions nothing has changed in for ``older_than_s``; returns their IDs."""
        cutoff = self._clock() - older_than_s
        gone = [info.id for info in self.sessions() if info.updated_at < cutoff]
        for session_id in gone:
            shutil.rmtree(self.root / session_id)
        return gone


def check_id(session_id: str) -> str:
    """A session ID names a folder: letters, digits, '.', '_' and '-', up to 64 characters."""
    if not _ID.match(session_id):
        raise SessionError(f"session ID {session_id!r} is not usable: use letters, digits, "
                           "'.', '_' and '-' (up to 64, starting with a letter or digit)")
    return session_id
