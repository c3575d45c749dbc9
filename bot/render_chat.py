"""Pure rendering of the bot's replies as Telegram HTML: status, jobs, results, notices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.markup import esc
from bot.render import one_line, relative, summary, truncate
from engine.model import JSON, Attempt, Job, JobState

RESULT_CHARS = 3000
"""How much of a result ``/job`` shows; ``steward job show`` has the rest."""
ANSWER_CHARS = 16_000
"""How much of an answer is sent (in parts of at most 4,096 characters)."""
ERROR_CHARS = 300
WHAT_CHARS = 60
FIELD_CHARS = 200

def jobs(found: Sequence[Job], now: float) -> str:
    if not found:
        return "No jobs yet. Ask me something, or /run a task."
    lines = ["<b>Recent jobs</b>"]
    lines += [f"<code>{j.id}</code> {j.state.value} · {esc(truncate(one_line(summary(j)), 50))}"
              f" · {relative(j.created_at, now)}" for j in found]
    lines.append("Details: /job ID")
    return "\n".join(lines)


def job(found: Job, attempts: Sequence[Attempt], now: float) -> str:
    lines = [f"<b>Job {found.id}</b> — {found.state.value.replace('_', ' ')}",
             f"What: {esc(truncate(one_line(summary(found)), FIELD_CHARS))}",
             f"Backend: {found.backend.value}, priority {found.priority}, "
             f"{found.origin.value}, trust {found.trust.value}",
             f"Created {relative(found.created_at, now)}; "
             f"attempts {found.attempts} of {found.max_attempts}"]
    if found.finished_at is not None:
        lines.append(f"Finished {relative(found.finished_at, now)}")
    if found.error:
        lines.append(f"Error: {esc(truncate(one_line(found.error), ERROR_CHARS))}")
    if found.state is JobState.DONE and found.result is not None:
        lines += ["Result:", result(found.result)]
    if found.state in (JobState.FAILED, JobState.DEAD, JobState.CANCELLED):
        lines.append(f"Run it again: /retry {found.id}")
    elif not found.state.terminal:
        lines.append(f"Stop it: /cancel {found.id}")
    if attempts and attempts[-1].error and attempts[-1].error != found.error:
        lines.append(f"Last attempt: {esc(truncate(one_line(attempts[-1].error), ERROR_CHARS))}")
    return "\n".join(lines)


def result(value: JSON, limit: int = RESULT_CHARS) -> str:
    """A job's result for people: its text, a command's output, or key: value lines."""
    if value is None or value == "" or value == {}:
        return "<i>(no output)</i>"
    if isinstance(value, str):
        return esc(truncate(value, limit))
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str) and text.strip():
            return esc(truncate(text, limit))
        if "stdout" in value and "exit_code" in value:
            return _command_output(value, limit)
        return _fields(value)
    if isinstance(value, list):
        return "\n".join(f"• {esc(truncate(one_line(_scalar(v)), FIELD_CHARS))}"
                         for v in value[:20]) + ("\n…" if len(value) > 20 else "")
    return esc(_scalar(value))


def _command_output(value: dict[str, JSON], limit: int) -> str:
    out = str(value.get("stdout") or "").rstrip()
    err = str(value.get("stderr") or "").rstrip()
    parts = [f"exit code {value.get('exit_code')}"]
    if out:
        parts.append(f"<pre>{esc(truncate(out, limit))}</pre>")
    if err:
        parts.append(f"stderr:\n<pre>{esc(truncate(err, limit // 3))}</pre>")
    return "\n".join(parts)


def _fields(value: dict[str, JSON]) -> str:
    lines = [f"{esc(k)}: {esc(truncate(one_line(_scalar(v)), FIELD_CHARS))}"
             for k, v in list(value.items())[:20]]
    return "\n".join(lines) if lines else "<i>(no output)</i>"


def _scalar(value: JSON) -> str:
    """A value in one readable line: nested structures as "a: 1, b: 2" instead of JSON."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value)
    if value is None:
        return "-"
    return str(value)


def answer(payload: Mapping[str, JSON]) -> str:
    """A ``job_finished`` outbox row for its owner: the answer itself, or what went wrong."""
    job_id = payload.get("job_id")
    state = str(payload.get("state", ""))
    if state == JobState.DONE.value:
        return result(payload.get("result"), ANSWER_CHARS)
    error = one_line(str(payload.get("error") or "no reason recorded"))
    name = payload.get("name")
    what = f"Job {job_id}" + (f" ({esc(truncate(str(name), WHAT_CHARS))})" if name else "")
    if state == JobState.CANCELLED.value:
        return f"{what} was cancelled: {esc(truncate(error, ERROR_CHARS))}"
    return (f"{what} {esc(state)}: {esc(truncate(error, ERROR_CHARS))}\n"
            f"Details: /job {job_id} · run it again: /retry {job_id}")


def notice(topic: str, payload: JSON) -> str:
    """Any other outbox row, shown safely: its text, or its fields as readable lines."""
    if isinstance(payload, dict):
        text = payload.get("text")
        if isinstance(text, str) and text.strip():
            return esc(truncate(text, RESULT_CHARS))
        return f"<b>{esc(topic.replace('_', ' '))}</b>\n{_fields(payload)}"
    return f"<b>{esc(topic.replace('_', ' '))}</b>\n{result(payload)}"

