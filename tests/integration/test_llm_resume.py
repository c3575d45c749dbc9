"""A retried or recovered llm job resumes from its checkpoint: no turn asked twice, no rerun."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.gateway.messages import Message
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, FailureClass, JobSpec, JobState
from engine.store.sqlite import SqliteStore
from engine.workers.llm_checkpoint import Progress, save, session_dir, task_key
from tests.fakes.llm_servers import Call, Reply, server_error
from tests.integration.llm_kit import OPENAI, rig


async def test_a_retry_resumes_after_the_last_completed_turn(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(Reply(calls=(Call("note", {"text": "a"}),)),
                      Reply(calls=(Call("note", {"text": "b"}),)),
                      server_error(500),
                      Reply("Both noted."))
        job = await r.run({"prompt": "note a then b", "skills": ["note"]})
        assert job.state is JobState.DONE, job.error
        assert r.calls.names("note") == [{"text": "a"}, {"text": "b"}]
        first, second = r.attempts(job.id)
        assert first.failure_class is FailureClass.SERVER_ERROR
        assert second.error is None
        failed, resumed = r.openai.requests[2], r.openai.requests[3]
        assert resumed.body["messages"] == failed.body["messages"]
        assert len(r.openai.requests) == 4
        assert job.result["turns"] == 3
        assert job.result["text"] == "Both noted."
        saved = json.loads((tmp_path / "sessions" / f"job-{job.id}" / "progress.json")
                           .read_text())
        assert saved["turns"] == 3
        assert saved["done"] is True


async def test_a_retry_inside_a_turn_runs_only_the_tools_not_yet_run(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(Reply(calls=(Call("note", {"text": "x"}), Call("flaky"))),
                      Reply("Done."))
        job = await r.run({"prompt": "note then flaky", "skills": ["note", "flaky"]})
        assert job.state is JobState.DONE, job.error
        assert [name for name, _ in r.calls.log] == ["note", "flaky", "flaky"]
        assert len(r.openai.requests) == 2
        results = [m for m in r.openai.last.body["messages"] if m["role"] == "tool"]
        assert [m["content"] for m in results] == [
            '<tool-output name="note">\n{"noted": "x"}\n</tool-output>',
            '<tool-output name="flaky">\nsteady now\n</tool-output>']
        assert r.attempts(job.id)[0].error == "flaky tool: try again"


async def test_a_crash_after_the_answer_does_not_ask_the_model_again(tmp_path: Path) -> None:
    payload = {"prompt": "hello"}
    store = SqliteStore.open(tmp_path / "steward.db")
    job_id = Engine(store, {}, EngineConfig(data_dir=tmp_path)).submit(
        JobSpec(BackendName.LLM, payload))
    store.claim([job_id], time.time(), time.time() + 900)  # running in a process that died
    answered = Progress(task_key(payload), (Message.user("hello"), Message.assistant("hi!")),
                        turns=1, model=OPENAI, answer="hi!", done=True)
    save(session_dir(tmp_path, job_id), answered, "greeting")
    store.close()
    async with rig(tmp_path) as r:
        job = await r.settled(job_id)
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "hi!"
        assert job.result["turns"] == 1
        assert r.requests() == []
        assert r.attempts(job_id)[0].failure_class is FailureClass.CRASH
