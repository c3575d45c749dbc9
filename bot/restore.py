"""Restoring a backup: checksums first, then the files, then proof that they work.

``verify_archive`` reads the whole archive and refuses it, naming the member, if anything does
not match its manifest. ``restore_live`` swaps the data dir's files for the archive's (the old
ones are kept under ``backups/replaced-*``), only while no ``steward run`` holds the data dir.
``drill`` proves a restored folder: SQLite's integrity check, row counts against the manifest,
a memory search, and a job's round trip on a scratch engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import tarfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

from bot.app import DB_FILE, RunLock
from bot.backup import (
    BACKUPS_DIR,
    CHUNK,
    FORMAT,
    MANIFEST,
    MODELS,
    Manifest,
    archives,
    snapshot_db,
    table_counts,
)
from bot.errors import UsageError
from bot.render import Check
from bot.settings import Settings
from engine.errors import StoreError
from engine.gateway.config import parse_table
from engine.gateway.errors import ModelsFileError
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, JobSpec, JobState
from engine.store.sql import load_migrations
from engine.store.sqlite import SqliteStore
from engine.workers.skill import SkillBackend
from skills import diagnostic

DRILL_TIMEOUT_S = 30.0
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)
"""What a truncated or damaged gzip tar raises while it is read."""


class ArchiveCorrupt(UsageError):
    """The archive does not match its manifest (or is no archive): refused, nothing restored.
    A bad file given on the command line, so it exits as bad input (2)."""


# -- checksums ----------------------------------------------------------------------------------


def verify_archive(path: Path) -> Manifest:
    """Read every member and check it against the manifest; ``ArchiveCorrupt`` names the
    first member that does not match (or says the archive is truncated or unreadable)."""
    if not path.is_file():
        raise UsageError(f"no backup archive at {path}")
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            manifest = _manifest(tar, path)
            expected = dict(manifest["members"])
            for info in _members(tar, path):
                want = expected.pop(info.name, None)
                if want is None:
                    raise ArchiveCorrupt(f"{path.name}: member {info.name} is not in the manifest")
                got = _digest(tar.extractfile(info))
                if got != want["sha256"]:
                    raise ArchiveCorrupt(f"{path.name}: member {info.name} is corrupt "
                                         "(its sha256 does not match the manifest)")
    except READ_ERRORS as exc:
        raise ArchiveCorrupt(f"{path.name}: the archive is truncated or damaged ({exc})"
                             ) from None
    if expected:
        raise ArchiveCorrupt(f"{path.name}: member {sorted(expected)[0]} is missing")
    return manifest


def _manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise ArchiveCorrupt(f"{path.name}: not a Steward backup ({MANIFEST} is not first)")
    try:
        data = json.loads(_read(tar.extractfile(first)))
    except (ValueError, UnicodeDecodeError):
        raise ArchiveCorrupt(f"{path.name}: member {MANIFEST} is corrupt (not JSON)") from None
    shaped = isinstance(data, dict) and data.get("format") == FORMAT \
        and isinstance(data.get("members"), dict) and isinstance(data.get("tables"), dict)
    if not shaped:
        raise ArchiveCorrupt(f"{path.name}: member {MANIFEST} is not a format-{FORMAT} manifest")
    manifest: Manifest = data  # shaped: checked just above
    return manifest


def _members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """The archive's files after the manifest; any link, device or escaping name is refused."""
    while (info := tar.next()) is not None:
        if info.isdir():
            continue
        name = PurePosixPath(info.name)
        if not info.isfile() or name.is_absolute() or ".." in name.parts:
            raise ArchiveCorrupt(f"{path.name}: member {info.name} is not a plain file inside "
                                 "the archive; refused")
        yield info


def _read(f: IO[bytes] | None) -> bytes:
    return f.read() if f is not None else b""


def _digest(f: IO[bytes] | None) -> str:
    digest = hashlib.sha256()
    if f is not None:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def extract(path: Path, target: Path) -> None:
    """Write the archive's members under ``target`` (checked by ``verify_archive`` first)."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            _manifest(tar, path)
            for info in _members(tar, path):
                out = target / info.name
                out.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(info)
                with out.open("wb") as f:
                    if source is not None:
                        shutil.copyfileobj(source, f, CHUNK)
    except READ_ERRORS as exc:
        raise ArchiveCorrupt(f"{path.name}: the archive could not be read ({exc})") from None


# -- restoring into the live data dir ---------------------------------------------------------

LIVE_ITEMS = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", "lancedb", "core_memory.md",
              "sessions", MODELS)
"""What a restore replaces in the data dir; everything else (workspace, backups) stays."""


def restore_live(path: Path, data_dir: Path) -> Path:
    """Restore into the data dir while holding its run lock (``AlreadyRunning`` if a
    ``steward run`` holds it); returns the folder where the replaced files were kept."""
    verify_archive(path)
    lock = RunLock.take(data_dir)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    staging = data_dir / f".restore-{stamp}"
    try:
        extract(path, staging)
        problem = integrity(staging / DB_FILE)
        if problem is not None:
            raise ArchiveCorrupt(f"{path.name}: the database in it fails its integrity check "
                                 f"({problem}); nothing was restored")
        kept = data_dir / BACKUPS_DIR / f"replaced-{stamp}"
        kept.mkdir(parents=True, exist_ok=True)
        for name in LIVE_ITEMS:
            if (data_dir / name).exists():
                (data_dir / name).rename(kept / name)
        for item in staging.iterdir():
            item.rename(data_dir / item.name)
        return kept
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.release()


def integrity(db: Path) -> str | None:
    """None if ``PRAGMA integrity_check`` passes, else what it says."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            verdict = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if verdict == "ok" else verdict


# -- the drill -----------------------------------------------------------------------------------


async def drill(target: Path, manifest: Manifest, settings: Settings) -> list[Check]:
    """Prove a restored folder works; every check runs, each says what it found (the file
    checks in a thread: an integrity check of a big database takes a while)."""
    db = target / DB_FILE
    checks = await asyncio.to_thread(file_checks, target, manifest)
    if checks[0].status == "fail":
        return checks
    try:
        store = SqliteStore.open(db)
    except StoreError as exc:
        return [*checks, Check("open", "fail", str(exc))]
    try:
        checks.append(await memory_check(target, store, settings))
    finally:
        store.close()
    checks.append(await job_check(db, target))
    return checks


def file_checks(target: Path, manifest: Manifest) -> list[Check]:
    db = target / DB_FILE
    first = database_check(db)
    if first.status == "fail":
        return [first]
    return [first, *counts_check(db, manifest), models_check(target / MODELS)]


async def drill_newest(settings: Settings) -> tuple[Path | None, list[Check]]:
    """The weekly drill: the newest archive in ``backups/``, checked, restored into a scratch
    folder (removed afterwards) and proven."""
    found = archives(settings.data_dir / BACKUPS_DIR)
    if not found:
        return None, [Check("backup", "fail", f"no backup in {settings.data_dir / BACKUPS_DIR}")]
    path = found[0]
    try:
        manifest = await asyncio.to_thread(verify_archive, path)
    except ArchiveCorrupt as exc:
        return path, [Check("checksums", "fail", str(exc))]
    checks = [Check("checksums", "ok", f"{len(manifest['members'])} files match the manifest")]
    with scratch_dir(None) as target:
        await asyncio.to_thread(extract, path, target)
        checks += await drill(target, manifest, settings)
    return path, checks


def database_check(db: Path) -> Check:
    problem = integrity(db) if db.is_file() else f"no {DB_FILE} in the archive"
    if problem is not None:
        return Check("integrity", "fail", f"integrity_check: {problem}")
    return Check("integrity", "ok", "integrity_check: ok")


def counts_check(db: Path, manifest: Manifest) -> list[Check]:
    """The schema version and each table's row count, against the manifest."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        version, counts = table_counts(conn)
    finally:
        conn.close()
    latest = max(v for v, _ in load_migrations())
    schema = Check("schema", "ok", f"version {version} (this steward knows {latest})")
    if version != manifest["schema_version"] or version > latest:
        schema = Check("schema", "fail", f"version {version}, manifest says "
                       f"{manifest['schema_version']}, this steward knows {latest}")
    wrong = [f"{name}: {counts.get(name, 'missing')} rows, manifest {n}"
             for name, n in sorted(manifest["tables"].items()) if counts.get(name) != n]
    total = sum(manifest["tables"].values())
    rows = Check("row counts", "fail", "; ".join(wrong)) if wrong else \
        Check("row counts", "ok", f"{len(counts)} tables, {total} rows, as in the manifest")
    return [schema, rows]


def models_check(path: Path) -> Check:
    try:
        table = parse_table(path.read_text("utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ModelsFileError) as exc:
        return Check("routing table", "fail", str(exc))
    return Check("routing table", "ok", f"{path} ({len(table.tiers)} tiers)")


async def memory_check(target: Path, store: SqliteStore, settings: Settings) -> Check:
    """Open memory on the restored folder and find the newest live memory by its text."""
    from bot.memory_wiring import open_memory

    probe = store.run("ops_drill_memory_probe")
    parts = open_memory(settings.model_copy(update={"data_dir": target}), store)
    try:
        state = await parts.archival.index.open()
        index = {"ok": "the LanceDB copy opened",
                 "new": "the backup held no LanceDB copy; it was built from SQLite"}.get(
            state, "the LanceDB copy was unreadable and was rebuilt from SQLite")
        if not probe:
            return Check("memory", "ok", f"no memories stored; {index}")
        memory_id, text = int(probe[0]["id"]), str(probe[0]["text"])
        hits = await parts.archival.search(text, 5)
    except Exception as exc:  # a drill reports whatever broke, as one line
        return Check("memory", "fail", f"memory search failed: {type(exc).__name__}: {exc}")
    finally:
        await parts.close()
    if memory_id not in [h.memory.id for h in hits]:
        return Check("memory", "fail", f"a search for memory {memory_id} did not find it")
    return Check("memory", "ok", f"a search found memory {memory_id}; {index}")


async def job_check(db: Path, target: Path) -> Check:
    """A job's round trip on a scratch engine over a copy of the restored database (its work
    in flight parked, so the drill's echo job is all that runs)."""
    scratch = target / ".drill"
    scratch.mkdir(exist_ok=True)
    try:
        snapshot_db(db, scratch / DB_FILE)
        store = SqliteStore.open(scratch / DB_FILE)
        try:
            return await _round_trip(store, scratch)
        finally:
            store.close()
    except Exception as exc:  # a drill reports whatever broke, as one line
        return Check("job round-trip", "fail", f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _round_trip(store: SqliteStore, scratch: Path) -> Check:
    with store.transaction():
        store.run("ops_drill_quiesce")
    engine = Engine(store, {BackendName.SKILL: SkillBackend(diagnostic.SKILLS)},
                    EngineConfig(data_dir=scratch))
    token = uuid.uuid4().hex
    job_id = engine.submit(JobSpec(BackendName.SKILL, {"skill": "echo", "args": {"drill": token}},
                                   name="restore drill"))
    await asyncio.wait_for(engine.run_until_idle(), DRILL_TIMEOUT_S)
    job = store.get_job(job_id)
    if job.state is not JobState.DONE or job.result != {"drill": token}:
        return Check("job round-trip", "fail", f"echo job {job_id} ended {job.state.value}: "
                     f"{job.error or job.result}")
    return Check("job round-trip", "ok", f"echo job {job_id} ran on a scratch engine")


@contextmanager
def scratch_dir(into: Path | None) -> Iterator[Path]:
    """``into`` (created; it must be empty) kept afterwards, or a temporary folder removed."""
    if into is not None:
        if into.exists() and (not into.is_dir() or any(into.iterdir())):
            raise UsageError(f"--into {into}: must be an empty folder or not exist yet")
        into.mkdir(parents=True, exist_ok=True)
        yield into
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="steward-restore-") as tmp:
        yield Path(tmp)


def summary(manifest: Manifest) -> dict[str, Any]:
    """The manifest's headline, for the report."""
    return {"created": manifest["created"], "steward_version": manifest["steward_version"],
            "schema_version": manifest["schema_version"], "members": len(manifest["members"]),
            "rows": sum(manifest["tables"].values())}
