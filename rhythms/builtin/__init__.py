"""The built-in rhythms, and a plain one for jobs that run on a schedule (the nightly backup)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.inbox import Inbox
from engine.model import JSON, JobSpec
from rhythms.builtin.briefing import briefing
from rhythms.builtin.checks import health, project_scan
from rhythms.builtin.email import email_triage
from rhythms.builtin.env import Env
from rhythms.builtin.memory import compaction, maintenance
from rhythms.builtin.review import weekly_review
from rhythms.rhythm import Decision, Gather, Rhythm, RunInfo
from rhythms.schedule import Misfire, coalesce
from skills.email_read import ImapConfig


def builtin_rhythms(env: Env, *, imap: ImapConfig | None = None, inbox: Inbox | None = None,
                    can_summarise: bool = False, extra: Sequence[Rhythm] = ()) -> list[Rhythm]:
    """Every built-in rhythm for this process, plus ``extra`` ones (the nightly backup)."""
    return [briefing(env), email_triage(env, imap, inbox), project_scan(env), health(env),
            maintenance(env), weekly_review(env), compaction(env, can_summarise), *extra]


async def _every_slot(run: RunInfo) -> JSON:
    return {"slot": run.slot}


def job_rhythm(name: str, cron: str, spec: JobSpec, about: str, *,
               gather: Gather = _every_slot, misfire: Misfire | None = None) -> Rhythm:
    """A rhythm that submits ``spec`` whenever ``gather``'s facts changed (by default: at
    every slot). The registration point for the nightly backup:
    ``job_rhythm("backup", "30 2 * * *", JobSpec(BackendName.SKILL, {"skill": "backup"}), …)``."""

    async def decide(facts: JSON, previous: JSON, run: RunInfo) -> Decision:
        return Decision(f"{name} is due", jobs=(spec,))

    return Rhythm(name, cron, misfire or coalesce(), about, gather, decide, priority=spec.priority)
