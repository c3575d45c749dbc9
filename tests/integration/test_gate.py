"""The completion gate through the real engine: a different model checks; it fails closed."""

from __future__ import annotations

from pathlib import Path

from engine.gateway.gate import review
from engine.model import FailureClass, JobState
from tests.fakes.llm_servers import Reply, server_error
from tests.integration.llm_kit import ANTHROPIC, OPENAI, rig

PASS = '{"pass": true, "reasons": "complete and correct"}'
REVIEW = {"tier": "mid", "instructions": "The answer must name the year."}


async def test_an_answer_the_checker_passes_is_done_with_the_verdict(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.reply_text = "It was built in 1889."
        r.anthropic.reply_text = PASS
        job = await r.run({"prompt": "When was the Eiffel tower built?", "review": REVIEW})
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "It was built in 1889."
        assert job.result["model"] == OPENAI
        assert job.result["review"] == {"passed": True, "reasons": "complete and correct",
                                        "checker": ANTHROPIC, "judged": True}
        checked = r.anthropic.last.body
        asked = checked["messages"][0]["content"][0]["text"]
        assert "<answer>\nIt was built in 1889.\n</answer>" in asked
        assert "The answer must name the year." in asked
        assert '"pass"' in checked["system"][0]["text"]


async def test_a_rejected_answer_goes_back_to_the_maker_with_the_reasons(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.push(Reply("It is quite old."), Reply("It was built in 1889."))
        r.anthropic.push(Reply('{"pass": false, "reasons": "the year is missing"}'),
                         Reply(PASS))
        job = await r.run({"prompt": "When was the Eiffel tower built?", "review": REVIEW})
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "It was built in 1889."
        first = r.attempts(job.id)[0]
        assert first.failure_class is FailureClass.OPTIMISTIC_COMPLETION
        assert first.error is not None
        assert "the year is missing" in first.error
        again = r.openai.requests[1].body["messages"]
        assert again[-2] == {"role": "assistant", "content": "It is quite old."}
        assert "the year is missing" in again[-1]["content"]
        assert job.result["turns"] == 2


async def test_an_unreadable_verdict_fails_closed(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.openai.reply_text = "1889."
        r.anthropic.reply_text = "Looks great to me!"
        job = await r.run({"prompt": "When?", "review": REVIEW}, max_attempts=2)
        assert job.state is JobState.FAILED
        assert job.failure_class is FailureClass.OPTIMISTIC_COMPLETION
        assert job.error == ("not checked: the checker's reply was not the required JSON "
                             "verdict")
        assert len(r.openai.requests) == 1, "the answer is kept; only the check is repeated"
        assert len(r.anthropic.requests) == 2


async def test_with_no_other_model_the_gate_stays_shut(tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [OPENAI]}) as r:
        r.openai.reply_text = PASS
        job = await r.run({"prompt": "When?", "review": REVIEW}, max_attempts=2)
        assert job.state is JobState.FAILED
        assert job.error is not None
        assert job.error.startswith("not checked: the checker could not run")
        assert "excluded" in job.error
        assert len(r.openai.requests) == 1


async def test_review_fails_closed_on_an_error_and_passes_on_a_verdict(
        tmp_path: Path) -> None:
    async with rig(tmp_path, {"mid": [ANTHROPIC]}) as r:
        r.anthropic.push(server_error(503))
        down = await review(r.gateway, "1889", "When?", "", "mid", OPENAI)
        assert (down.passed, down.judged) == (False, False)
        assert "could not run" in down.reasons
        r.anthropic.reply_text = PASS
        passed = await review(r.gateway, "1889", "When?", "", "mid", OPENAI)
        assert (passed.passed, passed.judged, passed.checker) == (True, True, ANTHROPIC)
