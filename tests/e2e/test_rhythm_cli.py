"""``steward rhythm list|run|pause|resume`` as the real command."""

from __future__ import annotations

from tests.conftest import Steward


def test_list_pause_resume_and_run(steward: Steward) -> None:
    rows = {r["name"]: r for r in steward.json("rhythm", "list")}
    assert {"briefing", "health", "memory", "weekly-review", "email-triage"} <= set(rows)
    assert rows["email-triage"]["disabled"] == "IMAP is not configured"
    assert rows["briefing"]["misfire"] == "catch_up_once:7200"
    paused = steward("rhythm", "pause", "health")
    assert paused.returncode == 0
    assert paused.stdout.strip() == "rhythm health: paused"
    assert {r["name"]: r["paused"] for r in steward.json("rhythm", "list")}["health"] is True
    resumed = steward("rhythm", "resume", "health")
    assert resumed.stdout.startswith("rhythm health: next ")
    ran = steward.json("rhythm", "run", "briefing")
    job = steward.job(ran["job"])
    assert job["name"] == "rhythm briefing"
    assert job["state"] == "ready"


def test_bad_names_exit_2_with_one_line(steward: Steward) -> None:
    unknown = steward("rhythm", "run", "nap")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("steward: no rhythm called 'nap'; known: ")
    assert "briefing, compaction, email-triage, health, memory" in unknown.stderr
    off = steward("rhythm", "run", "email-triage")
    assert off.returncode == 2
    assert off.stderr.strip() == ("steward: rhythm email-triage cannot run here: IMAP is not "
                                  "configured")
