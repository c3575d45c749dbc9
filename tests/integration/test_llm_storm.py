"""A fault storm: 200 llm jobs while about 30% of model calls fail at random on two providers.
Every job ends: done with its own answer, or failed for a recorded reason; none is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

from engine.errors import JobFailed
from engine.gateway.repo import GatewayRepo
from engine.model import JobState
from tests.integration.llm_kit import rig

JOBS = 200
FAULT_RATE = 0.3


async def test_every_job_ends_and_none_is_lost_in_a_fault_storm(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.chaos(FAULT_RATE, seed=11)
        r.anthropic.chaos(FAULT_RATE, seed=29)
        ids = [r.submit({"prompt": f"job {i}"}) for i in range(JOBS)]
        async with asyncio.timeout(30):
            for job_id in ids:
                with contextlib.suppress(JobFailed):
                    await r.engine.result(job_id)
        jobs = [r.store.get_job(i) for i in ids]
        states = Counter(j.state for j in jobs)
        assert set(states) <= {JobState.DONE, JobState.FAILED}, states
        for i, job in enumerate(jobs):
            assert len(r.attempts(job.id)) == job.attempts
            if job.state is JobState.DONE:
                assert job.result["text"] == f"echo: job {i}"
            else:
                assert job.error
                assert job.failure_class is not None
                assert job.attempts == job.max_attempts, "every fault here is transient"
        failed = [(j.failure_class, j.error) for j in jobs if j.state is JobState.FAILED]
        assert states[JobState.DONE] >= JOBS * 0.95, failed
        faults = len(r.openai.faults_served) + len(r.anthropic.faults_served)
        assert faults >= 40
        calls = GatewayRepo(r.store).calls_since(0.0)
        assert len(calls) == len(r.openai.requests) + len(r.anthropic.requests)
        retried = [i for i in ids if len(r.attempts(i)) > 1]
        assert retried, "some jobs met a fault on both providers and were retried"
