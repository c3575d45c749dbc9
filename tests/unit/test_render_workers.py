"""Rendering workers and sessions: the CLI table, JSON rows and the /workers message."""

from __future__ import annotations

from bot import render
from engine.rules.sessions import Limits, Session, SessionState
from engine.workers.sessions import WorkerConfig, WorkerView

NOW = 1_000_000.0
VIEWS = [
    WorkerView(WorkerConfig("site-dev", "claude_code", "opus", persistent=True, project="site",
                            limits=Limits(max_tokens=5)), 2, 1, 0.25, NOW - 120),
    WorkerView(WorkerConfig("shell", "shell"), 0, 0, 0.0, None),
]


def test_workers_table() -> None:
    lines = render.worker_views_table(VIEWS, NOW, width=120).splitlines()
    assert lines[0].split() == ["NAME", "BACKEND", "MODEL", "KIND", "PROJECT", "SESSIONS",
                                "STATE", "USD", "USED"]
    assert lines[1].split()[:8] == ["site-dev", "claude_code", "opus", "persistent", "site",
                                    "2", "busy", "0.25"]
    assert lines[2].split()[:7] == ["shell", "shell", "-", "ephemeral", "-", "0", "idle"]
    assert render.worker_views_table([], NOW) == "no workers"


def test_worker_json() -> None:
    row = render.worker_view_json(VIEWS[0])
    assert row["limits"] == {"max_tokens": 5, "max_reuses": 20, "max_age_s": 259200.0}
    assert (row["state"], row["running"], row["sessions"]) == ("busy", 1, 2)


def test_workers_html_is_short_and_escaped() -> None:
    odd = WorkerView(WorkerConfig("<b>x</b>", "codex", "m&m"), 1, 0, 0.0, None)
    text = render.workers_html([VIEWS[0], odd])
    assert text.splitlines() == [
        "<b>Workers</b>",
        "site-dev: claude_code, opus, persistent, project site, 2 sessions, busy",
        "&lt;b&gt;x&lt;/b&gt;: codex, m&amp;m, ephemeral, 1 session, idle"]
    assert render.workers_html([]) == "No workers are configured."


def test_sessions_table_and_json() -> None:
    session = Session("0b7e", "site-dev", "claude_code", "site", "0b7e", SessionState.IDLE,
                      3, 2, 4100, NOW - 3600, NOW - 60)
    lines = render.sessions_table([session], NOW, width=120).splitlines()
    assert lines[1].split()[:7] == ["0b7e", "site-dev", "site", "idle", "3", "2", "4100"]
    assert render.session_json(session)["state"] == "idle"
    assert render.sessions_table([], NOW) == "no sessions"
