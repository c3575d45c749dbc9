"""The council through the real engine: members fan out in an allSettled group; a member that
times out is left out and the synthesis still runs on the others."""

from __future__ import annotations

import json
from pathlib import Path

from engine.gateway.council import council_graph
from engine.model import FailureClass, JobState
from engine.pipeline.load import load_text
from tests.fakes.llm_servers import serving, slow
from tests.integration.llm_kit import ANTHROPIC, OPENAI, rig

TIERS = {"mid": [OPENAI], "ultra": [ANTHROPIC], "reasoning": ["openrouter/deep-test"],
         "cheap": [OPENAI]}

COUNCIL_YAML = """
name: council
steps:
  - name: first
    backend: llm
    payload: {prompt: "Tea or coffee?", tier: ultra}
    timeout_s: 0.5
    max_attempts: 1
  - name: second
    backend: llm
    payload: {prompt: "Tea or coffee?", tier: reasoning}
    timeout_s: 0.5
    max_attempts: 1
  - name: answers
    group: allSettled
    of: [first, second]
  - name: synthesis
    backend: llm
    needs: [answers]
    payload:
      tier: mid
      prompt: |
        Weigh these answers to "Tea or coffee?" and give the best one.
        <answers>
        {{all_results}}
        </answers>
"""


async def test_a_member_that_times_out_is_left_out_of_the_synthesis(tmp_path: Path) -> None:
    async with serving() as router, rig(tmp_path, TIERS, extra=[("openrouter", router)]) as r:
        r.anthropic.reply_text = "Tea: calmer."
        router.push(slow(10.0))
        ids = r.engine.submit_graph(council_graph("Tea or coffee?", ["ultra", "reasoning"],
                                                  timeout_s=0.5))
        synthesis = await r.settled(ids["synthesis"])
        assert synthesis.state is JobState.DONE, synthesis.error
        late = r.store.get_job(ids["member1"])
        assert late.state is JobState.FAILED
        assert late.failure_class is FailureClass.TIMEOUT
        outcomes = r.store.get_job(ids["answers"]).result
        assert [o["status"] for o in outcomes] == ["fulfilled", "rejected"]
        assert outcomes[0]["value"]["text"] == "Tea: calmer."
        asked = r.openai.last.body["messages"][-1]["content"]
        assert "<question>\nTea or coffee?\n</question>" in asked
        assert '"text": "Tea: calmer."' in asked
        assert "timed out after 0.5 s" in asked
        assert synthesis.result["text"].startswith("echo: Several models answered")


async def test_the_council_written_as_a_pipeline_file(tmp_path: Path) -> None:
    async with serving() as router, rig(tmp_path, TIERS, extra=[("openrouter", router)]) as r:
        r.anthropic.reply_text = "Tea."
        router.reply_text = "Coffee."
        ids = r.engine.submit_graph(load_text(COUNCIL_YAML, "yaml"))
        synthesis = await r.settled(ids["synthesis"])
        assert synthesis.state is JobState.DONE, synthesis.error
        asked = r.openai.last.body["messages"][-1]["content"]
        answers = json.loads(asked.split("<answers>\n", 1)[1].split("\n</answers>", 1)[0])
        assert [a["value"]["text"] for a in answers] == ["Tea.", "Coffee."]
