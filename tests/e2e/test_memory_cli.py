"""``steward memory`` as a user runs it: add, import, search, forget, reindex, core; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Steward

REPO_TEMPLATE = (Path(__file__).resolve().parents[2] / "core_memory.md").read_text()

IMPORT_LINES = [
    '{"id": "home", "text": "Ana lives in Lisbon", "category": "fact", "importance": 0.8}',
    "this line is not JSON",
    '{"text": "Ana moved to Porto in September", "supersedes": "home",'
    ' "created_at": "2026-09-01T10:00:00", "source": "old-assistant"}',
    '{"text": "x", "category": "secret"}',
    '{"text": "The boiler was serviced in June", "category": "episode", "importance": 0.3}',
]


def test_import_then_search(steward: Steward, tmp_path: Path) -> None:
    source = tmp_path / "memories.jsonl"
    source.write_text("\n".join(IMPORT_LINES) + "\n")
    done = steward("memory", "import", str(source))
    assert done.returncode == 2  # some lines were bad; the good ones are in
    assert done.stdout == ("imported 3 of 5 lines: 2 added, 0 already known, 0 merged, "
                           "1 superseding older memories; 2 bad line(s) skipped (listed below)\n")
    assert done.stderr.splitlines() == [
        f"steward: {source}: line 2: not JSON (Expecting value)",
        f"steward: {source}: line 4: unknown category 'secret'; use one of fact, decision, "
        "procedure, entity, episode, preference"]
    found = steward.json("memory", "search", "where does Ana live", "--limit", "3")
    assert found[0]["text"] == "Ana moved to Porto in September"
    assert (found[0]["source"], found[0]["category"]) == ("old-assistant", "fact")
    assert all("Lisbon" not in hit["text"] for hit in found)
    table = steward("memory", "search", "boiler").stdout.splitlines()
    assert table[0].split() == ["ID", "CATEGORY", "CREATED", "SCORE", "TEXT"]
    assert table[1].split()[1] == "episode"
    assert table[1].endswith("The boiler was serviced in June")


def test_add_forget_reindex(steward: Steward) -> None:
    added = steward.json("memory", "add", "Ana prefers green tea in the morning",
                         "--category", "preference", "--importance", "0.8")
    assert added == {"id": 1, "outcome": "added"}
    again = steward("memory", "add", "Ana prefers green tea in the morning.")
    assert (again.returncode, again.stdout) == (0, "already known as memory 1; nothing added\n")
    forgot = steward("memory", "forget", "1")
    assert (forgot.returncode, forgot.stdout) == (
        0, "memory 1 forgotten: it will not be recalled again\n")
    missing = steward("memory", "forget", "999")
    assert (missing.returncode, missing.stderr) == (2, "steward: no memory has id 999\n")
    assert steward.json("memory", "reindex") == {"indexed": 0}


def test_core_show_history_revert(steward: Steward) -> None:
    shown = steward.json("memory", "core")
    assert shown["text"] == REPO_TEMPLATE
    assert (shown["max_lines"], shown["max_chars"]) == (80, 4000)
    core_file = steward.data_dir / "core_memory.md"
    core_file.write_text(REPO_TEMPLATE + "- Ana lives in Porto.\n")  # edited by hand
    text = steward("memory", "core", "show").stdout
    assert text.startswith(REPO_TEMPLATE + "- Ana lives in Porto.\n\n-- 4/80 lines, ")
    history = steward.json("memory", "core", "history")
    assert [(e["id"], e["op"]) for e in history] == [(2, "reconcile"), (1, "seed")]
    table = steward("memory", "core", "history").stdout.splitlines()
    assert table[0].split() == ["EDIT", "WHEN", "OP", "LINES", "BY", "REASON"]
    reverted = steward("memory", "core", "revert", "2")
    assert reverted.returncode == 0
    assert reverted.stdout.startswith("reverted edit 2 (as edit 3); core memory: 3/80 lines")
    assert core_file.read_text() == REPO_TEMPLATE
    assert steward.json("memory", "core", "history", "--limit", "1")[0]["op"] == "revert"


def test_core_refusals_exit_2(steward: Steward) -> None:
    for args, message in [
        (("revert", "99"), "steward: core memory has no edit 99;"),
        (("revert",), "steward: give the edit number with revert only"),
        (("show", "3"), "steward: give the edit number with revert only"),
        (("undo",), "steward: argument show|history|revert: invalid choice"),
    ]:
        done = steward("memory", "core", *args)
        assert (done.returncode, done.stderr.startswith(message)) == (2, True), done.stderr
    steward.data_dir.mkdir(parents=True, exist_ok=True)
    (steward.data_dir / "core_memory.md").write_text("".join(f"{i}\n" for i in range(90)))
    full = steward("memory", "core", "revert", "1")  # back to before the seed: fine, shrinks
    assert full.returncode == 0, full.stderr
    over = steward("memory", "core", "revert", "3")  # the 90 hand-written lines: refused
    assert over.returncode == 2
    assert over.stderr == ("steward: core memory is full (90/80 lines): merge or remove lines "
                           "before adding\n")


def test_bad_input_and_environment(steward: Steward, tmp_path: Path) -> None:
    assert steward("memory", "add", "x", "--importance", "2").returncode == 2
    assert steward("memory", "add", "x", "--category", "secret").returncode == 2
    assert steward("memory", "search", "x", "--limit", "0").returncode == 2
    missing = steward("memory", "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("steward: cannot read ")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    done = steward("memory", "core", STEWARD_DATA_DIR=str(blocked / "data"))
    assert done.returncode == 3
    assert json.dumps(done.stderr).count("\\n") == 1  # one line, no traceback
