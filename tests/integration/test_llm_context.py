"""What reaches the model: core memory and recalled memories, the context budget, output schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.model import FailureClass, JobState
from tests.fakes.llm_servers import Call, Reply
from tests.integration.llm_kit import ANTHROPIC, OPENAI, rig, system_text, tool_messages


@dataclass
class Memory:
    """A ``PromptContext`` with fixed contents that records what it was asked."""

    asked: list[tuple[str, int]] = field(default_factory=list)

    def stable_prefix(self) -> str:
        return "- The owner is Ada; she lives in Oslo."

    async def recall(self, query: str, budget_tokens: int) -> str:
        self.asked.append((query, budget_tokens))
        return "- Ada prefers tea to coffee."


async def test_core_memory_is_in_the_cached_prefix_and_recall_leads_the_task(
        tmp_path: Path) -> None:
    memory = Memory()
    async with rig(tmp_path, {"mid": [ANTHROPIC]}, context=memory) as r:
        job = await r.run({"prompt": "what should I brew?", "skills": ["note"],
                           "system": "Answer in one line.", "recall": True})
        assert job.state is JobState.DONE, job.error
        body = r.anthropic.last.body
        prefix, own = body["system"]
        assert "cache_control" in prefix
        assert prefix["text"].index("<core-memory>\n- The owner is Ada") < \
            prefix["text"].index("Tools you may call:\n- note: Keep a note.")
        assert own == {"type": "text", "text": "Answer in one line."}
        recalled, task = body["messages"][0]["content"]
        assert recalled["text"].startswith("<recalled-memories>")
        assert "- Ada prefers tea to coffee." in recalled["text"]
        assert task["text"] == "what should I brew?"
        assert memory.asked == [("what should I brew?", 4000)]


async def test_without_recall_only_core_memory_reaches_the_prompt(tmp_path: Path) -> None:
    memory = Memory()
    async with rig(tmp_path, {"mid": [OPENAI]}, context=memory) as r:
        job = await r.run({"prompt": "summarise this page"})
        assert job.state is JobState.DONE, job.error
        assert "<core-memory>\n- The owner is Ada" in system_text(r.openai.last)
        assert "<recalled-memories>" not in str(r.openai.last.body)
    assert memory.asked == []


async def test_old_tool_output_is_elided_when_the_budget_is_tight(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(*[Reply(calls=(Call("big", {"times": 17}),)) for _ in range(3)],
                      Reply("Read them all."))
        job = await r.run({"prompt": "read three long texts", "skills": ["big"],
                           "budget_tokens": 400})
        assert job.state is JobState.DONE, job.error
        results = [m["content"] for m in tool_messages(r.openai.last)]
        assert len(results) == 3
        assert results[0].startswith("[elided to fit the context budget:")
        assert results[-1].startswith('<tool-output name="big">\nlorem ipsum')
        assert job.result["text"] == "Read them all."


async def test_a_task_too_large_for_its_budget_fails_as_context_loss(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        job = await r.run({"prompt": "word " * 2000, "budget_tokens": 500})
        assert job.state is JobState.FAILED
        assert job.failure_class is FailureClass.CONTEXT_LOSS
        assert job.error is not None
        assert "context budget of 500 tokens" in job.error
        assert r.requests() == []


async def test_an_output_schema_is_asked_for_and_a_wrong_answer_sent_back(
        tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.push(Reply("Oslo, I believe."), Reply('```json\n{"city": "Oslo"}\n```'))
        job = await r.run({"prompt": "where does Ada live?"}, output_schema=schema)
        assert job.state is JobState.DONE, job.error
        assert job.result == {"city": "Oslo"}
        first = r.attempts(job.id)[0]
        assert first.failure_class is FailureClass.OPTIMISTIC_COMPLETION
        assert first.error is not None
        assert "not JSON" in first.error
        assert '"required": ["city"]' in system_text(r.openai.requests[0])
        retry = r.openai.requests[1].body["messages"]
        assert retry[-2] == {"role": "assistant", "content": "Oslo, I believe."}
        assert retry[-1]["role"] == "user"
        assert "Your answer was not accepted: the answer is not JSON" in retry[-1]["content"]
