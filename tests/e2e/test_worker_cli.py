"""``steward worker`` against the real process: add, list, sessions, remove, and bad input."""

from __future__ import annotations

from tests.conftest import Steward


def test_add_list_and_remove_a_worker(steward: Steward) -> None:
    added = steward("worker", "add", "site-dev", "--backend", "claude_code", "--model", "opus",
                    "--persona", "Be terse.", "--skills", "Read, Edit", "--project", "site",
                    "--persistent", "--max-tokens", "50000", "--max-age-hours", "12")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "worker site-dev added (claude_code, persistent)\n"

    workers = {w["name"]: w for w in steward.json("worker", "list")}
    assert {"shell", "skill", "claude_code", "codex", "site-dev"} <= set(workers)
    dev = workers["site-dev"]
    assert (dev["backend"], dev["model"], dev["persona"], dev["skills"], dev["project"]) == (
        "claude_code", "opus", "Be terse.", ["Read", "Edit"], "site")
    assert dev["persistent"] is True
    assert dev["limits"] == {"max_tokens": 50000, "max_reuses": 20, "max_age_s": 43200.0}
    assert (dev["sessions"], dev["state"]) == (0, "idle")
    table = steward("worker", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "BACKEND", "MODEL", "KIND", "PROJECT", "SESSIONS",
                                "STATE", "USD", "USED"]
    assert any(line.split()[:5] == ["site-dev", "claude_code", "opus", "persistent", "site"]
               for line in table)
    assert steward("worker", "sessions").stdout == "no sessions\n"
    assert steward.json("worker", "sessions") == []

    again = steward("worker", "add", "site-dev", "--backend", "codex")
    assert again.returncode == 1
    assert "add --replace to change it" in again.stderr

    removed = steward("worker", "remove", "site-dev")
    assert removed.returncode == 0, removed.stderr
    assert "site-dev" not in {w["name"] for w in steward.json("worker", "list")}
    missing = steward("worker", "remove", "site-dev")
    assert missing.returncode == 1
    assert missing.stderr == "steward: there is no worker 'site-dev'\n"


def test_a_configured_default_worker_survives_a_restart(steward: Steward) -> None:
    steward("worker", "list")  # seeds the default rows
    saved = steward("worker", "add", "claude_code", "--backend", "claude_code", "--model",
                    "sonnet", "--replace")
    assert saved.stdout == "worker claude_code saved (claude_code, ephemeral)\n"

    workers = {w["name"]: w for w in steward.json("worker", "list")}
    assert workers["claude_code"]["model"] == "sonnet"
    moved = steward("worker", "add", "claude_code", "--backend", "codex", "--replace")
    assert moved.returncode == 1
    assert "runs claude_code" in moved.stderr


def test_bad_input_is_one_line_and_exit_2(steward: Steward) -> None:
    for args, words in [
        (["worker", "add", "x", "--backend", "nope"], "invalid choice"),
        (["worker", "add", "x"], "--backend"),
        (["worker", "add", "two words", "--backend", "codex"], "one word"),
        (["worker", "add", "x", "--backend", "codex", "--max-tokens", "0"], "at least 1"),
        (["worker", "add", "x", "--backend", "codex", "--max-age-hours", "-1"], "more than 0"),
    ]:
        done = steward(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr
        assert done.stderr.count("\n") == 1
