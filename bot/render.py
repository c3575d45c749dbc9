"""Pure text rendering for the command line: tables, relative times, job details, JSON rows."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.markup import esc
from engine.model import JSON, Attempt, BackendName, Job, JobState
from engine.rules.judgment import NotifyRate
from engine.rules.sessions import Session
from engine.store.records import ParentRow
from engine.workers.sessions import WorkerView

WIDTH = 80
GAP = "  "
RESULT_CHARS = 2000


Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``steward doctor``."""

    name: str
    status: Status
    detail: str


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space."""
    return " ".join(text.split())


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with … when cut."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 0 else ""


def compact(value: JSON) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def relative(t: float | None, now: float) -> str:
    """``t`` said relative to ``now``: "3 s ago", "in 2 min", "just now"; "-" when unset."""
    if t is None:
        return "-"
    delta = now - t
    if abs(delta) < 1:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(-delta)}"


def duration(seconds: float) -> str:
    """A length of time for people: "250 ms", "4.2 s", "3 min 5 s", "2 h 10 min"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _numeric(cells: Sequence[str]) -> bool:
    filled = [c for c in cells if c]
    return bool(filled) and all(c.replace("/", "").isdigit() for c in filled)


def _fit(widths: list[int], floors: list[int], limit: int) -> list[int]:
    """Shrink the widest columns, one character at a time, until the table fits ``limit``."""
    widths = list(widths)
    while sum(widths) > limit:
        i = max(range(len(widths)), key=lambda k: (widths[k] > floors[k], widths[k]))
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
    return widths


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH) -> str:
    """Aligned columns that fit ``width``; long cells end in …, numbers align right."""
    cells = [[one_line(c) for c in row] for row in rows]
    columns = list(zip(*cells, strict=True)) if cells else [() for _ in headers]
    natural = [max([len(h), *(len(c) for c in col)]) for h, col in zip(headers, columns,
                                                                         strict=True)]
    floors = [min(n, max(len(h), 3)) for h, n in zip(headers, natural, strict=True)]
    widths = _fit(natural, floors, width - len(GAP) * (len(headers) - 1))
    right = [_numeric(col) for col in columns]

    def line(row: Sequence[str]) -> str:
        parts = [truncate(c, w).rjust(w) if r else truncate(c, w).ljust(w)
                 for c, w, r in zip(row, widths, right, strict=True)]
        return GAP.join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def summary(job: Job) -> str:
    """What a job does, in a few words: its name, command, skill call or payload."""
    payload = job.payload if isinstance(job.payload, dict) else {}
    if job.name:
        return job.name
    if job.backend is BackendName.SHELL and isinstance(payload.get("command"), str):
        return str(payload["command"])
    if job.backend is BackendName.SKILL and isinstance(payload.get("skill"), str):
        return f"{payload['skill']} {compact(payload.get('args', {}))}"
    return compact(job.payload)


def jobs_table(jobs: Sequence[Job], now: float, width: int = WIDTH) -> str:
    if not jobs:
        return "no jobs"
    rows = [[str(j.id), j.state.value, str(j.priority), j.backend.value, summary(j),
             relative(j.created_at, now), f"{j.attempts}/{j.max_attempts}"] for j in jobs]
    return table(["ID", "STATE", "P", "BACKEND", "WHAT", "CREATED", "TRIES"], rows, width)



def checks(results: Sequence[Check]) -> str:
    """The doctor's report: one aligned line per check."""
    name_w = max((len(c.name) for c in results), default=0)
    return "\n".join(f"{c.status:<4}  {c.name:<{name_w}}  {one_line(c.detail)}".rstrip()
                     for c in results)


def _ran(job: Job) -> str:
    if job.started_at is None or job.finished_at is None:
        return ""
    return f" (ran {duration(max(job.finished_at - job.started_at, 0.0))})"


def _needs(parents: Sequence[ParentRow]) -> str:
    return ", ".join(f"job {p.job_id}{f' {p.name!r}' if p.name else ''} ({p.state.value})"
                     for p in parents) or "-"


def _value(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if len(text) > RESULT_CHARS:
        text = f"{text[:RESULT_CHARS]}… ({len(text) - RESULT_CHARS} more characters; use --json)"
    return text.replace("\n", "\n" + " " * 13)


def job_detail(job: Job, attempts: Sequence[Attempt], needs: Sequence[ParentRow],
               needed_by: Sequence[Job], now: float) -> str:
    """Everything about one job: its fields, its dependencies and its attempts."""
    fields = [
        ("what", summary(job)),
        ("backend", f"{job.backend.value}, priority {job.priority}"),
        ("origin", f"{job.origin.value}, trust {job.trust.value}"),
        ("created", relative(job.created_at, now)),
        ("started", relative(job.started_at, now)),
        ("finished", relative(job.finished_at, now) + _ran(job)),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("key", job.idempotency_key or "-"),
        ("needs", _needs(needs)),
        ("needed by", ", ".join(f"job {c.id} ({c.state.value})" for c in needed_by) or "-"),
    ]
    if job.cancel_requested and not job.state.terminal:
        fields.append(("cancel", "requested; the running process will stop it"))
    if job.error:
        failure = f" [{job.failure_class.value}]" if job.failure_class else ""
        fields.append(("error", one_line(job.error) + failure))
    if job.result is not None:
        fields.append(("result", _value(job.result)))
    lines = [f"job {job.id}  {job.state.value}"]
    lines += [f"  {name:<10} {value}" for name, value in fields]
    if attempts:
        lines += ["", attempts_table(attempts, now)]
    return "\n".join(lines)


def attempts_table(attempts: Sequence[Attempt], now: float, width: int = WIDTH) -> str:
    rows = [[str(a.number), a.outcome.value, a.failure_class.value if a.failure_class else "-",
             relative(a.started_at, now), duration(max(a.finished_at - a.started_at, 0.0)),
             a.error or "-"] for a in attempts]
    return table(["#", "OUTCOME", "FAILURE", "STARTED", "TOOK", "ERROR"], rows, width)


def outcome(job: Job) -> str:
    """One line saying how a job ended."""
    if job.error and job.state is not JobState.DONE:
        return f"job {job.id} {job.state.value}: {one_line(job.error)}"
    shown = "" if job.result is None else f": {truncate(compact(job.result), 200)}"
    return f"job {job.id} {job.state.value}{shown}"


def job_json(job: Job) -> dict[str, JSON]:
    """A job as plain JSON for scripts."""
    return dataclasses.asdict(job)


def job_detail_json(job: Job, attempts: Sequence[Attempt], needs: Sequence[ParentRow],
                    needed_by: Sequence[Job]) -> dict[str, JSON]:
    return {**job_json(job),
            "attempt_history": [dataclasses.asdict(a) for a in attempts],
            "needs": [{"job_id": p.job_id, "name": p.name, "state": p.state.value}
                      for p in needs],
            "needed_by": [c.id for c in needed_by]}



def check_json(check: Check) -> dict[str, JSON]:
    return dataclasses.asdict(check)


def status_line(before: Mapping[JobState, int], after: Mapping[JobState, int]) -> str:
    """The periodic line of ``steward run``: what finished since ``before``, what is queued."""
    def grew(*states: JobState) -> int:
        return sum(max(after.get(s, 0) - before.get(s, 0), 0) for s in states)

    def now(state: JobState) -> int:
        return after.get(state, 0)

    return (f"status: {grew(JobState.DONE)} done, {grew(JobState.FAILED, JobState.DEAD)} failed, "
            f"{grew(JobState.CANCELLED)} cancelled since the last line; "
            f"{now(JobState.RUNNING)} running, {now(JobState.READY)} ready, "
            f"{now(JobState.WAITING)} waiting")


def pipeline_queued(ids: Mapping[str, int], answer: str, width: int = WIDTH) -> str:
    """What ``steward pipeline run`` stored: one row per step."""
    rows = [[key, str(job_id), "answer" if key == answer else ""] for key, job_id in ids.items()]
    head = f"pipeline queued: {len(ids)} jobs; the answer is job {ids[answer]}"
    return head + "\n" + table(["STEP", "JOB", ""], rows, width)


# -- workers and sessions (``steward worker``, ``/workers``) ------------------------------------


def _kind(view: WorkerView) -> str:
    return "persistent" if view.worker.persistent else "ephemeral"


def worker_views_table(views: Sequence[WorkerView], now: float, width: int = WIDTH) -> str:
    """``steward worker list``: one row per worker, with its sessions and what it does now."""
    if not views:
        return "no workers"
    rows = [[v.worker.name, v.worker.backend, v.worker.model or "-", _kind(v),
             v.worker.project or "-", str(v.sessions), v.state, f"{v.cost_usd:.2f}",
             relative(v.last_used_at, now)] for v in views]
    return table(["NAME", "BACKEND", "MODEL", "KIND", "PROJECT", "SESSIONS", "STATE", "USD",
                  "USED"], rows, width)


def worker_view_json(view: WorkerView) -> dict[str, JSON]:
    w = view.worker
    return {"name": w.name, "backend": w.backend, "model": w.model, "persona": w.persona,
            "skills": list(w.skills), "persistent": w.persistent, "project": w.project,
            "limits": dataclasses.asdict(w.limits), "sessions": view.sessions,
            "running": view.running, "state": view.state, "cost_usd": round(view.cost_usd, 6),
            "last_used_at": view.last_used_at}


def sessions_table(sessions: Sequence[Session], now: float, width: int = WIDTH) -> str:
    """``steward worker sessions``: explicit ids, size, reuse and age of each session."""
    if not sessions:
        return "no sessions"
    rows = [[s.id, s.worker, s.project or "-", s.state.value, str(s.turns), str(s.reuse_count),
             str(s.size_tokens), relative(s.created_at, now), relative(s.last_used_at, now)]
            for s in sessions]
    return table(["SESSION", "WORKER", "PROJECT", "STATE", "TURNS", "REUSED", "TOKENS",
                  "CREATED", "USED"], rows, width)


def session_json(session: Session) -> dict[str, JSON]:
    return {**dataclasses.asdict(session), "state": session.state.value}


def workers_html(views: Sequence[WorkerView]) -> str:
    """``/workers``: a short Telegram HTML list."""
    if not views:
        return "No workers are configured."
    lines = ["<b>Workers</b>"]
    for v in views:
        model = f", {esc(v.worker.model)}" if v.worker.model else ""
        project = f", project {esc(v.worker.project)}" if v.worker.project else ""
        sessions = f", {v.sessions} session{'s' if v.sessions != 1 else ''}" if v.sessions else ""
        lines.append(f"{esc(v.worker.name)}: {esc(v.worker.backend)}{model}, {_kind(v)}"
                     f"{project}{sessions}, {v.state}")
    return "\n".join(lines)


def notify_rate(today: NotifyRate, week: NotifyRate) -> str:
    """How often background work messaged the owner: the judgment layer's metric (plain text,
    safe as Telegram HTML too)."""
    if not week.results:
        return "Background results: none judged in the last 7 days"
    day = f"{_share(today)} today" if today.results else "none judged today"
    return f"Background results that notified: {_share(week)} in the last 7 days, {day}"


def _share(rate: NotifyRate) -> str:
    return f"{rate.notified} of {rate.results} ({rate.notified / rate.results:.1%})"
