"""Backups: one consistent archive of the data dir, taken while ``steward run`` runs.

An archive (``backups/steward-YYYYMMDDTHHMMSSZ.tar.gz``) holds ``manifest.json`` first, then
``steward.db`` (SQLite's online backup, from a connection of its own: WAL-safe, the writer never
waits), the LanceDB folder (each table's versions as listed before its data files were copied:
LanceDB files are immutable, so those versions are whole), ``core_memory.md``, the working
sessions and the routing table in use (``models.toml``). The manifest holds every member's
sha256, the schema version and each table's row count, so ``steward restore`` can prove it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import TypedDict

from bot.app import DB_FILE
from bot.errors import AppError
from bot.memory_wiring import LANCE_DIR
from memory.core import FILE_NAME as CORE_FILE
from memory.working import SESSIONS_DIR

BACKUPS_DIR = "backups"
MANIFEST = "manifest.json"
MODELS = "models.toml"
FORMAT = 1
_NAME = re.compile(r"^steward-(\d{8}T\d{6}Z)\.tar\.gz$")
_STAMP = "%Y%m%dT%H%M%SZ"
CHUNK = 1 << 20
BUSY_TIMEOUT_MS = 10_000


class MemberSum(TypedDict):
    sha256: str
    bytes: int


class Manifest(TypedDict):
    """``manifest.json``: what the archive holds and how to prove it."""

    format: int
    created: str
    steward_version: str
    schema_version: int
    tables: dict[str, int]
    models_source: str
    members: dict[str, MemberSum]


class BackupError(AppError):
    """A backup could not be taken (the disk, the database); nothing was half-written."""


@dataclass(frozen=True, slots=True)
class Sources:
    """What goes into a backup, and where it lands."""

    data_dir: Path
    models_file: Path | None = None
    """``STEWARD_MODELS_FILE``; None means the table shipped with Steward."""

    @property
    def backups(self) -> Path:
        return self.data_dir / BACKUPS_DIR


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size_bytes: int
    members: int
    tables: dict[str, int]
    schema_version: int
    seconds: float
    pruned: list[Path]


def archive_name(created: datetime) -> str:
    return f"steward-{created.astimezone(UTC):{_STAMP}}.tar.gz"


def archive_time(name: str) -> datetime | None:
    """When an archive was taken, from its name; None for files that are not archives."""
    found = _NAME.match(name)
    return datetime.strptime(found.group(1), _STAMP).replace(tzinfo=UTC) if found else None


def steward_version() -> str:
    try:
        return metadata.version("steward")
    except metadata.PackageNotFoundError:
        return "unknown"


def take(sources: Sources, keep: tuple[int, int], now: float | None = None) -> BackupReport:
    """Take one backup into ``backups/`` and prune by ``keep`` (daily, weekly)."""
    began = time.monotonic()
    created = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    db = sources.data_dir / DB_FILE
    if not db.is_file():
        raise BackupError(f"no database at {db}: nothing to back up")
    try:
        sources.backups.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=sources.backups, prefix=".staging-") as tmp:
            staging = Path(tmp)
            version, tables = snapshot_db(db, staging / DB_FILE)
            copy_lance(sources.data_dir / LANCE_DIR, staging / LANCE_DIR)
            copy_tree(sources.data_dir / SESSIONS_DIR, staging / SESSIONS_DIR)
            core = sources.data_dir / CORE_FILE
            if core.is_file():
                shutil.copyfile(core, staging / CORE_FILE)
            (staging / MODELS).write_bytes(models_bytes(sources.models_file))
            manifest = build_manifest(staging, created, version, tables, sources.models_file)
            path = sources.backups / archive_name(created)
            write_archive(staging, manifest, path)
    except OSError as exc:
        raise BackupError(f"cannot write the backup in {sources.backups}: "
                          f"{exc.strerror or exc}") from None
    pruned = prune(sources.backups, keep)
    return BackupReport(path, path.stat().st_size, len(manifest["members"]), tables, version,
                        time.monotonic() - began, pruned)


def snapshot_db(source: Path, target: Path) -> tuple[int, dict[str, int]]:
    """Copy the live database with SQLite's online backup API (one step: a WAL reader that
    never blocks the writer), as one self-contained file; returns its schema version and
    the row count of each table, read from the copy."""
    try:
        src = sqlite3.connect(source)
        dst = sqlite3.connect(target)
        try:
            src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE").fetchone()
            return table_counts(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot back up the database {source}: {exc}") from None


def table_counts(conn: sqlite3.Connection) -> tuple[int, dict[str, int]]:
    """(schema version, {table: rows}) of an open database."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    # Table names come from sqlite_master itself, quoted: nothing from outside reaches the SQL.
    counts = {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0])  # noqa: S608
              for n in names}
    return version, counts


def copy_lance(source: Path, target: Path) -> None:
    """Copy LanceDB consistently while it is written: list each table's version manifests
    first, then copy the data files (immutable once written), then only the listed manifests.
    A version written meanwhile is left out whole; a file an old version's cleanup removed
    meanwhile is skipped (no listed latest version needs it)."""
    if not source.is_dir():
        return
    manifests = sorted(p for p in source.rglob("*.manifest") if p.is_file())
    copy_tree(source, target, skip=lambda p: p.suffix == ".manifest")
    for path in manifests:
        _copy_if_there(path, target / path.relative_to(source))


def copy_tree(source: Path, target: Path, skip: Callable[[Path], bool] | None = None) -> None:
    """Copy the regular files under ``source``; files that vanish meanwhile are skipped."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if skip is not None and skip(path):
            continue
        _copy_if_there(path, target / path.relative_to(source))


def _copy_if_there(path: Path, to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        shutil.copyfile(path, to)


def models_bytes(models_file: Path | None) -> bytes:
    """The routing table in use: ``STEWARD_MODELS_FILE``, else the shipped one."""
    if models_file is not None:
        return models_file.read_bytes()
    return resources.files("engine.gateway").joinpath("models.toml").read_bytes()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def staged_files(staging: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            yield path.relative_to(staging).as_posix(), path


def build_manifest(staging: Path, created: datetime, version: int, tables: dict[str, int],
                   models_file: Path | None) -> Manifest:
    members = {name: MemberSum(sha256=sha256_of(path), bytes=path.stat().st_size)
               for name, path in staged_files(staging)}
    return {
        "format": FORMAT, "created": created.isoformat(timespec="seconds"),
        "steward_version": steward_version(), "schema_version": version, "tables": tables,
        "models_source": str(models_file) if models_file else "shipped", "members": members,
    }


def write_archive(staging: Path, manifest: Manifest, path: Path) -> None:
    """Write the archive beside its final name and rename it into place once synced: a crash
    never leaves a partial file that looks like a backup."""
    partial = path.with_name(f".{path.name}.partial")
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    try:
        with partial.open("wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(body), int(time.time())
            tar.addfile(info, _Bytes(body))
            for name, file in staged_files(staging):
                tar.add(file, arcname=name, recursive=False)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
        _sync_dir(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Bytes:
    """A readable file over bytes, for ``TarFile.addfile``."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        chunk, self._at = self._data[self._at:end], min(end, len(self._data))
        return chunk


# -- retention ----------------------------------------------------------------------------------


def keep_set(taken: Iterable[datetime], daily: int, weekly: int) -> set[datetime]:
    """Which archives a retention of ``daily`` days and ``weekly`` weeks keeps: the newest of
    each of the last ``daily`` days that have one, and of the last ``weekly`` ISO weeks; the
    newest archive is always kept."""
    newest_first = sorted(set(taken), reverse=True)
    return (set(newest_first[:1]) | _newest_per(newest_first, daily, lambda t: t.date())
            | _newest_per(newest_first, weekly, lambda t: tuple(t.isocalendar())[:2]))


def _newest_per(newest_first: list[datetime], count: int,
                period: Callable[[datetime], Hashable]) -> set[datetime]:
    """The newest time in each of the ``count`` most recent periods that hold one."""
    kept: dict[Hashable, datetime] = {}
    for t in newest_first:
        key = period(t)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = t
    return set(kept.values())


def prune(folder: Path, keep: tuple[int, int]) -> list[Path]:
    """Delete the archives in ``folder`` the retention does not keep; returns them."""
    archives = {t: p for p in folder.iterdir() if (t := archive_time(p.name)) is not None}
    kept = keep_set(archives, *keep)
    gone = [p for t, p in sorted(archives.items()) if t not in kept]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def archives(folder: Path) -> list[Path]:
    """The archives in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [(t, p) for p in folder.iterdir() if (t := archive_time(p.name)) is not None]
    return [p for _, p in sorted(found, reverse=True)]
