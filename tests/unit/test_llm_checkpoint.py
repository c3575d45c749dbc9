"""The llm checkpoint: packing round trips, atomic files, refusal of a stranger's checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from engine.gateway.messages import Image, Message, Text, ToolCall, ToolResult
from engine.workers import llm_checkpoint as cp
from engine.workers.llm_checkpoint import Progress


def sample() -> Progress:
    messages = (
        Message("user", (Text("<recalled-memories>x</recalled-memories>"), Text("what's up?"),
                         Image("image/png", "aGk="))),
        Message("assistant", (Text("let me look"), ToolCall("c1", "news", {"n": 3}),
                              ToolCall("c2", "news", {}, raw_arguments="{oops"))),
        Message.tool_results(ToolResult("c1", "three items"),
                             ToolResult("c2", "bad arguments", is_error=True)),
        Message.assistant("Nothing much."),
    )
    return Progress(cp.task_key({"prompt": "what's up?"}), messages, anchor=0, turns=2,
                    round_start=0, usage={"input_tokens": 120, "output_tokens": 30,
                                          "cached_tokens": 100},
                    cost_usd=0.0123, model="openai/gpt-5-mini", answer="Nothing much.",
                    done=True, verdict={"passed": True, "reasons": "fine",
                                        "checker": "anthropic/x", "judged": True})


def test_pack_and_unpack_are_inverse() -> None:
    progress = sample()
    assert cp.unpack(json.loads(json.dumps(cp.pack(progress)))) == progress


def test_save_then_load_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    folder = cp.session_dir(tmp_path, 7)
    progress = sample()
    cp.save(folder, progress, "news digest")
    assert folder == tmp_path / "sessions" / "job-7"
    assert sorted(p.name for p in folder.iterdir()) == ["progress.json", "progress.md"]
    assert cp.load(folder, progress.task_key) == progress
    cp.save(folder, Progress(progress.task_key, progress.messages[:1]), "news digest")
    reloaded = cp.load(folder, progress.task_key)
    assert reloaded is not None
    assert reloaded.turns == 0


def test_the_markdown_tells_where_the_conversation_is(tmp_path: Path) -> None:
    cp.save(tmp_path, sample(), "news digest")
    text = (tmp_path / "progress.md").read_text()
    assert text.startswith("# news digest\n")
    assert "- stage: done" in text
    assert "- turns: 2" in text
    assert 'calls `news` with {"n": 3}' in text
    assert "## Answer\n\nNothing much." in text


def test_a_checkpoint_of_another_task_or_a_damaged_one_is_not_resumed(tmp_path: Path) -> None:
    cp.save(tmp_path, sample(), "t")
    assert cp.load(tmp_path, cp.task_key({"prompt": "something else"})) is None
    (tmp_path / "progress.json").write_text('{"version": 1, "task_key": ')
    assert cp.load(tmp_path, sample().task_key) is None
    assert cp.load(tmp_path / "missing", sample().task_key) is None


def test_the_task_key_ignores_key_order() -> None:
    assert cp.task_key({"a": 1, "b": [1, 2]}) == cp.task_key({"b": [1, 2], "a": 1})
    assert cp.task_key({"a": 1}) != cp.task_key({"a": 2})
