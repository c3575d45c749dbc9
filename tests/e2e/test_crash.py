"""Kill the real process again and again mid-work: no job is lost, no side effect repeats."""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

from engine.model import BackendName, JobSpec, JobState
from engine.resolver import new_job
from engine.store.sqlite import SqliteStore
from tests.e2e.steward_proc import kill, start, wait_until

JOBS = 320
KILLS = 6


def submit_jobs(db: Path, effects_file: Path, rng: random.Random) -> None:
    """Shell jobs that each append their own key to one file, after a random pause."""
    store = SqliteStore.open(db)
    with store.transaction():
        for n in range(JOBS):
            key = f"key-{n:04d}"
            pause = rng.choice([0, 0.05, 0.1, 0.2, 0.4, 0.8])
            command = f"sleep {pause} && echo {key} >> {effects_file}"
            store.insert_job(new_job(JobSpec(BackendName.SHELL, {"command": command},
                                             priority=rng.randint(0, 5), idempotency_key=key),
                                     0.0))
    store.close()


def states(db: Path) -> Counter[JobState]:
    store = SqliteStore.open(db)
    try:
        return Counter(j.state for j in store.list_jobs(JOBS * 2))
    finally:
        store.close()


def test_sigkill_storm_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    data, effects_file, log = tmp_path / "data", tmp_path / "effects.txt", tmp_path / "log"
    proc = start(data, log)
    wait_until(lambda: (data / "steward.db").exists(), 20, "the database")
    submit_jobs(data / "steward.db", effects_file, rng)
    for _ in range(KILLS):
        try:
            proc.wait(timeout=rng.uniform(0.5, 2.0))
        except subprocess.TimeoutExpired:  # still running, as it should be: now kill it
            kill(proc)
        else:
            raise AssertionError(f"steward exited by itself: {log.read_text()[-2000:]}")
        proc = start(data, log)
    wait_until(lambda: sum(n for s, n in states(data / "steward.db").items()
                           if s.terminal) == JOBS, 60, "every job to end")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

    store = SqliteStore.open(data / "steward.db")
    jobs = store.list_jobs(JOBS * 2)
    written = Counter(effects_file.read_text().split())
    repeated = {k: n for k, n in written.items() if n > 1}
    assert repeated == {}, f"side effects repeated: {repeated}"
    assert len(jobs) == JOBS
    for job in jobs:
        assert job.state.terminal
        if job.state is JobState.DONE:
            assert written[job.idempotency_key or ""] == 1, job
    done = sum(j.state is JobState.DONE for j in jobs)
    recovered = sum(j.recoveries for j in jobs)
    print(f"crash test: {JOBS} jobs, {KILLS} SIGKILLs, {done} done, {JOBS - done} not done, "
          f"{recovered} recoveries, 0 lost, 0 repeated")
    assert done >= JOBS * 0.9
