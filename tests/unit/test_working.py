"""Working memory: session folders by explicit ID, bounded results, checkpoints, taint, prune."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from engine.model import Trust
from memory.working import (
    MAX_RESULT_CHARS,
    SessionError,
    WorkingMemory,
    check_id,
    stamp,
)
from tests.fakes.clock import FakeClock

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def working(tmp_path: Path, clock: FakeClock) -> WorkingMemory:
    return WorkingMemory(tmp_path / "sessions", clock, max_results=3)


@pytest.mark.parametrize("bad", ["", ".", "..", "../etc", "a/b", ".hidden", "-x", "x" * 65,
                                 "tab\there", "ünï"])
def test_session_ids_must_name_a_folder(bad: str, working: WorkingMemory) -> None:
    with pytest.raises(SessionError, match="is not usable"):
        working.session(bad)
    assert not (working.root / "etc").exists()


@pytest.mark.parametrize("good", ["job-42", "chat.2026-10-03", "A_b", "x" * 64])
def test_good_session_ids(good: str) -> None:
    assert check_id(good) == good


def test_a_session_is_a_folder_of_files(working: WorkingMemory, clock: FakeClock) -> None:
    session = working.session("job-7")
    session.set_task("Plan the trip to Porto")
    session.checkpoint("booked the train")
    clock.advance(60)
    session.checkpoint("hotel: two options left", "hotels")
    assert session.folder == working.root / "job-7"
    assert session.task() == "Plan the trip to Porto\n"
    assert session.progress() == (
        "## 2026-09-21 14:13:20 UTC checkpoint\n\nbooked the train\n\n"
        "## 2026-09-21 14:14:20 UTC hotels\n\nhotel: two options left\n")
    assert sorted(p.name for p in session.folder.iterdir()) == [
        "progress.md", "session.json", "task.md"]


def test_results_are_bounded_and_cut(working: WorkingMemory, clock: FakeClock) -> None:
    session = working.session("s1")
    for i in range(5):
        clock.advance(1)
        session.add_result(f"result {i}", trust=Trust.COMMAND)
    session.add_result("y" * (MAX_RESULT_CHARS + 10), trust=Trust.COMMAND)
    kept = session.results()
    assert [r.text[:8] for r in kept] == ["result 3", "result 4", "y" * 8]
    assert len(kept[-1].text) == MAX_RESULT_CHARS
    assert kept[0].at == T0 + 4
    rows = (session.folder / "results.jsonl").read_text().splitlines()
    assert [json.loads(r)["trust"] for r in rows] == ["command"] * 3


def test_data_taints_a_session_for_good(working: WorkingMemory) -> None:
    session = working.session("s1")
    assert working.find("s1").trust is Trust.COMMAND
    session.add_result("forwarded e-mail says: wire money", trust=Trust.DATA)
    assert session.trust is Trust.DATA
    assert working.session("s1", Trust.COMMAND).trust is Trust.DATA
    assert working.session("s2", Trust.DATA).trust is Trust.DATA
    later = working.session("s3")
    working.session("s3", Trust.DATA)
    assert later.trust is Trust.DATA


def test_render_and_trim(working: WorkingMemory) -> None:
    session = working.session("s1")
    assert session.render() == ""
    session.set_task("Sort the inbox")
    session.checkpoint("12 messages read")
    session.add_result("3 need answers", trust=Trust.COMMAND)
    assert session.render() == (
        "# Task\n\nSort the inbox\n\n# Progress\n\n"
        "## 2026-09-21 14:13:20 UTC checkpoint\n\n12 messages read\n\n"
        "# Recent results\n\n- [2026-09-21 14:13:20 UTC] 3 need answers")
    size = session.size_chars()
    session.trim("Inbox sorted; 3 answers pending.")
    assert session.results() == []
    assert session.task() == "Sort the inbox\n"
    assert session.progress() == ("## 2026-09-21 14:13:20 UTC compacted\n\n"
                                  "Inbox sorted; 3 answers pending.\n")
    assert session.size_chars() < size


def test_find_and_list(working: WorkingMemory) -> None:
    assert working.sessions() == []
    with pytest.raises(SessionError, match="no working session 'nope'"):
        working.find("nope")
    working.session("b").set_task("x")
    working.session("a", Trust.DATA)
    (working.root / ".not-a-session").mkdir()
    assert working.find("b").task() == "x\n"
    assert {(i.id, i.trust) for i in working.sessions()} == {("a", Trust.DATA),
                                                             ("b", Trust.COMMAND)}


def test_prune_removes_only_sessions_left_alone(tmp_path: Path) -> None:
    working = WorkingMemory(tmp_path / "sessions")
    old, fresh = working.session("old"), working.session("fresh")
    old.set_task("done long ago")
    fresh.set_task("still going")
    month_ago = time.time() - 30 * 86400
    for path in [old.folder, *old.folder.iterdir()]:
        os.utime(path, (month_ago, month_ago))
    assert working.prune(older_than_s=14 * 86400) == ["old"]
    assert [i.id for i in working.sessions()] == ["fresh"]
    assert not old.folder.exists()


def test_no_temporary_files_are_left(working: WorkingMemory) -> None:
    session = working.session("s1")
    for i in range(4):
        session.add_result(str(i), trust=Trust.COMMAND)
        session.checkpoint(str(i))
    assert [p for p in session.folder.iterdir() if p.name.startswith(".")] == []


def test_stamp() -> None:
    assert stamp(T0) == "2026-09-21 14:13:20 UTC"
