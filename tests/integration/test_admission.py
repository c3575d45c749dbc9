"""Admission control on a real engine: a full disk pauses new background work only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.admission import Admission, AdmissionRefused, Disk
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, JobState, Origin
from engine.pipeline.dsl import Pipeline
from engine.store.sqlite import SqliteStore
from tests.fakes.clock import FakeClock
from tests.integration.engine_kit import Skills, skill


@dataclass
class FakeDisk:
    """A disk the test fills and empties; counts how often it is read."""

    used_ratio: float = 0.5
    reads: int = 0

    def __call__(self, path: Path) -> Disk:
        self.reads += 1
        return Disk(int(self.used_ratio * 1000), 1000)


def engine_with(tmp_path: Path, disk: FakeDisk, monotonic: FakeClock) -> Engine:
    store = SqliteStore.open(tmp_path / "steward.db")
    admission = Admission(tmp_path, probe=disk, monotonic=monotonic)
    return Engine(store, {BackendName.SKILL: Skills().backend()},
                  EngineConfig(data_dir=tmp_path), admission=admission)


async def test_a_full_disk_refuses_background_work_but_not_the_owner_or_recovery(
        tmp_path: Path) -> None:
    disk, monotonic = FakeDisk(), FakeClock(0.0)
    engine = engine_with(tmp_path, disk, monotonic)
    orphan = engine.submit(skill("echo", args={"n": 1}, origin=Origin.RHYTHM))
    engine.store.claim([orphan], 0.0, 1e12)  # a job a dead process left running

    disk.used_ratio = 0.93
    monotonic.advance(10)
    with pytest.raises(AdmissionRefused, match=r"disk is 93% full \(limit 85%\): new rhythm "
                                              r"work is paused until space is freed"):
        engine.submit(skill("echo", origin=Origin.RHYTHM))
    with pytest.raises(AdmissionRefused, match="new system work"):
        engine.submit_many([skill("echo", origin=Origin.SYSTEM)])
    pipeline = Pipeline("p")
    pipeline.step("a", "skill", {"skill": "echo", "args": {}})
    graph = pipeline.compile()
    with pytest.raises(AdmissionRefused, match="new pipeline work"):
        engine.submit_graph(graph)
    owner = engine.submit(skill("echo", args={"asked": "by the owner"}))

    assert engine.recover() == 1
    await engine.run_until_idle()
    assert engine.store.get_job(owner).state is JobState.DONE
    assert engine.store.get_job(orphan).state is JobState.DONE
    echoes = [j for j in engine.store.list_jobs(100) if j.payload.get("skill") == "echo"]
    assert sorted(j.id for j in echoes) == [orphan, owner]  # nothing refused was stored
    status = engine.admission.status()
    assert status.refusing
    assert status.reason == ("disk 93% full (limit 85%): new background "
                                                 "work is refused")
    engine.store.close()


async def test_the_disk_is_read_at_most_every_few_seconds_and_recovery_is_noticed(
        tmp_path: Path) -> None:
    disk, monotonic = FakeDisk(used_ratio=0.9), FakeClock(0.0)
    engine = engine_with(tmp_path, disk, monotonic)
    for _ in range(50):
        with pytest.raises(AdmissionRefused):
            engine.submit(skill("echo", origin=Origin.RHYTHM))
    assert disk.reads == 1
    disk.used_ratio = 0.6
    monotonic.advance(5)
    job_id = engine.submit(skill("echo", origin=Origin.RHYTHM))
    assert disk.reads == 2
    assert not engine.admission.status().refusing
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE
    engine.store.close()


def test_an_unreadable_disk_never_blocks_work(tmp_path: Path) -> None:
    def broken(path: Path) -> Disk:
        raise OSError("stale NFS handle")

    admission = Admission(tmp_path, probe=broken)
    admission.check(Origin.RHYTHM)
    assert admission.status().disk is None
    assert not admission.status().refusing
