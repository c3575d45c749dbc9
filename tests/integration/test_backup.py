"""Backups taken while the engine runs, restored and proven; corrupted archives refused."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import DB_FILE, RunLock
from bot.backup import MANIFEST, Sources, archive_name, archive_time, archives, prune, take
from bot.cli_ops import install_ops
from bot.errors import AlreadyRunning
from bot.memory_wiring import open_memory
from bot.restore import ArchiveCorrupt, drill, extract, restore_live, verify_archive
from bot.settings import Settings
from engine.model import BackendName, JobSpec, JobState
from tests.integration.engine_kit import Skills, make_engine, skill

JOBS = 50


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in ("STEWARD_MODELS_FILE", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path / "data"))
    return Settings(_env_file=None)  # type: ignore[call-arg]


async def test_a_backup_taken_while_50_jobs_run_restores_and_verifies(
        settings: Settings, tmp_path: Path) -> None:
    data = settings.data_dir
    data.mkdir()
    skills = Skills()
    engine = make_engine(data, skills, slots=JOBS + 10, tick_s=0.05)
    parts = open_memory(settings, engine.store)
    await parts.archival.add("The owner's cat is called Miso and eats at seven", "fact")
    await parts.close()
    ids = [engine.submit(skill("wait", args={"gate": "hold", "beat": True})) for _ in range(JOBS)]
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        await _until(lambda: skills.running_now == JOBS)
        # The snapshot is taken in a thread while the engine goes on writing: jobs finish and
        # new ones arrive during the copy.
        backup = asyncio.create_task(asyncio.to_thread(take, Sources(data), (7, 4)))
        skills.gate("hold").set()
        more = [engine.submit(skill("echo", args={"n": n})) for n in range(20)]
        report = await backup
        await asyncio.wait_for(asyncio.gather(*(engine.result(i) for i in ids + more)), 20)
    finally:
        stop.set()
        await running
        engine.store.close()  # waits for a checkpoint still running in a worker thread

    manifest = verify_archive(report.path)
    assert manifest["tables"]["jobs"] >= JOBS
    assert manifest["tables"]["memories"] == 1
    assert {"steward.db", "core_memory.md", "models.toml"} <= set(manifest["members"])
    assert any(m.startswith("lancedb/") for m in manifest["members"])
    target = tmp_path / "scratch"
    extract(report.path, target)
    checks = {c.name: c for c in await drill(target, manifest, settings)}
    assert {n: c.status for n, c in checks.items()} == {
        "integrity": "ok", "schema": "ok", "row counts": "ok", "routing table": "ok",
        "memory": "ok", "job round-trip": "ok"}, checks
    assert "found memory" in checks["memory"].detail


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("still not true after 20 s")


def _backup(data: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(data, Skills())
    engine.submit(skill("echo", args={"hello": "world"}))
    engine.store.close()
    (data / "core_memory.md").write_text("as backed up\n")
    return take(Sources(data), (7, 4)).path


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    path.write_bytes(buffer.getvalue())


def test_a_member_with_flipped_bytes_is_refused_by_name(tmp_path: Path) -> None:
    path = _backup(tmp_path / "data")
    members = _members(path)
    db = bytearray(members[DB_FILE])
    db[len(db) // 2] ^= 0xFF
    members[DB_FILE] = bytes(db)
    _rewrite(path, members)
    with pytest.raises(ArchiveCorrupt, match=r"member steward\.db is corrupt"):
        verify_archive(path)


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    path = _backup(tmp_path / "data")
    body = path.read_bytes()
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(ArchiveCorrupt, match="truncated or damaged"):
        verify_archive(path)


def test_a_missing_member_or_a_stranger_is_refused(tmp_path: Path) -> None:
    path = _backup(tmp_path / "data")
    members = _members(path)
    _rewrite(path, {k: v for k, v in members.items() if k != "models.toml"})
    with pytest.raises(ArchiveCorrupt, match=r"member models\.toml is missing"):
        verify_archive(path)
    _rewrite(path, {**members, "../evil": b"x"})
    with pytest.raises(ArchiveCorrupt, match=r"not in the manifest|not a plain file"):
        verify_archive(path)
    _rewrite(path, {"steward.db": members[DB_FILE], MANIFEST: members[MANIFEST]})
    with pytest.raises(ArchiveCorrupt, match="not a Steward backup"):
        verify_archive(path)


def test_a_file_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "steward-20250101T000000Z.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar at all") + b"junk")
    with pytest.raises(ArchiveCorrupt):
        verify_archive(path)


def test_retention_keeps_seven_days_and_four_weeks(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    start = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # a Monday
    taken = [start + timedelta(days=d, hours=h) for d in range(42) for h in (0, 12)]
    for t in taken:
        (folder / archive_name(t)).write_bytes(b"x")
    (folder / "notes.txt").write_text("not an archive: never pruned")
    gone = prune(folder, (7, 4))
    kept = archives(folder)
    newest = max(taken)
    assert kept[0].name == archive_name(newest)
    days = {t.date() for p in kept if (t := archive_time(p.name)) is not None}
    last7 = {(newest - timedelta(days=d)).date() for d in range(7)}
    assert last7 <= days
    assert len(kept) == 7 + 3  # 7 daily; the newest week's weekly is today's daily
    assert len(gone) == len(taken) - len(kept)
    assert (folder / "notes.txt").exists()


def test_restore_into_the_live_data_dir_waits_for_steward_run_to_stop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _backup(data)
    lock = RunLock.take(data)
    try:
        with pytest.raises(AlreadyRunning):
            restore_live(path, data)
    finally:
        lock.release()
    (data / "core_memory.md").write_text("changed after the backup\n")
    kept = restore_live(path, data)
    assert (kept / "core_memory.md").read_text() == "changed after the backup\n"
    assert (data / DB_FILE).is_file()
    assert (data / "core_memory.md").read_text() == "as backed up\n"
    assert json.loads(_members(path)[MANIFEST])["tables"]["jobs"] == 1


async def test_the_nightly_backup_and_weekly_drill_run_as_skill_jobs(settings: Settings) -> None:
    data = settings.data_dir
    data.mkdir()
    engine = make_engine(data, Skills())
    rhythms = install_ops(settings, engine._backends)  # the same backends the engine runs
    assert [(r.name, r.cron) for r in rhythms] == [("backup", "30 2 * * *"),
                                                   ("restore-drill", "30 4 * * 0")]
    for rhythm in rhythms:
        rhythm.schedule("Europe/Berlin")  # a valid schedule, or ScheduleError
    backup = engine.submit(JobSpec(BackendName.SKILL, {"skill": "backup", "args": {}}))
    await engine.run_until_idle()
    taken = engine.store.get_job(backup)
    assert taken.state is JobState.DONE, taken.error
    assert taken.result["importance"] == 0.1  # silent: a backup that works is not news
    drill_job = engine.submit(JobSpec(BackendName.SKILL, {"skill": "restore_drill", "args": {}}))
    await engine.run_until_idle()
    passed = engine.store.get_job(drill_job)
    assert passed.state is JobState.DONE, passed.error
    assert passed.result["summary"] == f"restore drill of {Path(taken.result['path']).name} passed"

    newest = archives(data / "backups")[0]
    members = _members(newest)
    members["models.toml"] = b"# tampered\n"
    _rewrite(newest, members)
    again = engine.submit(JobSpec(BackendName.SKILL, {"skill": "restore_drill", "args": {}}))
    await engine.run_until_idle()
    failed = engine.store.get_job(again)
    assert failed.state is JobState.FAILED
    assert failed.error == (f"restore drill of {newest.name} failed: checksums: {newest.name}: "
                            "member models.toml is corrupt (its sha256 does not match the "
                            "manifest)")
    engine.store.close()
