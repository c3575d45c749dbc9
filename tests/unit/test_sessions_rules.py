"""Session routing rules: the routing order, the reuse checks, the latest session."""

from __future__ import annotations

import pytest

from engine.rules.sessions import (
    Choice,
    How,
    Limits,
    Refusal,
    Request,
    Reuse,
    Session,
    SessionState,
    Worker,
    check,
    choose,
    growth,
    latest,
)

NOW = 1_000_000.0
CC = "claude_code"


def session(sid: str = "s1", worker: str = "dev", *, state: SessionState = SessionState.IDLE,
            turns: int = 3, reuses: int = 2, size: int = 1000, age_s: float = 60.0,
            used_s_ago: float = 10.0, project: str | None = None, backend: str = CC,
            external: str | None = "ext") -> Session:
    return Session(sid, worker, backend, project, external, state, turns, reuses, size,
                   NOW - age_s, NOW - used_s_ago)


WORKERS = [
    Worker("general", CC, persistent=True, last_used_at=5.0),
    Worker("spare", CC, persistent=False, last_used_at=9.0),
    Worker("site", CC, persistent=True, project="site"),
    Worker("busy-site", CC, persistent=True, project="api", busy=True),
    Worker("coder", "codex", persistent=True),
]


@pytest.mark.parametrize(("request_", "expected"), [
    (Request(CC, project="site"), Choice(How.PROJECT, "site")),
    (Request(CC), Choice(How.IDLE, "general")),
    (Request(CC, project="elsewhere"), Choice(How.IDLE, "general")),
    (Request(CC, project="api"), Choice(How.IDLE, "general")),
    (Request(CC, worker="spare", project="site"), Choice(How.WORKER, "spare")),
    (Request("codex"), Choice(How.IDLE, "coder")),
])
def test_the_routing_order(request_: Request, expected: Choice) -> None:
    assert choose(request_, WORKERS) == expected


def test_a_new_ephemeral_worker_when_none_is_idle() -> None:
    busy = [Worker("a", CC, busy=True), Worker("b", "codex")]
    assert choose(Request(CC), busy) == Choice(How.NEW, None)


def test_the_explicit_session_comes_first() -> None:
    named = session("s9", worker="site")
    assert choose(Request(CC, worker="general", session="s9"), WORKERS, named) == Choice(
        How.SESSION, "site", named)


@pytest.mark.parametrize(("request_", "named", "busy", "words"), [
    (Request(CC, worker="nobody"), None, False, "no worker 'nobody'"),
    (Request(CC, worker="coder"), None, False, "runs codex"),
    (Request(CC, worker="busy-site"), None, True, "busy"),
    (Request(CC, session="gone"), None, False, "does not exist"),
    (Request(CC, session="s1"), session(state=SessionState.RETIRED), False, "closed"),
    (Request(CC, session="s1"), session(backend="codex"), False, "belongs to codex"),
    (Request(CC, session="s1"), session(state=SessionState.BUSY), True, "busy"),
    (Request(CC, session="s1"), session(worker="busy-site"), True, "busy"),
])
def test_refusals(request_: Request, named: Session | None, busy: bool, words: str) -> None:
    refusal = choose(request_, WORKERS, named)
    assert isinstance(refusal, Refusal)
    assert refusal.busy is busy
    assert words in refusal.reason


LIMITS = Limits(max_tokens=10_000, max_reuses=5, max_age_s=3600.0)


@pytest.mark.parametrize(("candidate", "persistent", "explicit", "action"), [
    (None, True, False, Reuse.NEW),
    (session(), True, False, Reuse.RESUME),
    (session(), False, False, Reuse.NEW),
    (session(), False, True, Reuse.RESUME),
    (session(state=SessionState.BUSY), True, False, Reuse.NEW),
    (session(turns=0), True, False, Reuse.START),
    (session(external=None), True, False, Reuse.START),
    (session(age_s=7200), True, False, Reuse.NEW),
    (session(reuses=5), True, False, Reuse.NEW),
    (session(size=20_000), True, False, Reuse.COMPACT),
    (session(age_s=7200), True, True, Reuse.COMPACT),
    (session(reuses=5), False, True, Reuse.COMPACT),
])
def test_the_reuse_checks(candidate: Session | None, persistent: bool, explicit: bool,
                          action: Reuse) -> None:
    verdict = check(candidate, LIMITS, NOW, persistent=persistent, explicit=explicit)
    assert verdict.action is action
    assert verdict.reason


def test_a_breach_is_explained() -> None:
    assert check(session(size=20_000), LIMITS, NOW, persistent=True).reason == (
        "size 20000 tokens is past 10000")
    assert check(session(age_s=7200), LIMITS, NOW, persistent=True).reason == (
        "age 2.0 h is past 1 h")


def test_latest_is_the_most_recently_used_live_session_of_the_project() -> None:
    sessions = [session("old", used_s_ago=100), session("new", used_s_ago=1),
                session("other", used_s_ago=0, project="site"),
                session("gone", used_s_ago=0, state=SessionState.RETIRED),
                session("theirs", worker="general", used_s_ago=0)]
    found = latest(sessions, "dev", None)
    assert found is not None
    assert found.id == "new"
    assert latest(sessions, "dev", "nowhere") is None


@pytest.mark.parametrize(("args", "tokens"), [((100, 40, 10), 70), ((10, 40, 5), 5),
                                              ((0, 0, 0), 0)])
def test_growth_counts_new_input_and_output(args: tuple[int, int, int], tokens: int) -> None:
    assert growth(*args) == tokens
