"""The conversation checkpoint of an ``llm`` job: ``progress.json`` to resume from, ``progress.md``
to read, both in the job's session folder and both replaced atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypedDict

from engine.gateway.messages import Image, Message, Part, Role, Text, ToolCall, ToolResult
from engine.model import JSON

VERSION = 1
SESSIONS_DIR = "sessions"
ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})


class UsageTotals(TypedDict):
    input_tokens: int
    output_tokens: int
    cached_tokens: int


def no_usage() -> UsageTotals:
    return {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a job's conversation got. ``turns`` counts model calls; ``answer`` is set once
    the model answered without calling tools; ``done`` once that answer was accepted."""

    task_key: str
    messages: tuple[Message, ...]
    anchor: int = 0
    """Where in ``messages`` the task is: the one message a budget never drops."""
    turns: int = 0
    round_start: int = 0
    """``turns`` when the current round began: a review sent back starts a new round, and the
    turn limit counts from there."""
    usage: UsageTotals = field(default_factory=no_usage)
    cost_usd: float = 0.0
    model: str | None = None
    answer: str | None = None
    done: bool = False
    verdict: JSON = None
    """The completion gate's last word, for the result and for the owner."""

    def with_message(self, message: Message) -> Progress:
        return replace(self, messages=(*self.messages, message))


def session_dir(data_dir: Path, job_id: int) -> Path:
    return data_dir / SESSIONS_DIR / f"job-{job_id}"


def task_key(payload: JSON) -> str:
    """A fingerprint of what the job asked: a checkpoint is resumed only for the same task."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- packing ------------------------------------------------------------------------------------


def pack_part(part: Part) -> dict[str, JSON]:
    match part:
        case Text(text):
            return {"type": "text", "text": text}
        case Image(media_type, data_b64):
            return {"type": "image", "media_type": media_type, "data_b64": data_b64}
        case ToolCall(call_id, name, arguments, raw):
            return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments,
                    "raw_arguments": raw}
        case ToolResult(call_id, content, is_error):
            return {"type": "tool_result", "call_id": call_id, "content": content,
                    "is_error": is_error}
    raise TypeError(f"not a message part: {part!r}")


def unpack_part(data: dict[str, JSON]) -> Part:
    kind = data["type"]
    if kind == "text":
        return Text(str(data["text"]))
    if kind == "image":
        return Image(str(data["media_type"]), str(data["data_b64"]))
    if kind == "tool_call":
        raw = data.get("raw_arguments")
        return ToolCall(str(data["id"]), str(data["name"]), dict(data["arguments"]),
                        None if raw is None else str(raw))
    if kind == "tool_result":
        return ToolResult(str(data["call_id"]), str(data["content"]), bool(data["is_error"]))
    raise ValueError(f"unknown part type {kind!r}")


def pack_message(message: Message) -> dict[str, JSON]:
    return {"role": message.role, "parts": [pack_part(p) for p in message.parts]}


def unpack_message(data: dict[str, JSON]) -> Message:
    role = data["role"]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    role_: Role = role
    return Message(role_, tuple(unpack_part(p) for p in data["parts"]))


def pack(progress: Progress) -> dict[str, JSON]:
    return {
        "version": VERSION, "task_key": progress.task_key, "anchor": progress.anchor,
        "turns": progress.turns,
        "round_start": progress.round_start, "usage": dict(progress.usage),
        "cost_usd": progress.cost_usd, "model": progress.model, "answer": progress.answer,
        "done": progress.done, "verdict": progress.verdict,
        "messages": [pack_message(m) for m in progress.messages],
    }


def unpack(data: dict[str, JSON]) -> Progress:
    if data.get("version") != VERSION:
        raise ValueError(f"checkpoint version {data.get('version')!r} is not {VERSION}")
    usage = data["usage"]
    return Progress(
        task_key=str(data["task_key"]),
        messages=tuple(unpack_message(m) for m in data["messages"]),
        anchor=int(data["anchor"]), turns=int(data["turns"]), round_start=int(data["round_start"]),
        usage={"input_tokens": int(usage["input_tokens"]),
               "output_tokens": int(usage["output_tokens"]),
               "cached_tokens": int(usage["cached_tokens"])},
        cost_usd=float(data["cost_usd"]), model=data["model"], answer=data["answer"],
        done=bool(data["done"]), verdict=data["verdict"])


# -- files --------------------------------------------------------------------------------------


def save(folder: Path, progress: Progress, title: str) -> None:
    """Write ``progress.json`` and ``progress.md``, each replaced whole (write, fsync, rename):
    a crash leaves the previous checkpoint or the new one, never half of one."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(pack(progress), ensure_ascii=False, indent=1)
    write_atomic(folder / "progress.json", text)
    write_atomic(folder / "progress.md", render_markdown(progress, title))


def load(folder: Path, key: str) -> Progress | None:
    """The checkpoint in ``folder`` if there is a readable one for the task ``key``."""
    try:
        data = json.loads((folder / "progress.json").read_text("utf-8"))
        progress = unpack(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return progress if progress.task_key == key else None


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Stage = Literal["working", "answered", "done"]


def stage(progress: Progress) -> Stage:
    if progress.done:
        return "done"
    return "answered" if progress.answer is not None else "working"


def render_markdown(progress: Progress, title: str) -> str:
    """The checkpoint as a person (or a later compaction) reads it."""
    lines = [f"# {title}", "", f"- stage: {stage(progress)}", f"- turns: {progress.turns}",
             f"- model: {progress.model or 'none yet'}",
             f"- cost: ${progress.cost_usd:.4f}", "", "## Conversation", ""]
    for message in progress.messages:
        for part in message.parts:
            lines.append(f"- **{message.role}**: {_summary(part)}")
    if progress.answer is not None:
        lines += ["", "## Answer", "", progress.answer]
    return "\n".join(lines) + "\n"


def _summary(part: Part, width: int = 300) -> str:
    match part:
        case Text(text):
            body = text
        case Image(media_type, _):
            body = f"[image {media_type}]"
        case ToolCall(_, name, arguments):
            body = f"calls `{name}` with {json.dumps(arguments, ensure_ascii=False)}"
        case ToolResult(_, content, is_error):
            body = ("error: " if is_error else "result: ") + content
    flat = " ".join(body.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
